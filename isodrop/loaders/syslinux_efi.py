"""syslinux.efi for x86-64 UEFI clients (Debian packages syslinux-efi and syslinux-common).

It lives in `efi64/` with its own modules and menu, and resolves relative paths against its own
folder, so kernel and initrd paths get the `::` prefix (relative to the TFTP root).
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from isodrop.config import Config
from isodrop.loaders.syslinux import MODULES, SyslinuxFamily

EFI_DIR = PurePosixPath("efi64")


class SyslinuxEfi(SyslinuxFamily):
    name = "syslinux-efi"
    firmware = "efi64"
    template = "syslinux-efi.cfg.j2"
    menu_path = EFI_DIR / "pxelinux.cfg/default"
    path_prefix = "::"

    def files(self, config: Config) -> dict[PurePosixPath, Path]:
        wanted = {EFI_DIR / "syslinux.efi": config.syslinux_efi_file}
        wanted[EFI_DIR / "ldlinux.e64"] = config.syslinux_efi64_modules / "ldlinux.e64"
        wanted |= {EFI_DIR / m: config.syslinux_efi64_modules / m for m in MODULES if m != "ldlinux.c32"}
        return wanted
