"""Reading an image: open and validate it, walk its directory records into a checked manifest.

The manifest is everything the ISO says, checked before anything is written: names (names.py),
symlink containment (links.py), depth, counts, truncation, and that the files do not add up to more
data than the image holds. Extraction writes exactly the manifest; `IsoTree` shows exactly it.
pycdlib parses the records; any exception it (or the walk) raises on a crafted image becomes an
ExtractError naming the image.
"""

from __future__ import annotations

import contextlib
import gc
import os
import stat
import struct
import threading
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pycdlib
from pycdlib.pycdlibexception import PyCdlibException

from isodrop.dropfolder import NotServable, resolve_inside
from isodrop.extract.errors import MAX_DIRECTORY_BYTES, MAX_NODES, ExtractError, one_line
from isodrop.extract.manifest import Extents, Manifest, Node
from isodrop.extract.names import checked_path, record_name
from isodrop.extract.records import rock_ridge_nodes
from isodrop.isofile import BLOCK, file_kind

READ_PIECE = 1024 * 1024  # bytes per read when streaming a file out of the image

SMALLEST_IMAGE = 17 * BLOCK  # 16 system-area sectors and the first volume descriptor (34,816 bytes)
DESCRIPTOR_MAGIC = (16 * BLOCK + 1, b"CD001")  # standard identifier of the descriptor at sector 16


def not_iso9660(fd: int, size: int) -> str | None:
    """Why the file open at `fd` cannot be an ISO 9660 image (None when it may be one), from its size and
    one 5-byte read: a folder of junk named *.iso costs that much per file, never a parser."""
    if size < SMALLEST_IMAGE:
        return "0 bytes" if size == 0 else f"{size} bytes, smaller than any ({SMALLEST_IMAGE})"
    offset, magic = DESCRIPTOR_MAGIC
    if os.pread(fd, len(magic), offset) != magic:
        return f"no volume descriptor ({magic.decode()}) at byte {offset}"
    return None


def checked_iso(drop_dir: Path, rel: str) -> Path:
    """The real path of the drop folder's ISO `rel`, to open with O_NOFOLLOW (the drop folder's link and
    file-type policy, isodrop.dropfolder.resolve_inside); ExtractError with the reason when the policy says
    it must not be opened (a link out, a FIFO, gone)."""
    try:
        return resolve_inside(drop_dir, rel)[0]
    except NotServable as why:
        raise ExtractError(f"{rel}: not opened: {why}") from why
    except OSError as err:
        raise ExtractError(f"cannot read {rel}: {err.strerror}") from err


