"""Boot loaders, one module each; LOADERS by config name, `active_loaders` for a config.

To add one: subclass `Loader` (isodrop/loaders/base.py) in a module here, ship its template in
isodrop/templates/, and list it in LOADERS.
"""

from __future__ import annotations

from isodrop.config import Config
from isodrop.loaders.base import Loader
from isodrop.loaders.grub import GrubLoader
from isodrop.loaders.pxelinux import Pxelinux
from isodrop.loaders.syslinux_efi import SyslinuxEfi

LOADERS: dict[str, type[Loader]] = {cls.name: cls for cls in (GrubLoader, Pxelinux, SyslinuxEfi)}

# What every config serves today, in the order the menus are written: the BIOS menu last, so a reader
# that waits for it finds every menu current. (A config key choosing loaders per firmware goes here.)
ENABLED = ("syslinux-efi", "pxelinux")


def active_loaders(config: Config) -> list[Loader]:
    """The loaders this config serves menus for, in the order their menus are written. syslinux.efi's
    menu stays written when uefi_loader picks GRUB (dnsmasq may still point at it)."""
    names = (("grub",) if config.uefi_loader == "grub" else ()) + ENABLED
    return [LOADERS[name](config.templates_dir) for name in names]


__all__ = ["LOADERS", "Loader", "active_loaders"]
