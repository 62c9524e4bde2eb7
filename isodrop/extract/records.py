"""A fast walk of a Rock Ridge image's directory records, reading only what extraction needs.

pycdlib parses every record of the ISO 9660 tree and of the Joliet tree into objects (on a 30,000-file
image that is most of the extraction time and ~140 MB of memory). Rock Ridge images - every live ISO -
only need, per record: the extent, the length, the flags, and the Rock Ridge NM (name), PX (mode), SL
(symlink), CL/RE (relocated folders) and CE (continuation) entries. This module reads exactly those
straight from the directory extents into manifest nodes, with the same checks as the pycdlib walk
(names, depth, duplicates, loops, node count). Images without Rock Ridge, or with anything this reader
does not expect (another block size, an SUSP skip length, a CE chain that is too long), return None and
are walked by pycdlib as before.
"""

from __future__ import annotations

import os
import struct

from isodrop.extract.errors import MAX_DIRECTORY_BYTES, MAX_NODES, ExtractError
from isodrop.extract.manifest import Node
from isodrop.extract.names import checked_path, iso9660_name
from isodrop.isofile import BLOCK

MAX_CE = 64  # continuation areas chained from one record
_DIR, _ASSOCIATED, _MULTI = 0x02, 0x04, 0x80
_U32 = struct.Struct("<I").unpack_from
_KNOWN = {
    b"SP",
    b"CE",
    b"ER",
    b"ES",
    b"PD",
    b"ST",
    b"RR",
    b"PX",
    b"PN",
    b"SL",
    b"NM",
    b"CL",
    b"PL",
    b"RE",
    b"TF",
    b"SF",
}


class Unsupported(Exception):
    """This image is not one the fast walk reads; use pycdlib."""


class _Record:
    """What one directory record says, as far as extraction cares."""

    __slots__ = ("lba", "length", "extents", "flags", "name", "mode", "symlink", "child", "relocated")

    def __init__(self, lba: int, length: int, flags: int) -> None:
        self.lba, self.length, self.flags = lba, length, flags
        self.extents = [(lba * BLOCK, length)]
        self.name: bytes | None = None
        self.mode = 0
        self.symlink: bytes | None = None
        self.child = -1  # CL: the block of the folder this placeholder stands for
        self.relocated = False  # RE: shown where its CL record points, not here


def rock_ridge_nodes(fd: int, image_size: int, iso_name: str, max_nodes: int = MAX_NODES) -> tuple[str, list] | None:
    """(volume ID, nodes in walk order) of a Rock Ridge image, or None when pycdlib should walk it.

    Besides the directory records, it checks what pycdlib would refuse an image for although no file
    depends on it: the path table must list exactly the folders walked, and an El Torito boot catalogue
    must lie inside the image and start with a valid validation entry."""
    try:
        walk = _Walk(fd, image_size, iso_name, Node)
        walk.max_nodes = max_nodes
        return walk.run()
    except Unsupported:
        return None
    except (IndexError, struct.error, ValueError) as err:
        raise ExtractError(f"damaged directory records in {iso_name}: {err}") from err


