"""What a boot loader is to isodrop: one unit that says which firmware it serves, which files it
needs in the TFTP root (copied from a Debian package), and how it writes the shared Menu in its
own menu language. Adding a loader is one module here plus its template.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar, Generic, TypeVar

import jinja2

from isodrop.config import Config
from isodrop.render.menu import Menu, MenuItem

EntryView = TypeVar("EntryView")


class Loader(ABC):
    """One boot loader. Instances are cheap; `active_loaders(config)` makes the ones a config enables."""

    name: ClassVar[str]  # config name: "pxelinux", "syslinux-efi", ...
    firmware: ClassVar[str]  # client firmware whose menu it serves: "bios" or "efi64"
    template: ClassVar[str]  # jinja2 template in isodrop/templates/, overridable from templates_dir
    max_line: ClassVar[int]  # longest line its menus may have (isodrop.limits.LINE_MAX)
    continuation: ClassVar[str] = ""  # a line ending in this is joined with the next by the loader

    def __init__(self, templates_dir: Path | None = None) -> None:
        self.templates_dir = templates_dir

    @classmethod
    def for_config(cls, config: Config) -> Loader:
        """The instance `active_loaders` serves with; a loader whose menu depends on more settings
        than the templates folder overrides this."""
        return cls(config.templates_dir)

    @abstractmethod
    def files(self, config: Config) -> dict[PurePosixPath, Path]:
        """Files it needs in the TFTP root: destination (relative to tftp_root) -> source file shipped
        by a Debian package. Installed, and refreshed when the source changes, by the publisher."""

    @abstractmethod
    def boot_file(self) -> PurePosixPath:
        """What dnsmasq hands to the client (relative to tftp_root), for the docs and `isodrop check`."""

    @abstractmethod
    def render(self, menu: Menu) -> dict[PurePosixPath, str]:
        """Pure: menu file text by path relative to tftp_root."""

    def client_path(self, path: PurePosixPath, dashed_mac: str) -> PurePosixPath | None:
        """Where the menu file `path` goes for the one PC with MAC `dashed_mac` (52-54-00-aa-bb-01), so
        that this loader reads it instead of `path` on that PC; None: `path` has no per-PC copy."""
        return None

    def client_globs(self) -> tuple[str, ...]:
        """Patterns (relative to tftp_root) of every per-PC file `client_path` can name, to find the
        ones no pin wants any more."""
        return ()

    def client_files(self, menu: Menu, dashed_mac: str) -> dict[PurePosixPath, str]:
        """Pure: the per-PC menu files of `menu` (rendered like the shared ones) by path."""
        return {
            target: text
            for path, text in self.render(menu).items()
            if (target := self.client_path(path, dashed_mac)) is not None
        }

    @staticmethod
    @abstractmethod
    def quote(text: str) -> str:
        """`text` from outside (labels, file names) made safe to put into this menu language."""

    def render_template(self, **variables: Any) -> str:
        """Render `self.template` with `variables`, plus `quote` (this loader's escaping) and `firmware`."""
        template = environment(self.templates_dir).get_template(self.template)
        return self.checked(template.render(quote=self.quote, firmware=self.firmware, **variables))

    def checked(self, text: str) -> str:
        """`text`, after making sure the loader reads it line by line as written: no line near its
        line limit, none ending in its continuation character. The quoting and the limits on entries
        (isodrop.limits) make both impossible; seeing one is a bug, so the menu is not written."""
        lines = text.split("\n")
        if max(map(len, lines)) * 4 > self.max_line:  # a UTF-8 character is at most 4 bytes: else all fit
            for number, line in enumerate(lines, 1):
                size = len(line.encode("utf-8", "surrogateescape"))
                if size > self.max_line:
                    raise MenuLineError(f"{self.name} menu line {number} is {size} bytes, over {self.max_line}")
        if self.continuation and (self.continuation + "\n" in text or text.endswith(self.continuation)):
            number = next(n for n, line in enumerate(lines, 1) if line.endswith(self.continuation))
            raise MenuLineError(
                f"{self.name} menu line {number} ends in {self.continuation!r}: {lines[number - 1][:80]!r}"
            )
        return text


class MenuLineError(RuntimeError):
    """A rendered menu line the loader would not read as written (a bug in isodrop or a template)."""


def with_dispatch(text: str, lines: list[str]) -> str:
    """`text` with `lines` (a per-PC branch each) after its "Generated by isodrop" line, or after its
    first line (an interpreter line such as #!ipxe must stay first)."""
    if not lines:
        return text
    head = text.split("\n")
    at = next((n + 1 for n, line in enumerate(head) if line.startswith("# Generated by isodrop")), 1)
    return "\n".join(head[:at] + lines + head[at:])


def not_an_option(text: str) -> str:
    """`text` for a place where the loader parses options (GRUB's `menuentry` title, iPXE's `menu`
    title): one starting with "-" would be taken as an option (GRUB: "menuentry is missing title", the
    entry is gone), so it gets a "_" in front."""
    return "_" + text if text.startswith("-") else text


@functools.cache
def environment(templates_dir: Path | None, html: bool = False) -> jinja2.Environment:
    """One environment per templates folder, override templates first; jinja2 still notices edits.
    `html`: autoescape on, for the status page (menus must not have it: they quote for their own language)."""
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
        autoescape=html,
    )


@dataclass(frozen=True, slots=True)
class Section(Generic[EntryView]):
    """The top level of a menu (number 0, no title) or one submenu, with the entries it shows.

    Loaders hand templates their entries already in their own menu language (quoted, paths
    resolved), so a template only lays out lines: jinja2 calls per entry are what rendering costs."""

    number: int  # 0 for the top level, 1, 2, ... for the submenus that are shown
    title: str  # quoted for the menu language; "" for the top level
    entries: tuple[EntryView, ...]


def sections(
    menu: Menu, firmware: str, entry: Callable[[MenuItem, int], EntryView], quote: Callable[[str], str]
) -> tuple[Section[EntryView], ...]:
    """The top level, then each submenu that has an entry for `firmware`; `entry(item, index)` makes
    an item's view, `index` counting from 0 within its (sub)menu."""

    def shown(items: tuple[MenuItem, ...]) -> tuple[EntryView, ...]:
        visible = [item for item in items if firmware in item.firmware]
        return tuple(entry(item, index) for index, item in enumerate(visible))

    result: list[Section[EntryView]] = [Section(0, "", shown(menu.items))]
    for group in menu.groups:
        entries = shown(group.items)
        if entries:
            result.append(Section(len(result), quote(group.title), entries))
    return tuple(result)
