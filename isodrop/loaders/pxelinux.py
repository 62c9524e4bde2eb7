"""pxelinux.0 for BIOS clients (Debian packages pxelinux and syslinux-common)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from isodrop.config import Config
from isodrop.loaders.syslinux import MODULES, SyslinuxFamily


class Pxelinux(SyslinuxFamily):
    name = "pxelinux"
    firmware = "bios"
    template = "pxelinux.cfg.j2"
    menu_path = PurePosixPath("pxelinux.cfg/default")
    path_prefix = ""  # paths are relative to the TFTP root, where pxelinux.0 lies

    def files(self, config: Config) -> dict[PurePosixPath, Path]:
        wanted = {PurePosixPath("pxelinux.0"): config.pxelinux_file}
        wanted |= {PurePosixPath(m): config.syslinux_bios_modules / m for m in MODULES}
        return wanted
