"""The manifest: everything an image says, as checked nodes, with the lookups every later step needs,
and the modes extracted files and folders get. Read by image.py and records.py, written out by write.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from isodrop.extract.links import Links

Extents = tuple[tuple[int, int], ...]


@dataclass
class Node:
    """One entry of the manifest; `extents` are (byte offset in the image, length) pairs."""

    rel: str
    kind: str  # "d", "f" or "l", as in Tree.listing()
    mode: int = 0
    extents: Extents = ()
    target: str = ""

    @property
    def size(self) -> int:
        return sum(length for _, length in self.extents)


@dataclass
class Manifest:
    """The checked contents of one image, with the lookup maps every later step needs (built once)."""

    iso_name: str
    volume_id: str
    image_size: int
    nodes: list[Node]  # directories before their contents; symlinks only when they stay inside
    warnings: list[str] = field(default_factory=list)

    @cached_property
    def by_rel(self) -> dict[str, Node]:
        return {node.rel: node for node in self.nodes}

    @cached_property
    def links(self) -> Links:
        return Links({node.rel: node.target for node in self.nodes if node.kind == "l"}, self.iso_name)

    @cached_property
    def files(self) -> list[Node]:
        return [node for node in self.nodes if node.kind == "f"]

    @cached_property
    def hard_links(self) -> dict[str, str]:
        """{rel: rel of an earlier file} for files sharing all their data extents (and final mode) with it."""
        first: dict[tuple[Extents, int], str] = {}
        link_to = {}
        for node in self.files:
            if node.extents:
                key = (node.extents, file_mode(node.mode))
                if key in first:
                    link_to[node.rel] = first[key]
                else:
                    first[key] = node.rel
        return link_to

    @cached_property
    def data_bytes(self) -> int:
        """File data extraction writes: each file once, hard links not again."""
        return sum(node.size for node in self.files if node.rel not in self.hard_links)

    def file(self, rel: str) -> Node | None:
        """The regular file `rel` names, following the manifest's symlinks; None when there is none."""
        real = self.links.resolve(rel)
        node = self.by_rel.get(real) if real is not None else None
        return node if node is not None and node.kind == "f" else None


WRITE_BITS = 0o222


def file_mode(mode: int) -> int:
    """Files are readable by everyone and writable by nobody; no set-id or sticky bits."""
    return (mode & 0o777 & ~WRITE_BITS) | 0o444


def dir_mode(mode: int) -> int:
    return (mode & 0o777 & ~WRITE_BITS) | 0o555
