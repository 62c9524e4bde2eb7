"""What a distribution family is: a small declarative rule for finding and booting a tree.

A family says which files identify it, where its kernel and initrd(s) live, and which kernel
parameters make its initramfs find the root over NFS. Everything else (reading the tree,
expanding globs, building the BootEntry) is shared here, so a new family is a few lines, and a
derivative is its parent with `dataclasses.replace(...)`.
"""

from __future__ import annotations

import fnmatch
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from isodrop.model import BootEntry, NotBootable, ServerContext

MAX_LINE_READ = 4096  # bytes read of a one-line file such as `.disk/info`
MAX_LINE = 256  # characters kept of its first line: real ones are under 100


class Tree(ABC):
    """Read-only view of an ISO's file tree. Paths are relative and '/'-separated.

    Families only ever see this interface, so they work the same on an extracted folder
    (`DirTree`) and straight on an ISO image (`isodrop.extract.IsoTree`, used by `inspect`).
    """

    def __init__(self, volume_id: str = "", iso_name: str = "") -> None:
        self.volume_id = volume_id.strip()
        self.iso_name = iso_name
        self._listing: dict[str, str] | None = None
        self.initrd_facts: dict[str, object] = {}  # what families.initramfs.detect read from an initrd, by path

    @abstractmethod
    def _scan(self) -> dict[str, str]:
        """Every entry of the tree: relative path -> "f" (file), "d" (directory) or "l" (symlink)."""

    @abstractmethod
    def read_bytes(self, rel: str, limit: int = 256 * 1024) -> bytes | None:
        """Up to `limit` bytes of a regular file, None when it is not one."""

    @abstractmethod
    def size(self, rel: str) -> int | None:
        """The size in bytes of a regular file, None when it is not one."""

    def read_chunks(self, rel: str, limit: int) -> Iterator[bytes] | None:
        """Up to `limit` bytes of a regular file in pieces (so a big initrd is never held whole), None
        when it is not one."""
        data = self.read_bytes(rel, limit)
        return None if data is None else iter((data,))

    def listing(self) -> dict[str, str]:
        if self._listing is None:
            self._listing = dict(sorted(self._scan().items()))
        return self._listing

    def files(self) -> list[str]:
        return list(self.listing())

    def exists(self, rel: str) -> bool:
        return rel.strip("/") in self.listing()

    def is_file(self, rel: str) -> bool:
        return self.listing().get(rel.strip("/")) == "f"

    def glob(self, pattern: str) -> list[str]:
        """Entries matching a shell pattern over the whole relative path (`*` stays in one directory)."""
        regex = re.compile(_glob_to_regex(pattern))
        return [rel for rel in self.listing() if regex.fullmatch(rel)]

    def glob_files(self, pattern: str) -> list[str]:
        """Regular files matching `pattern`, newest version first ("vmlinuz-6.1.0-10" before "-9")."""
        return sorted((rel for rel in self.glob(pattern) if self.is_file(rel)), key=natural_key, reverse=True)

    def first(self, patterns: Iterable[str]) -> str | None:
        """The file matching the first pattern that matches any file (its newest version)."""
        for pattern in patterns:
            matches = self.glob_files(pattern)
            if matches:
                return matches[0]
        return None

    def read_text(self, rel: str, limit: int = 256 * 1024) -> str | None:
        data = self.read_bytes(rel, limit) if self.is_file(rel) else None
        return None if data is None else data.decode("utf-8", errors="replace")

    def first_line(self, rel: str) -> str:
        """The first line of a small text file (`.disk/info`, a version file), stripped, at most
        MAX_LINE characters of the first MAX_LINE_READ bytes ("" when absent). These are ISO content:
        a bounded line keeps the patterns matched against it (and the labels made of it) cheap."""
        text = (self.read_text(rel, MAX_LINE_READ) or "").strip()
        return text.splitlines()[0].strip()[:MAX_LINE] if text else ""

    def disk_info(self) -> str:
        """First line of `.disk/info`, the human name Debian-style ISOs carry ("" when absent)."""
        return self.first_line(".disk/info")


