"""Served entries and the config the menu, loader and publication unit tests build menus from, and the SYSLINUX
menus rendered from them."""

from __future__ import annotations

import dataclasses
from pathlib import Path, PurePosixPath

from isodrop.config import local_defaults
from isodrop.loaders.pxelinux import Pxelinux
from isodrop.loaders.syslinux_efi import SyslinuxEfi
from isodrop.model import BootEntry
from isodrop.render.menu import Menu, Served

BIOS_MENU = Pxelinux.menu_path


EFI_MENU = SyslinuxEfi.menu_path


def render_menus(menu: Menu, templates_dir: Path | None) -> dict[PurePosixPath, str]:
    return Pxelinux(templates_dir).render(menu) | SyslinuxEfi(templates_dir).render(menu)


def served(slug: str, label: str, family: str = "debian-live", position: int = 0, guessed: bool = False) -> Served:
    entry = BootEntry(
        family=family,
        label=label,
        kernel="live/vmlinuz",
        initrds=("live/initrd.img", "live/extra.img"),
        params=("boot=live", "netboot=nfs", f"nfsroot=10.0.0.1:/srv/tftp/isodrop/{slug}", "ip=dhcp"),
        menu_group=family.title(),
        guessed=guessed,
    )
    return Served(slug=slug, source=f"{slug}.iso", tftp_path=f"isodrop/{slug}", entry=entry, position=position)


CONFIG = dataclasses.replace(local_defaults(Path("/tmp/t")), serial_console="ttyS0,115200", menu_timeout=50)
