"""Turn an ISO image into a safe, world-readable tree on disk (and look inside one without extracting).

pycdlib parses the directory records; the file data is then copied straight from the image's file
descriptor at each extent's offset (`os.copy_file_range`, else `os.sendfile`, else a read loop), which is
several times faster than pulling every file through pycdlib's Python-level buffers.

The ISO is untrusted input (anyone who can write to the drop folder supplies it), so every name is checked
before anything is written, files are created with O_EXCL | O_NOFOLLOW inside directories this code has just
made, symlinks are created last and only when they resolve inside the tree, and any failure removes
everything that was written.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

import pycdlib
from pycdlib.pycdlibexception import PyCdlibException

from isodrop.dropfolder import open_regular
from isodrop.families.base import Tree
from isodrop.trees import remove_tree

BLOCK = 2048
CHUNK = 8 * 1024 * 1024  # bytes per copy call: small enough for prompt progress and should_stop
MAX_SYMLINK_HOPS = 40  # what Linux allows before ELOOP
_WRITE_BITS = 0o222


class ExtractError(Exception):
    """Why an ISO could not be extracted, in one line a person can act on."""


@dataclass(frozen=True)
class ExtractResult:
    volume_id: str
    files: int  # regular files in the tree (hard links counted as files)
    bytes: int  # file data written (hard-linked data counted once)
    warnings: tuple[str, ...]


@dataclass
class _Node:
    """One entry of the planned tree; `extents` are (byte offset in the image, length) pairs."""

    rel: str
    kind: str  # "d", "f" or "l", as in Tree.listing()
    mode: int = 0
    extents: tuple[tuple[int, int], ...] = ()
    target: str = ""

    @property
    def size(self) -> int:
        return sum(length for _, length in self.extents)


@dataclass
class _Plan:
    """Everything the ISO says, checked: what extraction writes and what IsoTree shows."""

    volume_id: str
    nodes: list[_Node]  # directories before their contents; symlinks only when they stay inside
    warnings: list[str] = field(default_factory=list)

    def by_rel(self) -> dict[str, _Node]:
        return {node.rel: node for node in self.nodes}


# --- reading the directory structure -----------------------------------------------------------------


def _open_image(iso: Path) -> tuple[BinaryIO, pycdlib.PyCdlib]:
    """Open an image once, for pycdlib and for our own copies, turning every error into ExtractError."""
    try:
        # O_NOFOLLOW|O_NONBLOCK + fstat S_ISREG: a FIFO or device never blocks, a final link is not followed
        handle = os.fdopen(open_regular(iso), "rb")  # noqa: SIM115 - returned to the caller, who closes it
    except OSError as err:
        raise ExtractError(f"cannot read {iso}: {err.strerror}") from err
    try:
        size = os.fstat(handle.fileno()).st_size
        if size == 0:
            raise ExtractError(f"{iso} is empty (0 bytes), not an ISO 9660 image")
        image = pycdlib.PyCdlib()
        try:
            image.open_fp(handle)
        except PyCdlibException as err:
            volume_bytes = _volume_size_from_pvd(handle.fileno())
            if volume_bytes is None:
                raise ExtractError(f"{iso} is not an ISO 9660 image ({err})") from err
            if volume_bytes > size:
                raise ExtractError(
                    f"ISO is truncated: {iso} has {size} bytes but its volume descriptor says {volume_bytes}"
                ) from err
            # damaged, or using an extension pycdlib does not read (zisofs compression: "Unknown SUSP record")
            raise ExtractError(f"{iso} is an ISO 9660 image pycdlib cannot read: {err}") from err
        except OSError as err:
            raise ExtractError(f"cannot read {iso}: {err.strerror or err}") from err
    except BaseException:
        handle.close()
        raise
    return handle, image


def _volume_size_from_pvd(fd: int) -> int | None:
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


def _iso9660_name(ident: bytes) -> str:
    """Linux's `map=normal`: drop the ';1' version and a trailing '.', lower-case."""
    name = ident.decode("ascii", errors="replace")
    name = re.sub(r";\d*$", "", name)
    name = name.removesuffix(".")
    return name.lower().replace(";", ".")