def open_image(iso: Path) -> tuple[BinaryIO, pycdlib.PyCdlib]:
    """Open an image once, for pycdlib and for our own reads, turning every error into ExtractError."""
    try:  # O_NONBLOCK: a FIFO named like an ISO must not block the open; refused just below.
        # O_NOFOLLOW: callers pass the path the drop-folder link policy resolved (checked_iso).
        fd = os.open(iso, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as err:
        raise ExtractError(f"cannot read {iso}: {err.strerror}") from err
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise ExtractError(f"{iso} is {file_kind(info.st_mode)}, not a regular file, not an ISO 9660 image")
    os.set_blocking(fd, True)
    handle = os.fdopen(fd, "rb")
    try:
        size = info.st_size
        if junk := not_iso9660(fd, size):
            raise ExtractError(f"{iso} is not an ISO 9660 image: {junk}")
        try:
            prescan(fd, size, iso.name)
        except ExtractError:
            raise
        except Exception as err:  # noqa: BLE001 - short reads and odd bytes of a crafted image
            raise ExtractError(f"damaged directory records in {iso.name}: {one_line(err)}") from err
        image = pycdlib.PyCdlib()
        try:
            image.open_fp(handle)
        except OSError as err:
            raise ExtractError(f"cannot read {iso}: {err.strerror or err}") from err
        except (PyCdlibException, Exception) as err:  # crafted records make pycdlib raise anything
            volume_bytes = volume_size_from_pvd(handle.fileno())
            if volume_bytes is None:
                raise ExtractError(f"{iso} is not an ISO 9660 image ({one_line(err)})") from err
            if volume_bytes > size:
                raise ExtractError(
                    f"ISO is truncated: {iso} has {size} bytes but its volume descriptor says {volume_bytes}"
                ) from err
            # damaged, or using an extension pycdlib does not read (zisofs compression: "Unknown SUSP record")
            raise ExtractError(f"{iso} is an ISO 9660 image pycdlib cannot read: {one_line(err)}") from err
    except BaseException:
        handle.close()
        raise
    return handle, image


def prescan(fd: int, image_size: int, iso_name: str) -> None:
    """Walk the directory extents the way pycdlib will, before it does: pycdlib 1.12 follows a
    directory loop forever (growing memory), reads a directory whole whatever length its record
    claims, and builds an object per record; so refuse loops, huge directories and more than
    MAX_NODES records here, in a few reads of raw bytes."""
    roots = []
    for number in range(16, 16 + 64):  # the volume descriptor set, up to its terminator
        descriptor = os.pread(fd, BLOCK, number * BLOCK)
        if len(descriptor) < BLOCK or descriptor[1:6] != b"CD001" or descriptor[0] == 255:
            break
        if descriptor[0] in (1, 2):  # primary, and supplementary (Joliet)
            roots.append(descriptor[156 : 156 + 34])
    for root in roots:  # each name space on its own: Joliet repeats every record of the primary tree
        records = 0
        queue = deque([(struct.unpack_from("<I", root, 2)[0], struct.unpack_from("<I", root, 10)[0])])
        seen: set[int] = set()
        scanned = 0
        while queue:
            extent, length = queue.popleft()
            if extent in seen:
                raise ExtractError(f"directory loop in {iso_name}: two directory records share extent {extent}")
            seen.add(extent)
            if length > MAX_DIRECTORY_BYTES:
                raise ExtractError(
                    f"a directory of {iso_name} claims {length} bytes of records (more than "
                    f"{MAX_DIRECTORY_BYTES}): damaged or crafted; refusing to extract"
                )
            scanned += length
            if scanned > image_size:
                raise ExtractError(
                    f"the directories of {iso_name} add up to more than the image: records overlap; refusing"
                )
            data = os.pread(fd, length, extent * BLOCK)
            position = 0
            while position < len(data):
                size = data[position]
                if size == 0:  # padding to the end of the block
                    position += BLOCK - position % BLOCK
                    continue
                if size >= 34 and position + size <= len(data):
                    records += 1
                    if records > MAX_NODES:
                        raise ExtractError(f"{iso_name} holds more than {MAX_NODES} entries: refusing to extract")
                    name = data[position + 33 : position + 33 + data[position + 32]]
                    if data[position + 25] & 2 and name not in (b"\0", b"\1"):
                        child = struct.unpack_from("<I", data, position + 2)[0]
                        queue.append((child, struct.unpack_from("<I", data, position + 10)[0]))
                position += size


def volume_size_from_pvd(fd: int) -> int | None:
    """The volume size the primary volume descriptor claims, None when there is no PVD at all."""
    try:
        pvd = os.pread(fd, BLOCK, 16 * BLOCK)
    except OSError:
        return None
    if len(pvd) < 136 or pvd[0:6] != b"\x01CD001":
        return None
    (blocks,) = struct.unpack_from("<I", pvd, 80)
    (block_size,) = struct.unpack_from("<H", pvd, 128)
    return blocks * (block_size or BLOCK)


def read_manifest(iso: Path) -> tuple[BinaryIO, Manifest]:
    """Open `iso` and read its checked manifest; the caller closes the returned handle.

    Rock Ridge images are walked by records.py (a fraction of pycdlib's time and memory); anything it
    does not read, or finds wrong, is walked by pycdlib, whose verdict (and message) then counts. The
    garbage collector is paused meanwhile: tens of thousands of new objects, none of them garbage.
    """
    with gc_paused():
        fast = _fast_manifest(iso)
        if fast is not None:
            return fast
        return _pycdlib_manifest(iso)


_gc_lock = threading.Lock()
_gc_pause = {"count": 0, "was_enabled": False}


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """gc.disable() for the duration, counted, so parallel extractions re-enable it only when all are done."""
    with _gc_lock:
        if _gc_pause["count"] == 0:
            _gc_pause["was_enabled"] = gc.isenabled()
            gc.disable()
        _gc_pause["count"] += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pause["count"] -= 1
            if _gc_pause["count"] == 0 and _gc_pause["was_enabled"]:
                gc.enable()


def _fast_manifest(iso: Path) -> tuple[BinaryIO, Manifest] | None:
    try:
        fd = os.open(iso, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size == 0:
            os.close(fd)
            return None
        os.set_blocking(fd, True)
        found = rock_ridge_nodes(fd, info.st_size, iso.name, MAX_NODES)
        if found is None:
            os.close(fd)
            return None
        volume_id, nodes = found
        nodes.sort(key=lambda node: node.rel.split("/"))  # parents first, stable order
        manifest = Manifest(iso.name, volume_id, info.st_size, nodes)
        _drop_escaping_symlinks(manifest)
        check_manifest(manifest, fd)
    except Exception:  # noqa: BLE001 - pycdlib's walk decides, and says why, for whatever this one refused
        os.close(fd)
        return None
    return os.fdopen(fd, "rb"), manifest


def _pycdlib_manifest(iso: Path) -> tuple[BinaryIO, Manifest]:
    handle, image = open_image(iso)
    try:
        try:
            manifest = _Walker(image, iso.name, handle.fileno()).manifest()
        except ExtractError:
            raise
        except RecursionError as err:
            raise ExtractError(f"directory structure of {iso.name} is nested too deeply to read") from err
        except Exception as err:  # a crafted record pycdlib accepted at open but not when asked
            raise ExtractError(f"damaged directory records in {iso.name}: {one_line(err)}") from err
        finally:
            with contextlib.suppress(Exception):  # closing a damaged image must not hide why it failed
                image.close()
        check_manifest(manifest, handle.fileno())
    except BaseException:
        handle.close()
        raise
    return handle, manifest


class _Walker:
    """Walks the best name space (Rock Ridge, else Joliet, else ISO9660) into a list of checked nodes."""

    def __init__(self, image: pycdlib.PyCdlib, iso_name: str, fd: int) -> None:
        self.image, self.iso_name, self.fd = image, iso_name, fd
        self.image_size = os.fstat(fd).st_size
        self.nodes: list[Node] = []
        self.stack: list[tuple[str, object, int]] = []  # (relative path, directory record, depth)

    def manifest(self) -> Manifest:
        image = self.image
        if image.has_rock_ridge():
            naming, root = "rr", image.get_record(iso_path="/")
        elif image.has_joliet():
            naming, root = "joliet", image.get_record(joliet_path="/")
        else:
            naming, root = "iso", image.get_record(iso_path="/")
        volume_id = image.pvd.volume_identifier.decode("utf-8", errors="replace").strip()
        seen: set[str] = set()
        walked: set[int] = set()  # directory objects and extents: a crafted link could point back up the tree
        extents_walked: set[int] = set()
        self.stack.append(("", root, 1))
        while self.stack:
            parent_rel, directory, depth = self.stack.pop()
            where = directory.extent_location()
            if id(directory) in walked or where in extents_walked:
                raise ExtractError(f"directory loop at {parent_rel or '/'!r} in {self.iso_name}: refusing to extract")
            walked.add(id(directory))
            extents_walked.add(where)
            for record in _children(directory):
                rr = record.rock_ridge if naming == "rr" else None
                if rr is not None and rr.relocated_record():
                    continue  # a deep directory moved to rr_moved; it is shown where its CL record points
                rel = checked_path(parent_rel, record_name(record, naming), depth, self.iso_name)
                if rel in seen:
                    raise ExtractError(f"duplicate name {rel!r} in {self.iso_name}: refusing to extract")
                seen.add(rel)
                if len(self.nodes) >= MAX_NODES:
                    raise ExtractError(f"{self.iso_name} holds more than {MAX_NODES} entries: refusing to extract")
                self.nodes.append(self._node(rel, record, rr, depth))
        self.nodes.sort(key=lambda node: node.rel.split("/"))  # parents first, stable order
        manifest = Manifest(self.iso_name, volume_id, self.image_size, self.nodes)
        _drop_escaping_symlinks(manifest)
        return manifest

    def _node(self, rel: str, record: object, rr: object, depth: int) -> Node:
        """The node for one directory record; a folder is pushed on the stack to be walked."""
        mode = _rr_mode(rr)
        if rr is not None and rr.child_link_record_exists():
            moved = rr.cl_to_moved_dr
            if moved is None:
                raise ExtractError(f"Rock Ridge child link of {rel!r} in {self.iso_name} points nowhere")
            self.stack.append((rel, moved, depth + 1))
            return Node(rel, "d", _rr_mode(moved.rock_ridge) or mode or 0o555)
        if record.is_dir():  # rr_moved itself stays, empty, as Linux and xorriso show it
            self.stack.append((rel, record, depth + 1))
            return Node(rel, "d", mode or 0o555)
        if rr is not None and rr.is_symlink():
            return Node(rel, "l", target=rr.symlink_path().decode("utf-8", errors="surrogateescape"))
        return Node(rel, "f", mode or 0o444, self._extents(record))

    def _extents(self, record: object) -> Extents:
        """Where a file's data lies; several extents for files over 4 GiB (multi-extent records)."""
        out = []
        seen = set()
        index = 0
        while record is not None and id(record) not in seen:
            seen.add(id(record))
            offset, length = record.extent_location() * BLOCK, record.get_data_length()
            if offset + length >= self.image_size:  # pycdlib clips a length running past the end
                length = _raw_length(self.fd, record, index, length)
            if length != 0:
                out.append((offset, length))
            record = record.data_continuation
            index += 1
        return tuple(out)


def _children(directory: object) -> Iterator[object]:
    """The real children of a directory record: no '.', '..', associated files or extra extents."""
    continuations = {id(c.data_continuation) for c in directory.children if c.data_continuation is not None}
    for child in directory.children:
        if child.is_dot() or child.is_dotdot() or id(child) in continuations or child.is_associated_file():
            continue
        yield child


def _raw_length(fd: int, record: object, index: int, clipped: int) -> int:
    """The data length `record` has on disc, read from its parent directory's extent (pycdlib keeps
    only the clipped one, which would hide a truncated image or a lying record)."""
    parent = getattr(record, "parent", None)
    ident = record.file_identifier()
    if parent is None:
        return clipped
    start, size = parent.extent_location() * BLOCK, min(parent.get_data_length(), 16 * 1024 * 1024)
    data = os.pread(fd, size, start)
    found = []
    position = 0
    while position + 33 <= len(data):
        length = data[position]
        if length == 0:  # records never cross a block: the rest of this block is padding
            position = (position // BLOCK + 1) * BLOCK
            continue
        name = data[position + 33 : position + 33 + data[position + 32]]
        if name == ident:
            found.append(struct.unpack_from("<I", data, position + 10)[0])
        position += length
    return found[index] if index < len(found) else clipped


def _rr_mode(rr: object) -> int:
    if rr is None:
        return 0
    try:
        return rr.get_file_mode()
    except PyCdlibException:
        return 0


def _drop_escaping_symlinks(manifest: Manifest) -> None:
    """Keep only symlinks that, followed the way the kernel would, stay inside the tree."""
    links = manifest.links
    keep = []
    for node in manifest.nodes:
        if node.kind == "l":
            problem = links.problem(node.rel)
            if problem is not None:
                shown = node.target if node.target.isprintable() else ascii(node.target)
                shown = shown if len(shown) <= 200 else shown[:200] + "..."
                manifest.warnings.append(f"skipped symlink {node.rel} -> {shown}: {problem}")
                continue
        keep.append(node)
    manifest.nodes = keep
    manifest.__dict__.pop("links", None)  # rebuilt without the skipped ones
    manifest.__dict__.pop("by_rel", None)


def check_manifest(manifest: Manifest, fd: int) -> None:
    """The checks that need the image itself: truncation, and data not adding up to more than it holds."""
    name, image_size = manifest.iso_name, manifest.image_size
    volume_bytes = volume_size_from_pvd(fd) or 0
    past_end = [
        node
        for node in manifest.files
        if any(offset + length >= image_size or length < 0 for offset, length in node.extents)
    ]
    # pycdlib clips (1.12: stretches) lengths that run past the end of the file, so the original end is lost.
    beyond = any(o >= image_size or o + n > image_size or n < 0 for node in past_end for o, n in node.extents)
    if volume_bytes > image_size or beyond:
        if past_end:
            node = min(past_end, key=lambda n: n.extents[-1][0])
            if volume_bytes <= image_size:  # the image is whole: the record lies
                offset, length = max(node.extents, key=lambda extent: extent[0] + extent[1])
                raise ExtractError(
                    f"damaged directory record: {node.rel} in {name} says {length} bytes at byte {offset}, "
                    f"past the end of the image ({image_size} bytes)"
                )
            raise ExtractError(
                f"ISO is truncated: {node.rel} ends past the end of {name}, "
                f"which has {image_size} bytes (the volume should have {volume_bytes})"
            )
        raise ExtractError(f"ISO is truncated: {name} has {image_size} bytes but its volume has {volume_bytes}")
    if manifest.data_bytes > image_size:
        raise ExtractError(
            f"the files of {name} add up to {manifest.data_bytes} bytes, more than the {image_size} bytes "
            "of the image: its directory records point at overlapping data; refusing to extract"
        )


def read_extents(fd: int, extents: Extents, limit: int) -> Iterator[bytes]:
    """A file's data straight from the image, in pieces of at most READ_PIECE bytes, `limit` bytes at most."""
    left = limit
    for offset, length in extents:
        position, end = offset, offset + min(length, left)
        while position < end:
            data = os.pread(fd, min(READ_PIECE, end - position), position)
            if not data:
                return
            position += len(data)
            left -= len(data)
            yield data
        if left <= 0:
            return
