"""Writing the tree: the manifest becomes folders, files, hard links and symlinks under a new folder.

The file data is copied straight from the image's file descriptor at each extent's offset
(`os.copy_file_range`, else `os.sendfile`, else a read loop), several times faster than pulling every
file through pycdlib's Python-level buffers. An ISO places files on 2 KiB sectors, so about half of
them start in the middle of a page: the kernel's copy then moves every page in two halves (measured
1.7x slower than an aligned copy), and a plain read/write through a 128 KiB buffer is faster; those
are copied that way unless the trees' file system has blocks of 2 KiB or less, where
copy_file_range can share them (zero-copy, README). Large files are copied by a second thread while
the small ones are created. Everything is created relative to one descriptor of the
new folder (`dir_fd`), so no path handed to the kernel is longer than the manifest allows, files are
created with O_EXCL | O_NOFOLLOW, symlinks last, and any failure removes everything written.
"""

from __future__ import annotations

import errno
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from isodrop.extract.checksums import Checklist, hash_files, image_reader, read_md5sum, verify
from isodrop.extract.errors import ExtractError, ExtractResult, one_line
from isodrop.extract.image import read_manifest
from isodrop.extract.manifest import Extents, Manifest, Node, dir_mode, file_mode
from isodrop.removal import remove_tree

CHUNK = 8 * 1024 * 1024  # bytes per copy call: small enough for prompt progress and should_stop
PAGE = os.sysconf("SC_PAGE_SIZE")
READ_PIECE = 128 * 1024  # the read/write path's buffer: stays in the CPU cache (1 MiB measured slower)
LARGE_FILE = 32 * 1024 * 1024  # copied by the second thread
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class Copier:
    """Copies extents from the image fd, choosing the fastest system call the kernel accepts."""

    def __init__(self, manifest: Manifest, src_fd: int, share_unaligned: bool = False) -> None:
        self.manifest = manifest
        self.src_fd = src_fd
        self.method = "copy_file_range" if hasattr(os, "copy_file_range") else "sendfile"
        self.share_unaligned = share_unaligned  # blocks of 2 KiB: copy_file_range may share any extent

    def copy(self, dst_fd: int, node: Node, tick: Callable[[int], None]) -> None:
        buffer: memoryview | None = None
        for offset, length in node.extents:
            end = offset + length
            unaligned = offset % PAGE != 0 and not self.share_unaligned
            while offset < end:
                count = min(CHUNK, end - offset)
                try:
                    if unaligned:
                        buffer = buffer or memoryview(bytearray(min(READ_PIECE, node.size)))
                        copied = self._read_write(dst_fd, offset, buffer[: min(len(buffer), end - offset)])
                    else:
                        copied = self._copy_once(dst_fd, offset, count)
                except OSError as err:
                    raise ExtractError(
                        f"cannot copy {node.rel} from {self.manifest.iso_name}: {err.strerror or err}"
                    ) from err
                if copied == 0:
                    raise ExtractError(
                        f"ISO is truncated: {node.rel} ends at byte {end} but the image has "
                        f"{self.manifest.image_size} bytes"
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
        return self._read_write(dst_fd, offset, memoryview(bytearray(min(count, READ_PIECE))))

    def _read_write(self, dst_fd: int, offset: int, buffer: memoryview) -> int:
        got = os.preadv(self.src_fd, [buffer], offset)
        written = 0
        while written < got:
            written += os.write(dst_fd, buffer[written:got])
        return got


def current_umask() -> int:
    """The process umask, read without changing it (os.umask would, for every thread, for a moment)."""
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1], 8) for line in status if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError):
        return 0o777  # unknown: always fchmod


