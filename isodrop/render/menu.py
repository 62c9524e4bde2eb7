"""The menu model: what every boot loader's menu shows, built from the served entries. Pure.

`build_menu` sorts, groups, labels and resolves paths (TFTP paths and, with http_url, URLs); each
loader in `isodrop.loaders` turns the Menu into its own menu language.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from isodrop.config import Config
from isodrop.model import BootEntry, printable


@dataclass(frozen=True)
class Served:
    """One bootable ISO: its entry plus what the menu needs to know about where it lives."""

    slug: str
    source: str  # ISO file name, to tell duplicate labels apart
    tftp_path: str  # the tree relative to the TFTP root
    entry: BootEntry
    position: int = 0
    http_url: str = ""  # base URL of the tree ("" without HTTP), see ServerContext.http_url
    secure_boot: SecureBootVerdict | None = None  # None: not checked (isodrop.secureboot.Verdict fits)


@dataclass(frozen=True)
class SecureBootVerdict:
    """Whether a tree boots with Secure Boot on, and why (filled in by a later Secure Boot check)."""

    boots: bool
    reason: str


@dataclass(frozen=True)
class MenuItem:
    name: str  # LABEL name: what a person can type at the boot: prompt (the slug)
    title: str
    kernel: str  # relative to the TFTP root
    initrds: tuple[str, ...]  # relative to the TFTP root
    append: str  # the kernel command line, serial console included
    guessed: bool
    family: str
    is_default: bool
    firmware: tuple[str, ...] = ("bios", "efi64")
    kernel_url: str = ""  # the kernel over HTTP, "" when http_url is not configured
    initrd_urls: tuple[str, ...] = ()  # the initrds over HTTP, () when http_url is not configured
    secure_boot: SecureBootVerdict | None = None  # None: not checked

    @property
    def params(self) -> str:
        return self.append


@dataclass(frozen=True)
class MenuGroup:
    title: str
    items: tuple[MenuItem, ...]


@dataclass(frozen=True)
class Menu:
    title: str
    timeout: int
    serial: str  # "0 115200" for the SERIAL directive, "" for none
    items: tuple[MenuItem, ...]  # ungrouped: every item; grouped: empty
    groups: tuple[MenuGroup, ...]
    default: str  # LABEL name of the default item, "local" for local boot


def build_menu(served: list[Served], config: Config) -> Menu:
    """Sort by position then label; disambiguate equal labels by file name; group when there are many."""
    ordered = sorted(served, key=lambda s: (s.position, s.entry.label.casefold(), s.source))
    counts = Counter(s.entry.label for s in ordered)
    default = _default_name(ordered, config.menu_default)
    items = []
    for s in ordered:
        title = s.entry.label if counts[s.entry.label] == 1 else f"{s.entry.label} ({printable(s.source)})"
        if s.entry.guessed:
            title += " [guessed]"
        base = s.http_url.rstrip("/") + "/" if s.http_url else ""
        items.append(
            MenuItem(
                name=s.slug,
                title=title,
                kernel=f"{s.tftp_path}/{s.entry.kernel}",
                initrds=tuple(f"{s.tftp_path}/{i}" for i in s.entry.initrds),
                append=" ".join(boot_params(s.entry, config)),
                guessed=s.entry.guessed,
                family=s.entry.menu_group or s.entry.family,
                is_default=s.slug == default,
                firmware=s.entry.firmware,
                kernel_url=f"{base}{s.entry.kernel}" if base else "",
                initrd_urls=tuple(f"{base}{i}" for i in s.entry.initrds) if base else (),
                secure_boot=s.secure_boot,
            )
        )
    groups: tuple[MenuGroup, ...] = ()
    flat: tuple[MenuItem, ...] = tuple(items)
    if len(items) > config.menu_group_threshold:
        by_family: dict[str, list[MenuItem]] = {}
        for item in items:
            by_family.setdefault(item.family, []).append(item)
        groups = tuple(MenuGroup(title, tuple(members)) for title, members in sorted(by_family.items()))
        flat = ()
    return Menu(
        title=config.menu_title,
        timeout=config.menu_timeout,
        serial=_serial_directive(config.serial_console),
        items=flat,
        groups=groups,
        default=default,
    )


def _default_name(ordered: list[Served], wanted: str) -> str:
    if wanted == "first" and ordered:
        return ordered[0].slug
    for s in ordered:
        if wanted in (s.source, s.slug):
            return s.slug
    return "local"


def _serial_directive(serial_console: str) -> str:
    """ "ttyS0,115200" -> "0 115200" for pxelinux's SERIAL directive."""
    if not serial_console:
        return ""
    port, _, speed = serial_console.removeprefix("ttyS").partition(",")
    return f"{port} {speed or '115200'}"


def boot_params(entry: BootEntry, config: Config) -> tuple[str, ...]:
    """The kernel command line a client gets: the entry's parameters plus the serial console, if any."""
    console = f"console={config.serial_console}" if config.serial_console else ""
    return entry.params + ((console,) if console and console not in entry.params else ())