class _Walk:
    def __init__(self, fd: int, image_size: int, iso_name: str, node_type: type) -> None:
        self.fd, self.image_size, self.iso_name, self.Node = fd, image_size, iso_name, node_type
        self.max_nodes = MAX_NODES

    def read(self, offset: int, size: int) -> bytes:
        if offset < 0 or size < 0 or offset + size > self.image_size:
            raise ExtractError(f"damaged directory records in {self.iso_name}: a record points past the end")
        data = os.pread(self.fd, size, offset)
        if len(data) != size:
            raise ExtractError(f"damaged directory records in {self.iso_name}: short read")
        return data

    def run(self) -> tuple[str, list]:
        pvd = self._primary()
        if struct.unpack_from("<H", pvd, 128)[0] != BLOCK:
            raise Unsupported
        volume_id = pvd[40:72].decode("utf-8", errors="replace").strip()
        root = pvd[156:190]
        root_extent, root_length = struct.unpack_from("<I", root, 2)[0], struct.unpack_from("<I", root, 10)[0]
        records = self.directory(root_extent, root_length, first=True)
        nodes = []
        seen: set[str] = set()
        walked: set[int] = {root_extent}
        stack = [("", records, 1)]
        while stack:
            parent, records, depth = stack.pop()
            for rec in records:
                if rec.relocated:
                    continue  # a deep folder moved to rr_moved; shown where its CL record points
                rel = checked_path(parent, rec.name.decode("utf-8", errors="surrogateescape"), depth, self.iso_name)
                if rel in seen:
                    raise ExtractError(f"duplicate name {rel!r} in {self.iso_name}: refusing to extract")
                seen.add(rel)
                if len(nodes) >= self.max_nodes:
                    raise ExtractError(f"{self.iso_name} holds more than {self.max_nodes} entries: refusing to extract")
                if rec.child >= 0 or rec.flags & _DIR:
                    extent, length, mode = rec.lba, rec.length, rec.mode
                    if rec.child >= 0:
                        extent = rec.child
                        dot = self.directory(extent, BLOCK, dot_only=True)
                        length, mode = dot.length, dot.mode or mode
                    if extent in walked:
                        raise ExtractError(f"directory loop at {rel!r} in {self.iso_name}: refusing to extract")
                    walked.add(extent)
                    nodes.append(self.Node(rel, "d", mode or 0o555))
                    stack.append((rel, self.directory(extent, length), depth + 1))
                elif rec.symlink is not None:
                    target = rec.symlink.decode("utf-8", errors="surrogateescape")
                    nodes.append(self.Node(rel, "l", target=target))
                else:
                    extents = tuple(extent for extent in rec.extents if extent[1] != 0)
                    nodes.append(self.Node(rel, "f", rec.mode or 0o444, extents))
        self._check_path_table(pvd, walked)
        return volume_id, nodes

    def _primary(self) -> bytes:
        primary = None
        for sector in range(16, 16 + 64):
            vd = self.read(sector * BLOCK, BLOCK)
            if vd[1:6] != b"CD001":
                raise Unsupported
            if vd[0] == 0 and vd[7:30] == b"EL TORITO SPECIFICATION":
                self._check_boot_catalogue(_U32(vd, 71)[0])
            if vd[0] == 1 and primary is None:
                primary = vd
            if vd[0] == 255:
                break
        if primary is None:
            raise Unsupported
        return primary

    def _check_boot_catalogue(self, lba: int) -> None:
        entry = self.read(lba * BLOCK, 32)
        words = struct.unpack("<16H", entry)
        if entry[0] != 1 or entry[30:32] != b"\x55\xaa" or sum(words) % 65536 != 0:
            raise ExtractError(f"damaged El Torito boot catalogue in {self.iso_name}")

    def _check_path_table(self, pvd: bytes, walked: set[int]) -> None:
        """The little-endian path table lists exactly the folders the records lead to."""
        size, lba = _U32(pvd, 132)[0], _U32(pvd, 140)[0]
        if size > MAX_DIRECTORY_BYTES:
            raise ExtractError(f"path table of {self.iso_name} is too large")
        table = self.read(lba * BLOCK, size)
        listed, position, count = set(), 0, 0
        while position < size:
            name_length = table[position]
            if name_length == 0 or position + 8 + name_length > size:
                raise ExtractError(f"damaged path table in {self.iso_name}")
            count += 1
            parent = struct.unpack_from("<H", table, position + 6)[0]
            if not 1 <= parent <= count:
                raise ExtractError(f"damaged path table in {self.iso_name}")
            listed.add(_U32(table, position + 2)[0])
            position += 8 + name_length + name_length % 2
        if listed != walked:
            raise ExtractError(f"the path table of {self.iso_name} does not match its directories")

    def directory(self, extent: int, length: int, first: bool = False, dot_only: bool = False):
        """The records of one directory (multi-extent files merged), or its '.' record (`dot_only`)."""
        if length > MAX_DIRECTORY_BYTES:
            raise ExtractError(f"a directory of {self.iso_name} claims {length} bytes of records: refusing to extract")
        data = self.read(extent * BLOCK, length)
        out: list[_Record] = []
        pending: _Record | None = None  # a multi-extent file until its last record
        position = 0
        while position + 34 <= len(data):
            size = data[position]
            if size == 0:  # records never cross a sector: the rest of this one is padding, all zeros
                following = min((position // BLOCK + 1) * BLOCK, len(data))
                if data.count(0, position, following) != following - position:
                    raise ExtractError(f"damaged directory record (length 0) in {self.iso_name}")
                position = following
                continue
            if size < 34 or position + size > len(data):
                raise ExtractError(f"damaged directory record in {self.iso_name}")
            start, position = position, position + size
            if start // BLOCK != (position - 1) // BLOCK:
                raise ExtractError(f"damaged directory record (crosses a sector) in {self.iso_name}")
            ident_len = data[start + 32]
            ident = data[start + 33 : start + 33 + ident_len]
            flags = data[start + 25]
            rec = _Record(_U32(data, start + 2)[0], _U32(data, start + 10)[0], flags)
            system_use = data[start + 33 + ident_len + (1 - ident_len % 2) : position]
            if ident == b"\x00":
                if first and not system_use.startswith(b"SP\x07\x01\xbe\xef"):
                    raise Unsupported  # no SUSP, hence no Rock Ridge: pycdlib reads Joliet or ISO 9660
                if first and system_use[6] != 0:
                    raise Unsupported  # an SUSP skip length: rare enough to leave to pycdlib
                if dot_only:
                    self._susp(system_use, rec)
                    return rec
                continue
            if ident == b"\x01" or flags & _ASSOCIATED:
                continue
            self._susp(system_use, rec)
            if rec.name is None:
                rec.name = iso9660_name(ident).encode("utf-8", errors="surrogateescape")
            if pending is not None:
                if rec.name != pending.name:
                    raise ExtractError(f"damaged multi-extent file {pending.name!r} in {self.iso_name}")
                pending.extents.extend(rec.extents)
                rec = pending
            if flags & _MULTI and not flags & _DIR:
                pending = rec
                continue
            pending = None
            out.append(rec)
        if dot_only:
            raise ExtractError(f"relocated directory without a '.' record in {self.iso_name}")
        if pending is not None:
            raise ExtractError(f"multi-extent file {pending.name!r} in {self.iso_name} has no last extent")
        return out

    def _susp(self, area: bytes, rec: _Record) -> None:
        """Read the Rock Ridge entries of one record (and its continuation areas) into `rec`."""
        name: list[bytes] = []
        has_name = False
        links: list[bytes] = []  # one path per SL entry, joined as pycdlib's symlink_path() does
        saved = b""
        has_link = False
        hops = 0
        while True:
            next_area = None
            position = 0
            end = len(area)
            while position + 4 <= end:
                length = area[position + 2]
                if length < 4 or position + length > end:
                    raise ExtractError(f"damaged Rock Ridge entry in {self.iso_name}")
                start, position = position, position + length
                if area[start : start + 2] not in _KNOWN:
                    raise Unsupported  # zisofs (ZF), AA, or garbage: pycdlib's verdict
                if area.startswith(b"TF", start) or area.startswith(b"RR", start) or area.startswith(b"SP", start):
                    continue  # times, the RRIP 1.09 flags, the SUSP marker: nothing extraction uses
                signature, entry = area[start : start + 2], area[start : start + length]
                if signature == b"NM":
                    has_name = True
                    if entry[4] & 0x06:  # CURRENT or PARENT: not a name a file can have
                        name.append(b"." if entry[4] & 0x02 else b"..")
                    else:
                        name.append(entry[5:])
                elif signature == b"PX":
                    rec.mode = struct.unpack_from("<I", entry, 4)[0]
                elif signature == b"SL":
                    has_link = True
                    text, continued = _sl_entry(entry)
                    saved += text
                    if not continued:
                        links.append(saved)
                        saved = b""
                elif signature == b"CL":
                    rec.child = struct.unpack_from("<I", entry, 4)[0]
                elif signature == b"RE":
                    rec.relocated = True
                elif signature == b"CE":
                    block, offset, size = (struct.unpack_from("<I", entry, n)[0] for n in (4, 12, 20))
                    next_area = (block * BLOCK + offset, size)
                elif signature == b"ST":
                    break
            if next_area is None:
                break
            hops += 1
            if hops > MAX_CE or next_area[1] > BLOCK:
                raise Unsupported
            area = self.read(*next_area)
        if has_name:
            rec.name = b"".join(name)
        if has_link:
            if saved:
                links.append(saved)
            rec.symlink = b"/".join(links)


def _sl_entry(entry: bytes) -> tuple[bytes, bool]:
    """One SL entry's path, and whether its last component continues in the next SL entry."""
    parts: list[bytes] = []
    continued = False
    position = 5
    while position + 2 <= len(entry):
        flags, size = entry[position], entry[position + 1]
        text = entry[position + 2 : position + 2 + size]
        position += 2 + size
        if flags & 0x02:
            text = b"."
        elif flags & 0x04:
            text = b".."
        elif flags & 0x08:  # the root: what came before does not count
            parts, continued, text = [], False, b""
        if continued:
            parts[-1] += text
        else:
            parts.append(text)
        continued = bool(flags & 0x01)
    return b"/".join(parts), continued