def _checked(parent: str, name: str, iso: Path) -> str:
    """The relative path of `name` in `parent`, or ExtractError when the name could leave the tree."""
    shown = f"{parent}/{name}" if parent else name
    if name in ("", ".", "..") or "/" in name or "\0" in name:
        raise ExtractError(f"unsafe file name {shown!r} in {iso}: refusing to extract")
    return shown


def _record_name(record: object, naming: str, iso: Path) -> str:
    if naming == "rr" and record.rock_ridge is not None:
        entries = [record.rock_ridge.dr_entries, record.rock_ridge.ce_entries]
        if any(e is not None and e.nm_records for e in entries):
            return record.rock_ridge.name().decode("utf-8", errors="surrogateescape")
    ident = record.file_identifier()
    if naming == "joliet":
        return re.sub(r";\d*$", "", ident.decode("utf-16_be", errors="replace"))
    return _iso9660_name(ident)


def _children(directory: object) -> Iterator[object]:
    """The real children of a directory record: no '.', '..', associated files or extra extents."""
    continuations = {id(c.data_continuation) for c in directory.children if c.data_continuation is not None}
    for child in directory.children:
        if child.is_dot() or child.is_dotdot() or id(child) in continuations or child.is_associated_file():
            continue
        yield child


def _extents(record: object) -> tuple[tuple[int, int], ...]:
    """Where a file's data lies; several extents for files over 4 GiB (multi-extent records)."""
    out = []
    while record is not None:
        length = record.get_data_length()
        if length != 0:  # negative when pycdlib clipped an extent lying past the end of a truncated image
            out.append((record.extent_location() * BLOCK, length))
        record = record.data_continuation
    return tuple(out)


def _plan(image: pycdlib.PyCdlib, iso: Path) -> _Plan:
    """Walk the best name space (Rock Ridge, else Joliet, else ISO9660) into a checked list of nodes."""
    if image.has_rock_ridge():
        naming, root = "rr", image.get_record(iso_path="/")
    elif image.has_joliet():
        naming, root = "joliet", image.get_record(joliet_path="/")
    else:
        naming, root = "iso", image.get_record(iso_path="/")
    volume_id = image.pvd.volume_identifier.decode("utf-8", errors="replace").strip()
    nodes: list[_Node] = []
    seen: set[str] = set()
    walked: set[int] = set()  # a crafted Rock Ridge child link could point back up the tree
    stack = [("", root)]
    while stack:
        parent_rel, directory = stack.pop()
        if id(directory) in walked:
            raise ExtractError(f"directory loop at {parent_rel!r} in {iso}: refusing to extract")
        walked.add(id(directory))
        for record in _children(directory):
            rr = record.rock_ridge if naming == "rr" else None
            if rr is not None and rr.relocated_record():
                continue  # a deep directory moved to rr_moved; it is shown where its CL record points
            rel = _checked(parent_rel, _record_name(record, naming, iso), iso)
            if rel in seen:
                raise ExtractError(f"duplicate name {rel!r} in {iso}: refusing to extract")
            seen.add(rel)
            mode = _rr_mode(rr)
            if rr is not None and rr.child_link_record_exists():
                moved = rr.cl_to_moved_dr
                nodes.append(_Node(rel, "d", _rr_mode(moved.rock_ridge) or mode or 0o555))
                stack.append((rel, moved))
            elif record.is_dir():  # rr_moved itself stays, empty, as Linux and xorriso show it
                nodes.append(_Node(rel, "d", mode or 0o555))
                stack.append((rel, record))
            elif rr is not None and rr.is_symlink():
                target = rr.symlink_path().decode("utf-8", errors="surrogateescape")
                nodes.append(_Node(rel, "l", target=target))
            else:
                nodes.append(_Node(rel, "f", mode or 0o444, _extents(record)))
    nodes.sort(key=lambda node: node.rel.split("/"))  # parents first, stable order for tests and listings
    plan = _Plan(volume_id, nodes)
    _drop_escaping_symlinks(plan)
    return plan


def _rr_mode(rr: object) -> int:
    if rr is None:
        return 0
    try:
        return rr.get_file_mode()
    except PyCdlibException:
        return 0