class Progress:
    """Calls the user's progress callback every ~0.5% (and at the end), and polls `should_stop` each time."""

    def __init__(
        self,
        callback: Callable[[int, int], None] | None,
        should_stop: Callable[[], bool] | None,
        iso_name: str,
    ) -> None:
        self.callback = callback
        self.should_stop = should_stop
        self.iso_name = iso_name
        self.total = self.done = self.last = 0
        self.step = 1
        self.lock = threading.Lock()

    def start(self, total: int) -> None:
        self.total, self.step = total, max(total // 200, 1)
        self.last = -self.step

    def check_stop(self) -> None:
        if self.should_stop is not None and self.should_stop():
            raise ExtractError(f"extraction of {self.iso_name} stopped on request")

    def __call__(self, amount: int) -> None:
        self.count(amount)
        self.check_stop()

    def count(self, amount: int) -> None:
        """Count without polling `should_stop` (the md5 thread: only the extracting thread polls it)."""
        with self.lock:  # the copy and the md5 check both count
            self.done += amount
            if self.callback is not None and (self.done - self.last >= self.step or self.done >= self.total):
                self.last = self.done
                self.callback(self.done, self.total)

    def finish(self) -> None:
        if self.callback is not None and self.last != self.total:
            self.callback(self.total, self.total)


class Hasher(threading.Thread):
    """Checks md5sum.txt while the tree is written: the listed files are hashed from the image, at
    the extents the copy reads, so the tree is never read back (which would also defeat zero-copy
    trees: reading shared blocks is a full read). The copy is the kernel's, from exactly those bytes.

    The large files are hashed in a second thread while the tree is written (pread and hashlib release
    the GIL for a whole MiB, so on two cores this costs about max(copy, hash) instead of their sum); the
    small ones afterwards in the extracting thread: hashing them in parallel would keep the GIL busy
    with short calls, and every one of the writer's thousands of system calls would then wait for it
    (measured: 3x slower on the 4,500-file image)."""

    LARGE = 1024 * 1024

    def __init__(self, checklist: Checklist, manifest: Manifest, src_fd: int, progress: Progress) -> None:
        super().__init__(name="md5sum", daemon=True)
        self.checklist, self.manifest, self.src_fd, self.progress = checklist, manifest, src_fd, progress
        self.abandon = threading.Event()
        self.error: BaseException | None = None
        self.digests: dict[Extents, str] = {}

    def run(self) -> None:
        try:
            self.digests = hash_files(
                self.checklist, self.manifest, image_reader(self.src_fd), self._tick, lambda n: n.size >= self.LARGE
            )
        except BaseException as err:  # noqa: BLE001 - handed to the extracting thread by finish()
            self.error = err

    def _tick(self, amount: int) -> None:
        if self.abandon.is_set():
            raise ExtractError("md5 check abandoned")
        self.progress.count(amount)

    def finish(self) -> None:
        """Hash the small files, wait for the large ones (still polling `should_stop`), compare all."""
        try:
            small = hash_files(
                self.checklist, self.manifest, image_reader(self.src_fd), self.progress, lambda n: n.size < self.LARGE
            )
            while self.is_alive():
                self.join(0.1)
                self.progress.check_stop()
        except BaseException:
            self.abandon.set()
            self.join()
            raise
        if self.error is not None:
            raise self.error
        verify(self.checklist, self.manifest, self.digests | small)  # large and small: every listed file


class LargeFileCopier:
    """A second thread that copies the large files while the extracting thread creates the rest.

    copy_file_range and read/write release the GIL for a whole chunk, so on two cores a 1 GB squashfs
    and 4,500 small files cost about max(both) instead of their sum. The thread starts with the first
    large file; the extracting thread hands over the new file's descriptor and keeps polling
    `should_stop`, this one only counts progress and stops when abandoned."""

    def __init__(self, copier: Copier, progress: Progress) -> None:
        self.copier, self.progress = copier, progress
        self.work: queue.SimpleQueue[tuple[int, Node] | None] = queue.SimpleQueue()
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None

    def submit(self, fd: int, node: Node) -> None:
        if self.thread is None:
            self.thread = threading.Thread(target=self._run, name="copy-large", daemon=True)
            self.thread.start()
        self.work.put((fd, node))

    def _run(self) -> None:
        while (item := self.work.get()) is not None:
            fd, node = item
            try:
                if self.error is None and not self.stop.is_set():
                    self.copier.copy(fd, node, self._tick)
            except BaseException as err:  # noqa: BLE001 - handed to the extracting thread
                self.error = self.error or err
            finally:
                os.close(fd)

    def _tick(self, amount: int) -> None:
        if self.stop.is_set():
            raise ExtractError("copy abandoned")
        self.progress.count(amount)

    def raise_error(self) -> None:
        if self.error is not None:
            raise self.error

    def finish(self) -> None:
        """Wait for the queued files (polling `should_stop`), then raise what the thread met."""
        if self.thread is not None:
            self.work.put(None)
            while self.thread.is_alive():
                self.thread.join(0.1)
                self.progress.check_stop()
        self.raise_error()

    def abandon(self) -> None:
        if self.thread is not None:
            self.stop.set()
            self.work.put(None)
            self.thread.join()


@dataclass
class TreeWriter:
    """Writes one manifest under the folder open as `root_fd`."""

    manifest: Manifest
    src_fd: int
    root_fd: int
    progress: Progress

    def write_data(self) -> None:
        """Folders, files and hard links, in manifest order (parents first); large files go to the
        second thread as soon as they are created, and are all written when this returns."""
        copier = Copier(self.manifest, self.src_fd, os.fstatvfs(self.root_fd).f_bsize <= 2048)
        large = LargeFileCopier(copier, self.progress)
        link_to = self.manifest.hard_links
        umask = current_umask()
        try:
            for node in self.manifest.nodes:
                self.progress.check_stop()
                large.raise_error()
                if node.kind == "d":
                    os.mkdir(node.rel, 0o700, dir_fd=self.root_fd)
                elif node.rel in link_to:
                    os.link(
                        link_to[node.rel],
                        node.rel,
                        src_dir_fd=self.root_fd,
                        dst_dir_fd=self.root_fd,
                        follow_symlinks=False,
                    )
                elif node.kind == "f":
                    mode = file_mode(node.mode)
                    # created with its final mode (a new file's descriptor stays writable); fchmod only
                    # when the umask would take bits away: files must be world-readable, whatever it is
                    fd = os.open(node.rel, _CREATE, mode, dir_fd=self.root_fd)
                    try:
                        if mode & umask:
                            os.fchmod(fd, mode)
                        if node.size >= LARGE_FILE:
                            large.submit(fd, node)  # it closes fd
                            fd = -1
                        else:
                            copier.copy(fd, node, self.progress)
                    finally:
                        if fd >= 0:
                            os.close(fd)
            large.finish()
        except BaseException:
            large.abandon()
            raise

    def finish(self) -> None:
        """Symlinks (only ones the manifest kept), then modes, deepest folder first, so nothing is
        ever written into a read-only folder."""
        for node in self.manifest.nodes:
            if node.kind == "l":
                os.symlink(node.target, node.rel, dir_fd=self.root_fd)
        for node in reversed(self.manifest.nodes):
            if node.kind == "d":
                os.chmod(node.rel, dir_mode(node.mode), dir_fd=self.root_fd)
        os.fchmod(self.root_fd, 0o555)


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
    between files and between 8 MiB chunks; when it returns True the extraction is abandoned. Nothing but
    ExtractError (and KeyboardInterrupt/SystemExit) leaves this function, whatever the image holds.
    """
    iso, dest = Path(iso), Path(dest)
    handle, manifest = read_manifest(iso)
    with handle:
        try:
            checklist = read_md5sum(manifest, handle.fileno()) if verify_checksums else None
        except ExtractError:
            raise
        except Exception as err:  # noqa: BLE001 - image content: whatever it raises is this ISO's failure
            raise ExtractError(f"cannot read md5sum.txt of {iso.name}: {one_line(err)}") from err
        try:
            os.mkdir(dest, 0o700)
        except OSError as err:
            raise ExtractError(f"cannot create {dest} for {iso.name}: {err.strerror}") from err
        try:
            root_fd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as err:
            remove_tree(dest)
            raise ExtractError(f"cannot open {dest} for {iso.name}: {err.strerror}") from err
        try:
            try:
                return _write(manifest, handle.fileno(), root_fd, checklist, Progress(progress, should_stop, iso.name))
            finally:
                os.close(root_fd)
        except ExtractError:
            remove_tree(dest)
            raise
        except OSError as err:  # the destination side: disk full, quota, a vanished folder
            remove_tree(dest)
            raise ExtractError(f"cannot write the tree of {iso.name} to {dest}: {err}") from err
        except Exception as err:  # noqa: BLE001
            remove_tree(dest)
            raise ExtractError(f"cannot write the tree of {iso.name}: {one_line(err)}") from err
        except BaseException:
            remove_tree(dest)
            raise


def _write(
    manifest: Manifest, src_fd: int, root_fd: int, checklist: Checklist | None, progress: Progress
) -> ExtractResult:
    progress.start(manifest.data_bytes + (checklist.data_bytes(manifest) if checklist else 0))
    writer = TreeWriter(manifest, src_fd, root_fd, progress)
    hasher = Hasher(checklist, manifest, src_fd, progress) if checklist is not None else None
    if hasher is not None:
        hasher.start()
    try:
        writer.write_data()
    except BaseException:
        if hasher is not None:
            hasher.abandon.set()
            hasher.join()
        raise
    if hasher is not None:
        hasher.finish()
    writer.finish()
    progress.finish()
    return ExtractResult(manifest.volume_id, len(manifest.files), manifest.data_bytes, tuple(manifest.warnings))
