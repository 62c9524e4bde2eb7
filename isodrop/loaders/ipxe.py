"""iPXE (Debian's `ipxe` package): undionly.kpxe for BIOS, snponly.efi / ipxe.efi for x86-64 UEFI.

iPXE fetches kernel and initrd over HTTP when `http_url` is set (falling back to TFTP, per file, when
the HTTP fetch fails: web server stopped or file missing), and offers every entry by a key.

Files in the TFTP root:
  undionly.kpxe, ipxe/snponly.efi, ipxe/ipxe.efi   the loaders (bios.0 / efi64/bootx64.efi when chosen)
  ipxe/menu.ipxe          what dnsmasq hands every iPXE client: chains the script for its platform
  ipxe/menu-pcbios.ipxe   BIOS: the menu, or a chain to pxelinux when bios_loader is "pxelinux"
  ipxe/menu-efi.ipxe      UEFI: the menu, or a chain to efi64/bootx64.efi when uefi_loader is "syslinux-efi"
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import ClassVar

from isodrop.config import Config
from isodrop.limits import LINE_MAX
from isodrop.loaders.base import Loader, not_an_option, sections, with_dispatch
from isodrop.loaders.choice import IPXE_SCRIPT, UEFI_BOOT_FILE, chosen_files
from isodrop.pins import HOSTNAME, LOADER_KINDS, MAC, Target
from isodrop.render.menu import LOCAL, Menu, MenuItem

SCRIPT_DIR = IPXE_SCRIPT.parent
CLIENTS = SCRIPT_DIR / "clients"  # per-PC scripts (isodrop.pins), the platform scripts branch to them
PLATFORM_SCRIPTS = {"bios": SCRIPT_DIR / "menu-pcbios.ipxe", "efi64": SCRIPT_DIR / "menu-efi.ipxe"}
# Keys a person presses to pick an entry; "l" is local boot, "b" goes back from a submenu.
ENTRY_KEYS = "123456789acdefghijkmnopqrstuvwxyz"
# What an iPXE client (a NIC ROM that is iPXE) chains under UEFI when uefi_loader is not "ipxe". For
# "grub" nothing: iPXE's own menu. shim refuses the GRUB it fetches through iPXE's PXE base code
# ("Malformed binary"), and GRUB chained straight from iPXE finds no config (it stops at `grub>`: seen in
# the Debian server VM test). An iPXE ROM is unsigned, so such a client has Secure Boot off anyway.
EFI_CHAIN = {"ipxe": "", "grub": ""}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_TERMINATORS = {"||": "|", "&&": "&", ";": ","}
_MAY_CHANGE = re.compile(r"\$\{|#|;|\|\||&&|  ")  # what IpxeLoader.quote may have to rewrite
_URL_SAFE = re.compile(r"[A-Za-z0-9_.~:/%-]*")  # what urllib.parse.quote(safe=":/%") leaves as it is


@dataclass(frozen=True, slots=True)
class IpxeInitrd:
    name: str  # what `initrd --name` calls it (initrd0, initrd1, ...): the kernel's EFI stub asks by name
    tftp: str  # percent-encoded path on the TFTP server
    http: str  # percent-encoded URL, "" without HTTP


@dataclass(frozen=True, slots=True)
class IpxeEntry:
    """One menu item in an iPXE script for one platform: text made inert, paths percent-encoded."""

    name: str
    title: str
    key: str  # the key that picks it in its (sub)menu, "" for none
    is_default: bool
    kernel: str  # percent-encoded path on the TFTP server
    kernel_http: str  # percent-encoded URL, "" without HTTP
    cmdline: str
    initrds: tuple[IpxeInitrd, ...]


class IpxeLoader(Loader):
    name: ClassVar[str] = "ipxe"
    firmware: ClassVar[str] = "bios"  # it also serves efi64: see render()
    template: ClassVar[str] = "menu.ipxe.j2"
    max_line: ClassVar[int] = LINE_MAX["ipxe"]
    continuation: ClassVar[str] = "\\"  # process_script joins a line ending in a backslash with the next

    def __init__(self, templates_dir: Path | None = None, bios_chain: str = "", efi_chain: str = "") -> None:
        """`bios_chain` / `efi_chain`: the loader to chain on that platform instead of showing the iPXE
        menu ("" = show it), e.g. "/pxelinux.0"; `for_config` derives them from bios_loader/uefi_loader."""
        super().__init__(templates_dir)
        self.chain = {"bios": bios_chain, "efi64": efi_chain}

    @classmethod
    def for_config(cls, config: Config) -> IpxeLoader:
        return cls(
            config.templates_dir,
            bios_chain="" if config.bios_loader == "ipxe" else "/pxelinux.0",
            efi_chain=EFI_CHAIN.get(config.uefi_loader, f"/{UEFI_BOOT_FILE}"),
        )

    def files(self, config: Config) -> dict[PurePosixPath, Path]:
        return {rel: src for rel, src in chosen_files(config).items() if src.parent == config.ipxe_dir}

    def render(self, menu: Menu) -> dict[PurePosixPath, str]:
        """The per-platform scripts first, the entry script (what clients load first) last."""
        out = {}
        for firmware, path in PLATFORM_SCRIPTS.items():
            chain = self.chain[firmware]  # then the script only hands over: no entries to make
            shown = (
                () if chain else sections(menu, firmware, lambda i, n, fw=firmware: self.entry(i, n, fw), self.quote)
            )
            visible = [i for i in (*menu.items, *(i for g in menu.groups for i in g.items)) if firmware in i.firmware]
            default_entry = next((e for s in shown for e in s.entries if e.is_default), None)
            out[path] = self.render_template(
                menu=menu,
                # the default's label on this platform: local boot when the default ISO is not shown here
                default_label=f"entry-{default_entry.name}" if default_entry else LOCAL,
                platform=firmware,
                chain=chain,
                sections=shown,
                default_entry=default_entry,
                group_key=lambda section: _key(section.number - 1),
                # what templates written for isodrop 0.1 use:
                visible=visible,
                groups=[
                    (g, members) for g in menu.groups if (members := [i for i in g.items if firmware in i.firmware])
                ],
                keys=_keys(menu, firmware),
                cmdline=lambda item, fw=firmware: _cmdline(item, fw),
                q=self.quote,
                url=_url,
                timeout_ms=menu.timeout * 100,
            )
            if not chain:  # a chained loader finds its own per-PC file (pxelinux.cfg/01-<mac>)
                branches = [line for key in menu.clients for line in self.dispatch(key, path)]
                if branches:  # checked again: the branch lines join the checked menu
                    out[path] = self.checked(with_dispatch(out[path], branches))
        out[IPXE_SCRIPT] = (
            "#!ipxe\n# Generated by isodrop: hands each platform its own script (${platform}: pcbios or efi).\n"
            "chain --autofree menu-${platform}.ipxe || shell\n"
        )
        return out

    def dispatch(self, key: Target, path: PurePosixPath) -> list[str]:
        """The line that hands the PCs of `key` their own script (none for a network: iPXE's script
        compares strings only, `iseq`). ${mac} is the MAC of the interface iPXE booted from (lower case,
        colons), ${hostname} the host name the DHCP server gave it (option 12); host names are checked
        to be letters, digits, "-" and "." (isodrop.pins), so they need no quoting here. A script that
        cannot be fetched leaves this menu going on. Given in precedence order (menu.clients)."""
        setting = {MAC: "${mac}", HOSTNAME: "${hostname}"}
        return [
            f"iseq {setting[key.kind]} {key.value} && chain --autofree {script.relative_to(SCRIPT_DIR)} ||"
            for script in self.client_paths(path, key)
        ]

    def client_globs(self) -> tuple[str, ...]:
        return (str(CLIENTS / "*.ipxe"),)

    def client_paths(self, path: PurePosixPath, key: Target) -> tuple[PurePosixPath, ...]:
        """ipxe/clients/<id>-pcbios.ipxe and -efi.ipxe, for platforms that show iPXE's own menu."""
        if key.kind not in LOADER_KINDS[self.name]:
            return ()
        return tuple(
            CLIENTS / f"{key.file_id}-{script.stem.removeprefix('menu-')}.ipxe"
            for firmware, script in PLATFORM_SCRIPTS.items()
            if path == script and not self.chain[firmware]
        )

    def entry(self, item: MenuItem, index: int, firmware: str) -> IpxeEntry:
        http = item.initrd_urls
        return IpxeEntry(
            name=item.name,
            title=_inert(item.title),
            key=_key(index),
            is_default=item.is_default,
            kernel=_url("/" + item.kernel),
            kernel_http=_url(item.kernel_url) if item.kernel_url else "",
            cmdline=_cmdline(item, firmware),
            initrds=tuple(
                IpxeInitrd(f"initrd{n}", _url("/" + initrd), _url(http[n]) if http else "")
                for n, initrd in enumerate(item.initrds)
            ),
        )

    @staticmethod
    def quote(text: str) -> str:
        """Untrusted text made inert for any place on an iPXE line, a title where `menu` parses options
        included: see `_inert`; one starting with "-" gets a "_" in front (iPXE's getopt would take it
        for an option up to the first word that is none)."""
        return _inert(not_an_option(text))