def _drop_escaping_symlinks(plan: _Plan) -> None:
    """Keep only symlinks that, followed the way the kernel would, stay inside the tree."""
    links = {node.rel: node.target for node in plan.nodes if node.kind == "l"}
    keep = []
    for node in plan.nodes:
        if node.kind == "l":
            problem = _symlink_problem(node.rel, links)
            if problem:
                plan.warnings.append(f"skipped symlink {node.rel} -> {node.target}: {problem}")
                continue
        keep.append(node)
    plan.nodes = keep


def _symlink_problem(link: str, links: dict[str, str]) -> str:
    """Why following `link` (and any links on its way) could leave the tree; "" when it cannot."""
    if links[link].startswith("/"):
        return "absolute target"
    return _follow(link.split("/")[:-1], links[link], links)[1]


def _follow(base: list[str], path: str, links: dict[str, str]) -> tuple[str, str]:
    """Walk `path` from folder `base` as the kernel would, through planned symlinks: (where it ends, problem)."""
    here = list(base)
    todo = path.split("/")
    hops = 0
    while todo:
        part = todo.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if not here:
                return "", "target is outside the tree"
            here.pop()
            continue
        here.append(part)
        target = links.get("/".join(here))
        if target is None:
            continue
        hops += 1
        if hops > MAX_SYMLINK_HOPS:
            return "", "symlink loop"
        if target.startswith("/"):
            return "", f"goes through {'/'.join(here)}, which has an absolute target"
        here.pop()
        todo = target.split("/") + todo
    return "/".join(here), ""


# --- copying -----------------------------------------------------------------------------------------


class _Copier:
    """Copies extents from the image fd, choosing the fastest system call the kernel accepts."""

    def __init__(self, iso: Path, src_fd: int, image_size: int) -> None:
        self.iso = iso
        self.src_fd = src_fd
        self.image_size = image_size
        self.method = "copy_file_range" if hasattr(os, "copy_file_range") else "sendfile"

    def copy(self, dst_fd: int, offset: int, length: int, rel: str, tick: Callable[[int], None]) -> None:
        end = offset + length
        while offset < end:
            count = min(CHUNK, end - offset)
            try:
                copied = self._copy_once(dst_fd, offset, count)
            except OSError as err:
                raise ExtractError(f"cannot copy {rel} from {self.iso}: {err.strerror or err}") from err
            if copied == 0:
                raise ExtractError(
                    f"ISO is truncated: {rel} ends at byte {end} but the image has {self.image_size} bytes"
                )
            offset += copied
            tick(copied)

    def _copy_once(self, dst_fd: int, offset: int, count: int) -> int:
        if self.method == "copy_file_range":
            try:
                return os.copy_file_range(self.src_fd, dst_fd, count, offset)
            except OSError as err:
                if err.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EPERM):
                    raise
                self.method = "sendfile"
        if self.method == "sendfile":
            try:
                return os.sendfile(dst_fd, self.src_fd, offset, count)
            except OSError as err:
                if err.errno not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                    raise
                self.method = "read"
        data = os.pread(self.src_fd, count, offset)
        written = 0
        while written < len(data):
            written += os.write(dst_fd, data[written:])
        return len(data)


