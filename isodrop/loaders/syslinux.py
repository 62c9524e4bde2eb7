"""The SYSLINUX project's network loaders: pxelinux.0 (BIOS) and syslinux.efi (x86-64 UEFI).

Both read the same menu language (LABEL / LINUX / INITRD / APPEND, vesamenu.c32 as UI) and need
the same COM32 modules, built once per firmware; they differ in firmware, files and path prefix.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import PurePosixPath

from isodrop.limits import LINE_MAX
from isodrop.loaders.base import Loader, sections
from isodrop.model import printable
from isodrop.pins import LOADER_KINDS, NETWORK, Target
from isodrop.render.menu import LOCAL, Menu, MenuItem

MODULES = ("ldlinux.c32", "vesamenu.c32", "menu.c32", "libcom32.c32", "libutil.c32")


@dataclass(frozen=True, slots=True)
class SyslinuxEntry:
    """One menu item as a SYSLINUX menu writes it: title made one printable line, paths prefixed."""

    name: str
    title: str
    kernel: str
    initrd: str  # comma-separated, as INITRD takes them; "" for none
    append: str
    guessed: bool
    family: str
    is_default: bool


class SyslinuxFamily(Loader):
    """What pxelinux and syslinux.efi share: the menu language and its quoting."""

    menu_path: PurePosixPath  # the menu file it reads, relative to tftp_root
    path_prefix: str  # prepended to kernel and initrd paths
    max_line = LINE_MAX["syslinux"]  # it reads its config through a 4096-byte line buffer

    def render(self, menu: Menu) -> dict[PurePosixPath, str]:
        """The menu; its default is local boot when the default ISO is not shown for this firmware.
        syslinux.efi cannot boot the local disk, and its menu would boot the first entry (which
        sidecars' `position` decides) at the timeout: so with local boot as default it waits."""
        shown = sections(menu, self.firmware, self.entry, printable)
        default = next((entry.name for section in shown for entry in section.entries if entry.is_default), LOCAL)
        waits = default == LOCAL and self.firmware != "bios"
        return {
            self.menu_path: self.render_template(
                menu=menu,
                path_prefix=self.path_prefix,
                sections=shown,
                default_label=default,
                timeout=0 if waits else menu.timeout,
            )
        }

    def client_paths(self, path: PurePosixPath, key: Target) -> tuple[PurePosixPath, ...]:
        """What pxelinux and syslinux.efi try before pxelinux.cfg/default, as dnsmasq's log shows:
        01-<mac>, then the client's IPv4 address in upper-case hex, one digit shorter each time
        (C0A80A05, C0A80A0, ..., C). A network is the files of its addresses' common hex prefix."""
        if path != self.menu_path or key.kind not in LOADER_KINDS[self.name]:
            return ()
        if key.kind == NETWORK:
            return tuple(path.parent / name for name in hex_prefixes(key.network))
        return (path.parent / key.file_id,)

    def client_globs(self) -> tuple[str, ...]:
        return (str(self.menu_path.parent / "01-*"), str(self.menu_path.parent / "[0-9A-F]*"))

    def entry(self, item: MenuItem, index: int) -> SyslinuxEntry:
        prefix = self.path_prefix
        return SyslinuxEntry(
            name=item.name,
            title=printable(item.title),
            kernel=prefix + item.kernel,
            initrd=",".join(prefix + initrd for initrd in item.initrds),
            append=item.append,
            guessed=item.guessed,
            family=item.family,
            is_default=item.is_default,
        )

    @staticmethod
    def quote(text: str) -> str:
        """SYSLINUX has no quoting: a line ends the directive, so text is made one printable line."""
        return printable(text)


def hex_prefixes(network: ipaddress.IPv4Network) -> list[str]:
    """The pxelinux.cfg file names (hex IP prefixes) that together match exactly `network`'s addresses:
    its prefix rounded up to whole hex digits (4 bits), so a /24 is one name (C0A80A) and a /23 two
    (C0A80A, C0A80B). A prefix shorter than 4 bits still needs one digit (pxelinux never tries "")."""
    digits = max(1, -(-network.prefixlen // 4))
    subnets = network.subnets(new_prefix=digits * 4) if digits * 4 > network.prefixlen else [network]
    return [f"{int(net.network_address) >> (32 - digits * 4):0{digits}X}" for net in subnets]