def _inert(text: str) -> str:
    """Make untrusted text inert on an iPXE command line, which has no quoting at all.

    iPXE splits a line at whitespace; a token that is `||`, `&&` or `;` ends the command, one that
    starts with `#` starts a comment, and `${...}` inside a token is replaced by a setting. So:
    control characters (newlines!) become spaces, those tokens become look-alikes, and `${` is
    broken up. The text keeps its words; it can never add a command or a line. Text ending in a
    backslash gets a space after it: iPXE (src/image/script.c, process_script) joins a line whose last
    character is a backslash with the next one, and splitting at whitespace drops the space again.
    """
    if text.isprintable() and not _MAY_CHANGE.search(text) and text == text.strip():
        return text + " " if text.endswith("\\") else text  # nearly every label: nothing to change
    words = []
    for word in _CONTROL.sub(" ", text).split():
        word = _TERMINATORS.get(word, word)
        if word.startswith("#"):
            word = "No." + word[1:]
        words.append(word.replace("${", "$ {"))
    joined = " ".join(words)
    return joined + " " if joined.endswith("\\") else joined


def _url(path_or_url: str) -> str:
    """Percent-encode what iPXE would split or expand (space, #, $, {...}); iPXE decodes it again."""
    if _URL_SAFE.fullmatch(path_or_url):
        return path_or_url
    return urllib.parse.quote(path_or_url, safe=":/%")


def _cmdline(item: MenuItem, firmware: str) -> str:
    """Kernel arguments; under UEFI the kernel's EFI stub finds each initrd by its `initrd --name`."""
    names = [f"initrd=initrd{n}" for n in range(len(item.initrds))] if firmware == "efi64" else []
    cmdline = " ".join([*names, _inert(item.append)])
    return cmdline if cmdline.endswith(" ") else cmdline.strip()  # the space after a final backslash stays


def _key(index: int) -> str:
    return ENTRY_KEYS[index] if 0 <= index < len(ENTRY_KEYS) else ""


def _keys(menu: Menu, firmware: str) -> dict[str, str]:
    """A key per menu line (entry slug or group title), numbered per (sub)menu, as shown beside it."""
    keys: dict[str, str] = {}
    if menu.groups:
        for index, group in enumerate(menu.groups):
            keys[f"group:{group.title}"] = _key(index)
            members = [i for i in group.items if firmware in i.firmware]
            for n, item in enumerate(members):
                keys[item.name] = _key(n)
    else:
        members = [i for i in menu.items if firmware in i.firmware]
        for n, item in enumerate(members):
            keys[item.name] = _key(n)
    return keys
