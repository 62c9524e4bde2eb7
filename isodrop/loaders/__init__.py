"""Boot loaders, one module each; LOADERS by config name, `active_loaders` for a config (which also
checks the config's loader names).

To add one: subclass `Loader` (isodrop/loaders/base.py) in a module here, ship its template in
isodrop/templates/, and list it in LOADERS.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from isodrop.config import Config
from isodrop.loaders.base import Loader
from isodrop.loaders.choice import check_choice, chosen_files
from isodrop.loaders.grub import GrubLoader
from isodrop.loaders.ipxe import IpxeLoader
from isodrop.loaders.pxelinux import Pxelinux
from isodrop.loaders.syslinux_efi import SyslinuxEfi

LOADERS: dict[str, type[Loader]] = {cls.name: cls for cls in (GrubLoader, IpxeLoader, Pxelinux, SyslinuxEfi)}

# Every config serves all of these menus, in this order: the BIOS pxelinux menu last, so a reader that
# waits for it finds every menu current. iPXE's script is always there because dnsmasq hands it to
# every iPXE client (it chains the chosen loader when that is not iPXE); bios_loader / uefi_loader pick
# what bios.0 and efi64/bootx64.efi are (isodrop/loaders/choice.py), and pxelinux.0 / efi64/syslinux.efi
# stay for dnsmasq configurations that name them.
ENABLED = ("ipxe", "syslinux-efi", "pxelinux")


def active_loaders(config: Config) -> list[Loader]:
    """The loaders this config serves menus for, in the order their menus are written. syslinux.efi's
    menu stays written when uefi_loader picks GRUB (dnsmasq may still point at it). ConfigError naming
    the key when bios_loader or uefi_loader names no loader."""
    check_choice(config)
    names = ENABLED[:1] + (("grub",) if config.uefi_loader == "grub" else ()) + ENABLED[1:]
    return [LOADERS[name].for_config(config) for name in names]


def loader_files(config: Config) -> dict[PurePosixPath, Path]:
    """Every file to copy into the TFTP root: each active loader's, and the fixed boot file names."""
    wanted = {dest: src for loader in active_loaders(config) for dest, src in loader.files(config).items()}
    return wanted | chosen_files(config)


__all__ = ["LOADERS", "Loader", "active_loaders", "loader_files"]
