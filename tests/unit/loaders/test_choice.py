"""isodrop.loaders.choice: the fixed boot file names dnsmasq hands out carry the loaders the config chooses
(bios_loader, uefi_loader), which are validated."""

from __future__ import annotations

import dataclasses
from pathlib import Path, PurePosixPath

import pytest

from isodrop.config import ConfigError, from_mapping, local_defaults
from isodrop.loaders import active_loaders, loader_files
from isodrop.loaders.choice import BIOS_BOOT_FILE, IPXE_SCRIPT, UEFI_BOOT_FILE, chosen_files

BASE = dataclasses.replace(local_defaults(Path("/nonexistent")), uefi_loader="syslinux-efi")  # pxelinux for BIOS
CONFIG = dataclasses.replace(BASE, bios_loader="ipxe", uefi_loader="ipxe")


def test_fixed_boot_file_names_follow_the_config() -> None:
    assert loader_files(BASE)[BIOS_BOOT_FILE] == BASE.pxelinux_file
    assert loader_files(BASE)[UEFI_BOOT_FILE] == BASE.syslinux_efi_file
    assert PurePosixPath("undionly.kpxe") not in loader_files(BASE), "no ipxe package needed unless chosen"
    files = loader_files(CONFIG)
    assert files[BIOS_BOOT_FILE] == Path("/usr/lib/ipxe/undionly.kpxe")
    assert files[UEFI_BOOT_FILE] == Path("/usr/lib/ipxe/snponly.efi")
    assert files[PurePosixPath("ipxe/ipxe.efi")] == Path("/usr/lib/ipxe/ipxe.efi")
    assert [loader.name for loader in active_loaders(CONFIG)][0] == "ipxe"


def test_loader_keys_are_validated() -> None:
    assert from_mapping({"bios_loader": "ipxe", "uefi_loader": "grub"}, BASE, "t").uefi_loader == "grub"
    with pytest.raises(ConfigError, match="^t: key 'bios_loader': must be one of 'pxelinux', 'ipxe', got 'grub'$"):
        active_loaders(from_mapping({"bios_loader": "grub"}, BASE, "t"))
    with pytest.raises(ConfigError, match="uefi_loader"):
        active_loaders(from_mapping({"uefi_loader": "pxelinux"}, BASE, "t"))


def test_grub_leaves_the_uefi_name_to_its_own_loader_and_ipxe_binaries_come_only_when_chosen() -> None:
    grub = chosen_files(dataclasses.replace(BASE, uefi_loader="grub"))
    assert UEFI_BOOT_FILE not in grub  # shim goes there, installed by the GRUB loader itself
    assert set(grub) == {BIOS_BOOT_FILE} and grub[BIOS_BOOT_FILE] == BASE.pxelinux_file
    ipxe_everywhere = chosen_files(CONFIG)
    assert ipxe_everywhere[BIOS_BOOT_FILE] == ipxe_everywhere[PurePosixPath("undionly.kpxe")]
    assert ipxe_everywhere[UEFI_BOOT_FILE] == ipxe_everywhere[IPXE_SCRIPT.parent / "snponly.efi"]