class DirTree(Tree):
    """An extracted tree on disk."""

    def __init__(self, root: Path, volume_id: str = "", iso_name: str = "") -> None:
        super().__init__(volume_id, iso_name or Path(root).name)
        self.root = Path(root)

    def _scan(self) -> dict[str, str]:
        """Every entry, walked with an explicit stack (no recursion limit on deep trees); a folder that
        cannot be listed (a path past PATH_MAX) is left out: nothing could be served from it anyway."""
        found: dict[str, str] = {}
        pending = [""]
        while pending:
            rel = pending.pop()
            try:
                with os.scandir(self.root / rel if rel else self.root) as entries:
                    for entry in entries:
                        child = f"{rel}/{entry.name}" if rel else entry.name
                        if entry.is_symlink():
                            found[child] = "l"
                        elif entry.is_dir(follow_symlinks=False):
                            found[child] = "d"
                            pending.append(child)
                        else:
                            found[child] = "f"
            except OSError:
                continue
        return found

    def read_bytes(self, rel: str, limit: int = 256 * 1024) -> bytes | None:
        if not self.is_file(rel):
            return None
        with open(self.root / rel, "rb") as handle:
            return handle.read(limit)

    def read_chunks(self, rel: str, limit: int) -> Iterator[bytes] | None:
        if not self.is_file(rel):
            return None
        return self._chunks(self.root / rel, limit)

    def size(self, rel: str) -> int | None:
        if not self.is_file(rel):
            return None
        try:
            return (self.root / rel).stat().st_size
        except OSError:
            return None

    @staticmethod
    def _chunks(path: Path, limit: int) -> Iterator[bytes]:
        with open(path, "rb") as handle:
            while limit > 0 and (chunk := handle.read(min(limit, 1024 * 1024))):
                limit -= len(chunk)
                yield chunk


def _glob_to_regex(pattern: str) -> str:
    """fnmatch's translation, but with `*` and `?` not crossing a '/'."""
    out = []
    for chunk in re.split(r"(\*|\?)", pattern):
        if chunk == "*":
            out.append("[^/]*")
        elif chunk == "?":
            out.append("[^/]")
        else:
            out.append(fnmatch.translate(chunk).removeprefix("(?s:").removesuffix(")\\Z"))
    return "".join(out)


def natural_key(text: str) -> list[tuple[int, int | str]]:
    """Sort key comparing digit runs as numbers, so kernel 6.10 sorts after 6.9."""
    return [(1, int(part)) if part.isdigit() else (0, part) for part in re.split(r"(\d+)", text) if part]


class Recogniser(Protocol):
    """What FAMILIES holds: a declarative `Family`, or code such as the generic fallback."""

    name: str
    proven: str  # how far its command line is proven; see Family.proven

    def recognise(self, tree: Tree, ctx: ServerContext) -> BootEntry | None:
        """The entry when the tree is this family's, None when it is not; raises NotBootable when it is
        but cannot boot over the network."""


Params = Callable[[Tree, ServerContext], list[str]]  # parameters, or raises NotBootable
Check = Callable[[Tree, ServerContext], None]  # raises NotBootable when the tree cannot boot
RamCopy = Callable[[Tree, ServerContext, list[str]], int]  # bytes a command line makes the initramfs copy into RAM


def checked_paths(*paths: str) -> None:
    """Boot loader menus name the kernel and initrds on a line of their own, split at blanks and
    unquotable in pxelinux: a name with a blank or a control character cannot be booted."""
    for rel in paths:
        if any(ch.isspace() or ord(ch) < 32 or ch == "\x7f" for ch in rel):
            raise NotBootable(
                f"the file name {rel!r} has a blank or a control character, which boot menus cannot carry"
            )


NOT_BOOTED = "checked against the layout, not booted"


