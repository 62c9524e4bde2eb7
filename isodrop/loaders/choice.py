"""Which loader each firmware gets, and the fixed boot file names dnsmasq hands out.

The dnsmasq snippets never name a loader: they hand BIOS clients `bios.0`, x86-64 UEFI clients
`efi64/bootx64.efi` and any iPXE (DHCP user class "iPXE") `ipxe/menu.ipxe`. isodrop copies the loader
the config chooses (`bios_loader`, `uefi_loader`) to those names, so changing the config needs no
dnsmasq edit, and a PC whose network ROM is iPXE already is led from the script to the chosen loader.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from isodrop.config import Config
from isodrop.errors import ConfigError

BIOS_BOOT_FILE = PurePosixPath("bios.0")
UEFI_BOOT_FILE = PurePosixPath("efi64/bootx64.efi")
IPXE_SCRIPT = PurePosixPath("ipxe/menu.ipxe")

BIOS_LOADERS = ("pxelinux", "ipxe")  # bios_loader's names
UEFI_LOADERS = ("grub", "syslinux-efi", "ipxe")  # uefi_loader's names


def check_choice(config: Config) -> None:
    """ConfigError naming the key when bios_loader or uefi_loader names no loader for that firmware."""
    for key, chosen, names in (
        ("bios_loader", config.bios_loader, BIOS_LOADERS),
        ("uefi_loader", config.uefi_loader, UEFI_LOADERS),
    ):
        if chosen not in names:
            known = ", ".join(repr(name) for name in names)
            raise ConfigError.for_key(config.source, key, f"must be one of {known}, got {chosen!r}")


def chosen_files(config: Config) -> dict[PurePosixPath, Path]:
    """Every loader file the config needs, by destination relative to tftp_root: the iPXE binaries
    (when iPXE is chosen for a firmware) and the chosen loaders under the fixed names (a source may
    appear under several names)."""
    ipxe = config.ipxe_dir
    wanted: dict[PurePosixPath, Path] = {}
    if "ipxe" in (config.bios_loader, config.uefi_loader):  # else the ipxe package need not be installed
        wanted = {
            PurePosixPath("undionly.kpxe"): ipxe / "undionly.kpxe",
            IPXE_SCRIPT.parent / "snponly.efi": ipxe / "snponly.efi",
            IPXE_SCRIPT.parent / "ipxe.efi": ipxe / "ipxe.efi",
        }
    wanted[BIOS_BOOT_FILE] = config.pxelinux_file if config.bios_loader == "pxelinux" else ipxe / "undionly.kpxe"
    if config.uefi_loader == "ipxe":
        wanted[UEFI_BOOT_FILE] = ipxe / "snponly.efi"
    elif config.uefi_loader == "syslinux-efi":
        wanted[UEFI_BOOT_FILE] = config.syslinux_efi_file
    # "grub": isodrop/loaders/grub.py installs shim as efi64/bootx64.efi and GRUB beside it.
    return wanted
