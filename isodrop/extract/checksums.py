"""md5sum.txt (Debian/Ubuntu: `<md5>  ./path`): read as a stream, each listed file hashed once.

The list is image content too: it is read in pieces with a cap on its size and line length, its paths
are resolved through the manifest (so `./x`, `//x` and `x` are one file), and files sharing their data
are hashed once, so the hashing a list can ask for is bounded by the data the image holds.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from isodrop.extract.errors import MAX_MD5SUM_BYTES, MAX_MD5SUM_LINE, ExtractError
from isodrop.extract.image import read_extents
from isodrop.extract.manifest import Extents, Manifest, Node

_LINE = re.compile(rb"([0-9a-fA-F]{32})\s+\*?(.+)")
SHOWN = 3  # problems named in the error; the rest are counted


@dataclass
class Checklist:
    """What md5sum.txt asks for, resolved: {real path: md5}, and what it lists that is not there."""

    expected: dict[str, str] = field(default_factory=dict)
    bad: list[str] = field(default_factory=list)  # the first few problems, as shown to the user
    bad_count: int = 0

    def problem(self, text: str) -> None:
        self.bad_count += 1
        if len(self.bad) < SHOWN:
            self.bad.append(text)

    def data_bytes(self, manifest: Manifest) -> int:
        """Bytes hashed to check the list: each distinct data extent once."""
        return sum(node.size for node in _distinct(self, manifest).values())


def read_md5sum(manifest: Manifest, fd: int) -> Checklist | None:
    """md5sum.txt at the root of the image, None when there is none."""
    node = manifest.by_rel.get("md5sum.txt")
    if node is None or node.kind != "f":
        return None
    if node.size > MAX_MD5SUM_BYTES:
        raise ExtractError(
            f"md5sum.txt of {manifest.iso_name} is {node.size} bytes, more than the {MAX_MD5SUM_BYTES} isodrop reads"
        )
    checklist = Checklist()
    rest = b""
    for piece in read_extents(fd, node.extents, node.size):
        lines = (rest + piece).split(b"\n")
        rest = lines.pop()
        if len(rest) > MAX_MD5SUM_LINE:
            raise ExtractError(f"md5sum.txt of {manifest.iso_name} has a line longer than {MAX_MD5SUM_LINE} bytes")
        for line in lines:
            _add(checklist, manifest, line)
    _add(checklist, manifest, rest)
    return checklist


def _add(checklist: Checklist, manifest: Manifest, line: bytes) -> None:
    match = _LINE.fullmatch(line.strip())
    if not match:
        return
    listed = match[2].decode("utf-8", errors="surrogateescape")
    shown = listed.removeprefix("./")
    shown = shown if shown.isprintable() else ascii(shown)
    node = _lookup(manifest, listed)
    if node is None:
        checklist.problem(f"{shown} (missing)")
        return
    expected = match[1].decode().lower()
    previous = checklist.expected.setdefault(node.rel, expected)
    if previous != expected:
        checklist.problem(f"{shown} (listed twice with different checksums)")


def _lookup(manifest: Manifest, listed: str) -> Node | None:
    parts = [part for part in listed.split("/") if part not in ("", ".")]
    if ".." not in parts:  # the usual case: a real path, whose folders cannot be symlinks
        node = manifest.by_rel.get("/".join(parts))
        if node is not None and node.kind == "f":
            return node
    return manifest.file(listed)


def _distinct(checklist: Checklist, manifest: Manifest) -> dict[Extents, Node]:
    out: dict[Extents, Node] = {}
    for rel in checklist.expected:
        node = manifest.by_rel[rel]
        out.setdefault(node.extents, node)
    return out


def hash_files(
    checklist: Checklist,
    manifest: Manifest,
    read: Callable[[Node], Iterator[bytes]],
    tick: Callable[[int], None],
    select: Callable[[Node], bool] = lambda _node: True,
) -> dict[Extents, str]:
    """md5 of each listed file that `select` picks (once per distinct data), read with `read`."""
    digests: dict[Extents, str] = {}
    for node in _distinct(checklist, manifest).values():
        if not select(node):
            continue
        digest = hashlib.md5(usedforsecurity=False)
        for chunk in read(node):
            digest.update(chunk)
            tick(len(chunk))
        digests[node.extents] = digest.hexdigest()
    return digests


def verify(checklist: Checklist, manifest: Manifest, digests: dict[Extents, str]) -> None:
    """Compare every listed file's md5 (`digests` by data, from hash_files) with md5sum.txt; ExtractError
    naming what fails."""
    for rel, expected in checklist.expected.items():
        if digests[manifest.by_rel[rel].extents] != expected:
            checklist.problem(f"{rel} (checksum mismatch)")
    if checklist.bad_count:
        more = (
            f" and {checklist.bad_count - len(checklist.bad)} more" if checklist.bad_count > len(checklist.bad) else ""
        )
        raise ExtractError(f"{manifest.iso_name} fails its md5sum.txt: {', '.join(checklist.bad)}{more}")


def image_reader(fd: int) -> Callable[[Node], Iterator[bytes]]:
    """Read a node's data straight from the image (for `inspect`, which extracts nothing)."""
    return lambda node: read_extents(fd, node.extents, node.size)
