"""Boot menus (pxelinux for BIOS, syslinux.efi for x86-64 UEFI) from the served entries.

`build_menu` is pure: it sorts, groups and labels the entries. `render_menus` feeds that model to
the jinja2 templates shipped in `isodrop/templates/` (or the ones in `templates_dir`, which win).
"""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import jinja2

from isodrop.config import Config
from isodrop.model import BootEntry, printable

BIOS_MENU = PurePosixPath("pxelinux.cfg/default")
EFI_DIR = PurePosixPath("efi64")
EFI_MENU = EFI_DIR / "pxelinux.cfg/default"


@dataclass(frozen=True)
class Served:
    """One bootable ISO: its entry plus what the menu needs to know about where it lives."""

    slug: str
    source: str  # ISO file name, to tell duplicate labels apart
    tftp_path: str  # the tree relative to the TFTP root
    entry: BootEntry
    position: int = 0


@dataclass(frozen=True)
class MenuItem:
    name: str  # LABEL name: what a person can type at the boot: prompt
    title: str
    kernel: str  # relative to the TFTP root
    initrds: tuple[str, ...]
    append: str
    guessed: bool
    family: str
    is_default: bool
    firmware: tuple[str, ...] = ("bios", "efi64")
    kernel_url: str = ""  # stub: h0 adds these; "" / () when http_url is empty
    initrd_urls: tuple[str, ...] = ()


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

    @property
    def all_items(self) -> tuple[MenuItem, ...]:
        return self.items + tuple(i for g in self.groups for i in g.items)


def build_menu(served: list[Served], config: Config) -> Menu:
    """Sort by position then label; disambiguate equal labels by file name; group when there are many."""
    ordered = sorted(served, key=lambda s: (s.position, s.entry.label.casefold(), s.source))
    counts = Counter(s.entry.label for s in ordered)
    default = _default_name(ordered, config.menu_default)
    console = _console_param(config.serial_console)
    items = []
    for s in ordered:
        title = s.entry.label if counts[s.entry.label] == 1 else f"{s.entry.label} ({printable(s.source)})"
        if s.entry.guessed:
            title += " [guessed]"
        params = list(s.entry.params) + ([console] if console and console not in s.entry.params else [])
        kernel = f"{s.tftp_path}/{s.entry.kernel}"
        initrds = tuple(f"{s.tftp_path}/{i}" for i in s.entry.initrds)
        items.append(
            MenuItem(
                name=s.slug,
                title=title,
                kernel=kernel,
                initrds=initrds,
                append=" ".join(params),
                guessed=s.entry.guessed,
                family=s.entry.menu_group or s.entry.family,
                is_default=s.slug == default,
                firmware=s.entry.firmware,
                kernel_url=_http_url(kernel, config),
                initrd_urls=tuple(_http_url(i, config) for i in initrds) if config.http_url else (),
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


def _http_url(tftp_path: str, config: Config) -> str:
    """The URL of a file under trees_dir, which http_url serves ("" without HTTP). Stub until h0's model."""
    if not config.http_url:
        return ""
    trees = config.trees_dir.relative_to(config.tftp_root).as_posix()
    return f"{config.http_url.rstrip('/')}/{tftp_path.removeprefix(trees + '/')}"


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


def _console_param(serial_console: str) -> str:
    return f"console={serial_console}" if serial_console else ""


@functools.cache
def _environment(templates_dir: Path | None) -> jinja2.Environment:
    """One environment per templates folder; jinja2 still notices edited override templates."""
    loaders: list[jinja2.BaseLoader] = []
    if templates_dir is not None:
        loaders.append(jinja2.FileSystemLoader(str(templates_dir)))
    loaders.append(jinja2.PackageLoader("isodrop", "templates"))
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )


def render_menus(menu: Menu, templates_dir: Path | None) -> dict[PurePosixPath, str]:
    """Menu file contents by path relative to the TFTP root, the BIOS menu last (written last, it shows
    that both are up to date)."""
    env = _environment(templates_dir)
    template = env.get_template("pxelinux.cfg.j2")
    return {
        EFI_MENU: template.render(menu=menu, path_prefix="::", firmware="efi64"),
        BIOS_MENU: template.render(menu=menu, path_prefix="", firmware="bios"),
    }


def boot_loader_files(config: Config) -> dict[Path, Path]:
    """Loader files to copy into the TFTP root (source -> destination) so clients can boot at all."""
    modules = ("ldlinux.c32", "vesamenu.c32", "menu.c32", "libcom32.c32", "libutil.c32")
    root = config.tftp_root
    wanted = {config.pxelinux_file: root / "pxelinux.0"}
    wanted |= {config.syslinux_bios_modules / m: root / m for m in modules}
    wanted[config.syslinux_efi_file] = root / EFI_DIR / "syslinux.efi"
    wanted[config.syslinux_efi64_modules / "ldlinux.e64"] = root / EFI_DIR / "ldlinux.e64"
    wanted |= {config.syslinux_efi64_modules / m: root / EFI_DIR / m for m in modules if m != "ldlinux.c32"}
    return wanted