@dataclass(frozen=True)
class Family:
    """A declarative boot recipe.

    `params` may use {server}, {nfs_path}, {tftp_path}, {http_url}; initrd patterns may use
    {kernel_suffix} (what follows "vmlinuz"/"linux" in the chosen kernel's name, e.g. "-5.10.0-8-amd64"),
    so a versioned kernel gets the initrd of the same version.
    """

    name: str
    menu_group: str
    requires: tuple[str, ...]  # patterns that must each match at least one entry
    kernel: tuple[str, ...] = ()  # candidate patterns, in order of preference
    initrds: tuple[tuple[str, ...], ...] = ()  # one candidate tuple per initrd, loaded in this order
    params: str = ""
    extra_params: Params | None = None  # computed parameters for what a template cannot say
    info_contains: tuple[str, ...] = ()  # `.disk/info` (or volume ID) must contain one of these
    any_of: tuple[str, ...] = ()  # at least one of these patterns must match
    not_bootable: str = ""  # when set, a match yields NotBootable with this reason
    check: Check | None = None  # after a match: raises NotBootable when the tree cannot boot
    label: Callable[[Tree], str] | None = None
    optional_initrds: tuple[str, ...] = ()  # e.g. microcode: every match is loaded first
    firmware: Callable[[Tree], tuple[str, ...]] | None = None  # menus that can boot it; default: all
    ram_copy: RamCopy | None = None  # for an initramfs that may copy its root into RAM; default: it streams
    # How far its command line is proven: "booted in a VM with <initramfs> <version>" when a test boots a
    # tree of this layout with the family's own initramfs code (tests/test_e2e_*.py), else NOT_BOOTED.
    proven: str = NOT_BOOTED

    def match(self, tree: Tree) -> tuple[str, ...] | None:
        """The files that identify this family in the tree, or None."""
        evidence = []
        for pattern in self.requires:
            hits = tree.glob(pattern)
            if not hits:
                return None
            evidence.append(hits[0])
        if self.any_of:
            hit = next((hits[0] for pattern in self.any_of if (hits := tree.glob(pattern))), None)
            if hit is None:
                return None
            evidence.append(hit)
        if self.info_contains:
            haystack = f"{tree.disk_info()}\n{tree.volume_id}".lower()
            word = next((w for w in self.info_contains if w.lower() in haystack), None)
            if word is None:
                return None
            evidence.append(f".disk/info or volume ID mentions {word!r}")
        return tuple(evidence)

    def recognise(self, tree: Tree, ctx: ServerContext) -> BootEntry | None:
        evidence = self.match(tree)
        if evidence is None:
            return None
        try:
            return self._entry(tree, ctx, evidence)
        except NotBootable as verdict:
            raise verdict.claimed(self.name, evidence) from None

    def _entry(self, tree: Tree, ctx: ServerContext, evidence: tuple[str, ...]) -> BootEntry | None:
        if self.not_bootable:
            raise NotBootable(self.not_bootable)
        if self.check is not None:
            self.check(tree, ctx)
        if not self.kernel:
            return None  # a family that only exists to say why some trees cannot boot
        kernel = tree.first(self.kernel)
        if kernel is None:
            raise NotBootable(f"no kernel found (looked for {', '.join(self.kernel)})")
        checked_paths(kernel)
        suffix = kernel_suffix(kernel)
        initrds = [rel for pattern in self.optional_initrds for rel in sorted(tree.glob_files(pattern))]
        for candidates in self.initrds:
            expanded = [pattern.replace("{kernel_suffix}", suffix) for pattern in candidates]
            initrd = tree.first(expanded)
            if initrd is None:
                raise NotBootable(f"no initrd found (looked for {', '.join(expanded)})")
            initrds.append(initrd)
        checked_paths(*initrds)
        params = self.params.format(**ctx.to_dict()).split()
        if self.extra_params is not None:
            params += self.extra_params(tree, ctx)
        return BootEntry(
            family=self.name,
            label=(self.label or default_label)(tree),
            kernel=kernel,
            initrds=tuple(initrds),
            params=tuple(params),
            evidence=evidence,
            menu_group=self.menu_group,
            firmware=self.firmware(tree) if self.firmware else ("bios", "efi64"),
            copies_to_ram_bytes=self.ram_copy(tree, ctx, params) if self.ram_copy else 0,
        )


@dataclass(frozen=True)
class LiveMedium:
    """The folder of a live ISO that holds its root (`filesystem.squashfs`), kernel and initrd: the part
    of a layout that systems built with the same tool share (casper's `casper/`, live-build's `live/`).
    `family` makes a Family that requires the root and boots those files; the rest is the family's own."""

    folder: str  # "casper", "live"
    kernels: tuple[str, ...]  # names in the folder, in order of preference
    initrds: tuple[str, ...]  # the one initrd's candidate names, in order of preference

    def family(self, name: str, menu_group: str, **own: Any) -> Family:
        return Family(
            name=name,
            menu_group=menu_group,
            requires=(f"{self.folder}/filesystem.squashfs",),
            kernel=tuple(f"{self.folder}/{kernel}" for kernel in self.kernels),
            initrds=(tuple(f"{self.folder}/{initrd}" for initrd in self.initrds),),
            **own,
        )


def kernel_suffix(kernel: str) -> str:
    """ "live/vmlinuz-5.10.0-8-amd64" -> "-5.10.0-8-amd64"; "" for unversioned names."""
    name = kernel.rsplit("/", 1)[-1]
    for stem in ("vmlinuz", "vmlinux", "linux"):
        if name.startswith(stem):
            return name[len(stem) :]
    return ""


_DISK_INFO = re.compile(r'^(?P<name>.+?)\s+"(?P<codename>[^"]+)"\s+-\s+(?P<rest>.*)$')
_ARCHES = ("amd64", "i386", "arm64", "x86_64", "aarch64", "armhf", "ppc64el", "riscv64", "s390x", "i686")


def disk_info_label(tree: Tree) -> str:
    """`Ubuntu 24.04.1 LTS "Noble Numbat" - Release amd64 (20240827)` -> "Ubuntu 24.04.1 LTS (Noble Numbat) amd64"."""
    info = tree.disk_info()
    found = _DISK_INFO.match(info)
    if not found:
        return info
    arch = next((word for word in found["rest"].split() if word.lower() in _ARCHES), "")
    return " ".join(part for part in (found["name"], f"({found['codename']})", arch) if part)


def default_label(tree: Tree) -> str:
    """`.disk/info` made readable, else the volume ID, else the ISO's file name."""
    return disk_info_label(tree) or tree.volume_id or tree.iso_name