class _Progress:
    """Calls the user's progress callback every ~0.5% (and at the end), not for every chunk."""

    def __init__(self, callback: Callable[[int, int], None] | None, total: int) -> None:
        self.callback = callback
        self.total = total
        self.done = 0
        self.step = max(total // 200, 1)
        self.last = -self.step

    def __call__(self, amount: int) -> None:
        self.done += amount
        if self.callback is not None and (self.done - self.last >= self.step or self.done >= self.total):
            self.last = self.done
            self.callback(self.done, self.total)


def _file_mode(mode: int) -> int:
    return (mode & 0o777 & ~_WRITE_BITS) | 0o444


def _dir_mode(mode: int) -> int:
    return (mode & 0o777 & ~_WRITE_BITS) | 0o555


def extract_iso(
    iso: Path,
    dest: Path,
    *,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    verify_checksums: bool = True,
) -> ExtractResult:
    """Extract `iso` into the new folder `dest`; on any failure nothing is left behind and ExtractError is raised.

    `progress(done, total)` counts bytes copied (plus bytes checked against md5sum.txt). `should_stop` is polled
    between files and between 8 MiB chunks; when it returns True the extraction is abandoned.
    """
    iso, dest = Path(iso), Path(dest)
    handle, image = _open_image(iso)
    try:
        try:
            plan = _plan(image, iso)
        finally:
            image.close()
        src_fd = handle.fileno()
        image_size = os.fstat(src_fd).st_size
        _check_truncation(plan, iso, src_fd, image_size)
        try:
            os.mkdir(dest, 0o700)
        except OSError as err:
            raise ExtractError(f"cannot create {dest} for {iso.name}: {err.strerror}") from err
        try:
            return _write_tree(plan, iso, dest, src_fd, image_size, progress, should_stop, verify_checksums)
        except OSError as err:  # the destination side: disk full, quota, a vanished folder
            remove_tree(dest)
            raise ExtractError(f"cannot write the tree of {iso.name} to {dest}: {err}") from err
        except BaseException:
            remove_tree(dest)
            raise
    finally:
        handle.close()


def _check_truncation(plan: _Plan, iso: Path, fd: int, image_size: int) -> None:
    """Refuse images cut short (an interrupted copy): some file's data would be missing or zeros."""
    volume_bytes = _volume_size_from_pvd(fd) or 0
    past_end = [
        node
        for node in plan.nodes
        if node.kind == "f" and any(offset + length >= image_size for offset, length in node.extents)
    ]
    # pycdlib clips (1.12: stretches) lengths that run past the end of the file, so the original end is lost.
    beyond = any(o >= image_size or o + n > image_size for node in past_end for o, n in node.extents)
    if volume_bytes > image_size or beyond:
        if past_end:
            node = min(past_end, key=lambda n: n.extents[-1][0])
            raise ExtractError(
                f"ISO is truncated: {node.rel} ends past the end of {iso.name}, "
                f"which has {image_size} bytes (the volume should have {volume_bytes})"
            )
        raise ExtractError(f"ISO is truncated: {iso.name} has {image_size} bytes but its volume has {volume_bytes}")


def _write_tree(
    plan: _Plan,
    iso: Path,
    dest: Path,
    src_fd: int,
    image_size: int,
    progress: Callable[[int, int], None] | None,
    should_stop: Callable[[], bool] | None,
    verify_checksums: bool,
) -> ExtractResult:
    files = [node for node in plan.nodes if node.kind == "f"]
    link_to = _hard_links(files)
    copy_bytes = sum(node.size for node in files if node.rel not in link_to)
    md5_list = _read_md5sum(plan, src_fd) if verify_checksums else None
    nodes = plan.by_rel()
    links = {rel: node.target for rel, node in nodes.items() if node.kind == "l"}
    resolved = [_resolve(rel, links) for rel in md5_list or {}]
    verify_bytes = sum(nodes[real].size for real in resolved if real in nodes)
    tick = _Progress(progress, copy_bytes + verify_bytes)
    copier = _Copier(iso, src_fd, image_size)

    def stop_requested() -> None:
        if should_stop is not None and should_stop():
            raise ExtractError(f"extraction of {iso.name} stopped on request")

    for node in plan.nodes:
        stop_requested()
        path = dest / node.rel
        if node.kind == "d":
            os.mkdir(path, 0o700)
        elif node.rel in link_to:
            os.link(dest / link_to[node.rel], path, follow_symlinks=False)
        elif node.kind == "f":
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            try:
                for offset, length in node.extents:
                    copier.copy(fd, offset, length, node.rel, _ticking(tick, stop_requested))
                os.fchmod(fd, _file_mode(node.mode))
            finally:
                os.close(fd)
    if md5_list:
        _verify_md5(md5_list, plan, iso, dest, tick, stop_requested)
    for node in plan.nodes:
        if node.kind == "l":
            os.symlink(node.target, dest / node.rel)
    for node in reversed(plan.nodes):  # deepest first, so a read-only folder is never written into again
        if node.kind == "d":
            os.chmod(dest / node.rel, _dir_mode(node.mode))
    os.chmod(dest, 0o555)
    if progress is not None and tick.last != tick.total:
        progress(tick.total, tick.total)
    return ExtractResult(plan.volume_id, len(files), copy_bytes, tuple(plan.warnings))


def _hard_links(files: list[_Node]) -> dict[str, str]:
    """{rel: rel of an earlier file} for files sharing all their data extents (and final mode) with it."""
    first: dict[tuple[tuple[tuple[int, int], ...], int], str] = {}
    link_to = {}
    for node in files:
        if node.extents:
            key = (node.extents, _file_mode(node.mode))
            if key in first:
                link_to[node.rel] = first[key]
            else:
                first[key] = node.rel
    return link_to


def _ticking(tick: _Progress, stop_requested: Callable[[], None]) -> Callable[[int], None]:
    def on_chunk(amount: int) -> None:
        tick(amount)
        stop_requested()

    return on_chunk


# --- md5sum.txt ----------------------------------------------------------------------------------------


def _read_md5sum(plan: _Plan, src_fd: int) -> dict[str, str] | None:
    """`md5sum.txt` at the root (Debian/Ubuntu: `<md5>  ./path`) as {resolved rel path: md5}, None when absent."""
    node = plan.by_rel().get("md5sum.txt")
    if node is None or node.kind != "f":
        return None
    data = b"".join(os.pread(src_fd, length, offset) for offset, length in node.extents)
    listed: dict[str, str] = {}
    for line in data.decode("utf-8", errors="replace").splitlines():
        match = re.fullmatch(r"([0-9a-fA-F]{32})\s+\*?(.+)", line.strip())
        if match:
            listed[match[2].removeprefix("./")] = match[1].lower()
    return listed


def _verify_md5(
    listed: dict[str, str],
    plan: _Plan,
    iso: Path,
    dest: Path,
    tick: _Progress,
    stop_requested: Callable[[], None],
) -> None:
    nodes = plan.by_rel()
    links = {rel: node.target for rel, node in nodes.items() if node.kind == "l"}
    bad: list[str] = []
    for rel, expected in listed.items():
        stop_requested()
        real = _resolve(rel, links)
        node = nodes.get(real) if real is not None else None
        if node is None or node.kind != "f":
            bad.append(f"{rel} (missing)")
            continue
        digest = hashlib.md5(usedforsecurity=False)
        fd = os.open(dest / real, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as handle:
            while chunk := handle.read(1024 * 1024):
                digest.update(chunk)
                tick(len(chunk))
        if digest.hexdigest() != expected:
            bad.append(f"{rel} (checksum mismatch)")
    if bad:
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        raise ExtractError(f"{iso.name} fails its md5sum.txt: {', '.join(bad[:3])}{more}")


def _resolve(rel: str, links: dict[str, str]) -> str | None:
    """`rel` with the planned symlinks in it followed; None when it leaves the tree or loops."""
    resolved, problem = _follow([], rel, links)
    return None if problem else resolved


# --- public helpers --------------------------------------------------------------------------------------


def read_volume_id(iso: Path) -> str:
    """The ISO's volume ID (e.g. "d-live 12.5.0 gn amd64"); ExtractError when the file is not an ISO."""
    handle, image = _open_image(Path(iso))
    try:
        return image.pvd.volume_identifier.decode("utf-8", errors="replace").strip()
    finally:
        image.close()
        handle.close()


class IsoTree(Tree):
    """The tree an extraction would produce, read straight from the image (for `isodrop inspect`)."""

    def __init__(self, iso: Path, iso_name: str = "") -> None:
        self.iso = Path(iso)
        self._handle: BinaryIO | None = None
        handle, image = _open_image(self.iso)
        try:
            self._plan = _plan(image, self.iso)
        except BaseException:
            handle.close()
            raise
        finally:
            image.close()
        self._handle = handle
        super().__init__(self._plan.volume_id, iso_name or self.iso.name)
        self._nodes = self._plan.by_rel()

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(self._plan.warnings)

    def _scan(self) -> dict[str, str]:
        return {rel: node.kind for rel, node in self._nodes.items()}

    def read_bytes(self, rel: str, limit: int = 256 * 1024) -> bytes | None:
        node = self._nodes.get(rel.strip("/"))
        if node is None or node.kind != "f" or self._handle is None:
            return None
        chunks = []
        for offset, length in node.extents:
            wanted = min(length, limit - sum(map(len, chunks)))
            if wanted <= 0:
                break
            chunks.append(os.pread(self._handle.fileno(), wanted, offset))
        return b"".join(chunks)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> IsoTree:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_handle", None) is not None:
            self.close()
