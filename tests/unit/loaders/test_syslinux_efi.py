"""isodrop.loaders.syslinux_efi: the UEFI SYSLINUX menu, with paths relative to the TFTP root."""

from __future__ import annotations

import dataclasses
from pathlib import PurePosixPath

from isodrop.render.menu import build_menu
from tests.harness.menu_entries import BIOS_MENU, CONFIG, EFI_MENU, render_menus, served


def test_efi_menu_uses_root_relative_paths_and_no_localboot() -> None:
    menu = build_menu([served("alpha", "Alpha")], dataclasses.replace(CONFIG, menu_default="first"))
    text = render_menus(menu, None)[EFI_MENU]
    assert PurePosixPath("efi64/pxelinux.cfg/default") == EFI_MENU
    assert "  LINUX ::isodrop/alpha/live/vmlinuz\n" in text
    assert "::isodrop/alpha/live/initrd.img,::isodrop/alpha/live/extra.img" in text
    assert "LOCALBOOT" not in text and "DEFAULT iso-alpha" in text and "MENU DEFAULT" in text


def test_bios_only_entries_stay_out_of_the_uefi_menu() -> None:
    bios_only = served("mt32", "Memtest86+ (32-bit)")
    bios_only = dataclasses.replace(bios_only, entry=dataclasses.replace(bios_only.entry, firmware=("bios",)))
    menus = render_menus(build_menu([bios_only, served("alpha", "Alpha")], CONFIG), None)
    assert "LABEL iso-mt32" in menus[BIOS_MENU] and "LABEL iso-alpha" in menus[BIOS_MENU]
    assert "LABEL iso-mt32" not in menus[EFI_MENU] and "LABEL iso-alpha" in menus[EFI_MENU]
