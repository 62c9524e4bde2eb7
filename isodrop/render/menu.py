"""The menu model: what every boot loader's menu shows, built from the served entries. Pure.

`build_menu` sorts, groups, labels and resolves paths (TFTP paths and, with http_url, URLs); each
loader in `isodrop.loaders` turns the Menu into its own menu language.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from isodrop.config import Config
from isodrop.limits import LABEL_MAX, SOURCE_SHOWN_MAX, command_line_problem, loader_reserve
from isodrop.model import BootEntry, printable
from isodrop.pins import Target
from isodrop.secureboot import Verdict
from isodrop.vendorchain import VendorChain

# Every ISO's entry name (pxelinux LABEL, GRUB --id, iPXE's entry-<name>) starts with this, and no
# name a loader uses for itself does ("local", "back", "start", "failed", "group-N"): so no file in the
# drop folder, whatever it is called, can take the name of the local-disk entry or any other.
ISO_NAME_PREFIX = "iso-"
LOCAL = "local"  # the local-disk entry's name in every loader


@dataclass(frozen=True)
class Served:
    """One bootable ISO: its entry plus what the menu needs to know about where it lives."""

    slug: str
    source: str  # ISO file name, to tell duplicate labels apart
    tftp_path: str  # the tree relative to the TFTP root
    entry: BootEntry
    position: int = 0
    http_url: str = ""  # base URL of the tree ("" without HTTP), see ServerContext.http_url
    secure_boot: Verdict | None = None  # None: not checked
    vendor_chain: VendorChain | None = None  # the ISO's own chain, found when Debian's shim refuses the kernel


@dataclass(frozen=True)
class MenuItem:
    name: str  # LABEL name, what a person can type at the boot: prompt: "iso-" + the slug
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
    secure_boot: Verdict | None = None  # None: not checked
    # the vendor whose own chain boots it on a Secure Boot PC whose shim refuses the kernel (isodrop.handover),
    # "" when there is none
    handover: str = ""


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
    default: str  # name of the default item ("iso-<slug>"), or "local" for local boot
    clients: tuple[Target, ...] = ()  # PCs with a menu of their own (isodrop.pins), by precedence


def build_menu(served: list[Served], config: Config) -> Menu:
    """Sort by position then label; disambiguate equal labels by file name; group when there are many.

    An entry past the kernel's command line limit (a record made before the limits were checked, see
    isodrop.limits) is left out: it could not boot, and its lines could break the menu for all."""
    fitting = [s for s in served if not s.entry.too_long() and not _too_long_with_console(s.entry, config)]
    ordered = sorted(fitting, key=lambda s: (s.position, s.entry.label.casefold(), s.source))
    counts = Counter(s.entry.label for s in ordered)
    default = _default_name(ordered, config.menu_default)
    items = []
    for s in ordered:
        shown_source = printable(s.source)[:SOURCE_SHOWN_MAX]
        title = s.entry.label if counts[s.entry.label] == 1 else f"{s.entry.label} ({shown_source})"
        if s.entry.guessed:
            title += " [guessed]"
        base = s.http_url.rstrip("/") + "/" if s.http_url else ""
        items.append(
            MenuItem(
                name=ISO_NAME_PREFIX + s.slug,
                title=title,
                kernel=f"{s.tftp_path}/{s.entry.kernel}",
                initrds=tuple(f"{s.tftp_path}/{i}" for i in s.entry.initrds),
                append=_append(s.entry, config),
                guessed=s.entry.guessed,
                family=s.entry.menu_group or s.entry.family,
                is_default=ISO_NAME_PREFIX + s.slug == default,
                firmware=s.entry.firmware,
                kernel_url=f"{base}{s.entry.kernel}" if base else "",
                initrd_urls=tuple(f"{base}{i}" for i in s.entry.initrds) if base else (),
                secure_boot=s.secure_boot,
                handover=handover_vendor(s),
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
        serial=serial_directive(config.serial_console),
        items=flat,
        groups=groups,
        default=default,
    )


def handover_vendor(served: Served) -> str:
    """The vendor whose chain a Secure Boot PC is handed over to for this entry: only when shim refuses its
    kernel (a kernel Debian's chain boots never leaves the menu) and the ISO's own chain is usable."""
    chain, verdict = served.vendor_chain, served.secure_boot
    refused = verdict is not None and not verdict.boots
    return vendor_shown(chain) if refused and chain is not None and chain.usable else ""


def vendor_shown(chain: VendorChain) -> str:
    """The vendor's name as menus show it: it comes from a certificate in the ISO, so one line, and cut
    like a label."""
    return printable(chain.vendor)[:LABEL_MAX]


def all_items(menu: Menu) -> tuple[MenuItem, ...]:
    """Every item of `menu`, grouped or not."""
    return menu.items + tuple(item for group in menu.groups for item in group.items)


def _too_long_with_console(entry: BootEntry, config: Config) -> str | None:
    """The entry's limit check with the configured console= itself instead of its reserve."""
    return command_line_problem(_append(entry, config), loader_reserve(entry.kernel, entry.initrds))


def _default_name(ordered: list[Served], wanted: str) -> str:
    """The name of the entry `menu_default` names: "local"; "first" (whoever sorts first: sidecars'
    `position` and labels decide, which is why `isodrop check` warns about it); or the ISO whose file
    name (path relative to the drop folder) is exactly `wanted`. Anything else, or an ISO not in the
    menu, is local boot: never an ISO whose name merely resembles it."""
    if wanted == "first" and ordered:
        return ISO_NAME_PREFIX + ordered[0].slug
    for s in ordered:
        if wanted == s.source and wanted not in ("first", LOCAL):
            return ISO_NAME_PREFIX + s.slug
    return LOCAL


def _append(entry: BootEntry, config: Config) -> str:
    return " ".join(boot_params(entry, config))


def serial_directive(serial_console: str) -> str:
    """ "ttyS0,115200" -> "0 115200" for pxelinux's SERIAL directive."""
    if not serial_console:
        return ""
    port, _, speed = serial_console.removeprefix("ttyS").partition(",")
    return f"{port} {speed or '115200'}"


def boot_params(entry: BootEntry, config: Config) -> tuple[str, ...]:
    """The kernel command line a client gets: the entry's parameters plus the serial console, if any."""
    console = f"console={config.serial_console}" if config.serial_console else ""
    return entry.params + ((console,) if console and console not in entry.params else ())
