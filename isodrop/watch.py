"""Watching the drop folder: events only wake the service; the folder listing is the truth.

`DropWatcher` turns any watchdog event under the drop folder into a wake-up, and so does anything that
makes a watch stop working: a watchdog thread ending, or (`PathSentinel`) a mount change or a name on
the way to the drop folder changing. Every thread here blocks without a timeout, so an idle service
never wakes up. `Settler` decides when an ISO is completely copied (see its docstring).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import select
import struct
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.inotify_c import InotifyConstants

from isodrop import dropfolder
from isodrop.plan import DropFile
from isodrop.writers import writers, writers_of

log = logging.getLogger(__name__)

# Our own reads of an ISO must not wake us again (watchdog >= 4 reports opens and read-only closes).
_IGNORED_EVENTS = {"opened", "closed_no_write"}


class Settler:
    """Tells a finished copy from one in progress, from what can be seen of the file.

    An ISO is complete when no process we can see has it open for writing, and either
    - its writer closed it (an inotify close-write event), it is unchanged since, and no writer can be
      hidden from us (every process that may write it shows us its descriptors, no nfsd/ksmbd): a local
      `cp` as the service's user (or with CAP_SYS_PTRACE), taken at once, within milliseconds; or
    - its writer closed it and it has not changed for `settle_seconds` since, while some writer could be
      hidden (Samba's smbd children, another user's process): served about a second after the copy ends; or
    - it has not been written for `quiet_seconds`: for writers whose close we cannot see (a copy into
      an NFS-mounted drop folder, a restart while nothing was copying) or who are invisible in /proc
      to the sandboxed service (smbd runs with more privileges than isodrop).
    """

    def __init__(
        self,
        settle_seconds: float,
        quiet_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        see_writers: Callable[[Path], tuple[bool, bool]] | None = None,
    ) -> None:
        self.settle_seconds = settle_seconds
        self.see_writers = see_writers or writers  # (writing, could be hidden); tests model hidden writers
        self._see_each = see_writers
        self.quiet_seconds = quiet_seconds
        self.clock = clock
        self.wall_clock = wall_clock
        self._seen: dict[str, tuple[int, int, float]] = {}
        self._closed: dict[str, tuple[int, int]] = {}  # name -> (size, mtime_ns) when its writer closed it
        self._pending = 0

    def pending(self) -> int:
        """How many ISOs looked unfinished at the last observation."""
        return self._pending

    def closed(self, path: Path, name: str) -> None:
        """A writer closed `name` (called from the watcher thread): remember the file as it was then."""
        try:
            st = path.stat()
        except OSError:
            return
        self._closed[name] = (st.st_size, st.st_mtime_ns)

    def _may_be_finished(self, name: str, signature: tuple[int, int], unchanged_for: float, wall: float) -> bool:
        """Whether the writers are worth looking for: closed by its writer, or quiet for long enough."""
        closed = self._closed.get(name) == signature
        return closed or max(unchanged_for, wall - signature[1] / 1e9) >= self.quiet_seconds

    def _finished(
        self, name: str, signature: tuple[int, int], unchanged_for: float, wall: float, seen: tuple[bool, bool]
    ) -> bool:
        writing, hidden = seen
        if writing:
            return False
        closed = self._closed.get(name) == signature
        if closed and not hidden:
            return True
        return (closed and unchanged_for >= self.settle_seconds) or (
            max(unchanged_for, wall - signature[1] / 1e9) >= self.quiet_seconds
        )

    def observe(
        self, drop_dir: Path, listing: dict[str, os.stat_result], known: frozenset[tuple[str, int, int]] = frozenset()
    ) -> list[DropFile]:
        """DropFiles for the listing; `known` (name, size, mtime_ns) are already handled, hence stable.
        The writers of all files that may be finished are looked for in one walk over /proc."""
        now, wall = self.clock(), self.wall_clock()
        stable: dict[str, bool] = {}
        to_look: dict[str, tuple[tuple[int, int], float]] = {}
        for name, st in listing.items():
            signature = (st.st_size, st.st_mtime_ns)
            previous = self._seen.get(name)
            if previous is None or previous[:2] != signature:
                self._seen[name] = (*signature, now)
                since = now
            else:
                since = previous[2]
            if (name, *signature) in known:
                stable[name] = True
            elif self._may_be_finished(name, signature, now - since, wall):
                to_look[name] = (signature, now - since)
            else:
                stable[name] = False
        if self._see_each is not None:  # a model of the writers (tests): asked file by file
            seen = {drop_dir / name: self._see_each(drop_dir / name) for name in to_look}
        else:
            seen = writers_of([drop_dir / name for name in to_look])
        for name, (signature, unchanged_for) in to_look.items():
            stable[name] = self._finished(name, signature, unchanged_for, wall, seen[drop_dir / name])
        result = [
            DropFile(name=name, size=st.st_size, mtime_ns=st.st_mtime_ns, stable=stable[name])
            for name, st in listing.items()
        ]
        for name in list(self._seen):
            if name not in listing:
                del self._seen[name]
                self._closed.pop(name, None)
        self._pending = sum(1 for d in result if not d.stable)
        return result


class _WakeHandler(FileSystemEventHandler):
    def __init__(self, drop_dir: Path, wake: Callable[[str], None], settler: Settler) -> None:
        self.drop_dir = drop_dir
        self.wake = wake
        self.settler = settler

    def on_any_event(self, event: FileSystemEvent) -> None:
        try:
            if event.event_type in _IGNORED_EVENTS:
                return
            path = Path(os.fsdecode(event.src_path))
            if event.event_type == "closed" and not event.is_directory:  # close after writing
                with contextlib.suppress(ValueError):
                    self.settler.closed(path, path.relative_to(self.drop_dir).as_posix())
            self.wake(f"{event.event_type} {path}")
        except Exception:  # an exception here would end watchdog's dispatch thread
            log.exception("drop folder event not handled")
            self.wake("event not handled")


class _NamedFilesHandler(FileSystemEventHandler):
    """The events of a few files in one watched folder, each name to its own callback: written to, closed
    after writing, created, removed, renamed from or to (logrotate renames a log and creates a new one).
    Other names in the folder, the folder itself and our own reads (opens, read-only closes) wake no one."""

    def __init__(self, callbacks: Mapping[str, Callable[[str], None]]) -> None:
        self.callbacks = dict(callbacks)

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in _IGNORED_EVENTS or event.is_directory:
            return
        try:
            for raw in (event.src_path, getattr(event, "dest_path", "")):
                path = os.fsdecode(raw)
                changed = self.callbacks.get(os.path.basename(path)) if path else None
                if changed is not None:
                    changed(f"{event.event_type} {path}")
        except Exception:  # an exception here would end watchdog's dispatch thread
            log.exception("file event not handled")


def _reporting_exit(base: type, ended: Callable[[threading.Thread], None]) -> type:
    """A subclass of the watchdog thread class `base` whose thread calls `ended(thread)` when it ends, for
    whatever reason (an exception, a stop, its folder deleted): a watch that stops working wakes the
    service at once instead of being looked for. Only `run()` is wrapped, so the constructor stays
    watchdog's own (positional in 2.x, keyword-only arguments in 4 and later)."""

    class Reporting(base):
        def run(self) -> None:
            try:
                super().run()
            finally:
                self.isodrop_ended = True  # is_alive() stays true until `ended` has returned
                ended(self)

    Reporting.__name__ = Reporting.__qualname__ = f"Reporting{base.__name__}"
    return Reporting


def _running(thread: object) -> bool:
    """A watchdog thread that is not ending: not told to stop (its stop() ends its emitters before its own
    thread ends), and not past its run()."""
    return thread.is_alive() and thread.should_keep_running() and not getattr(thread, "isodrop_ended", False)


# inotify(7) masks, from watchdog's constants (plain ints in 2.x and 7.x): what happens to a name in a
# folder, or to the folder itself
_IN = InotifyConstants
_NAME_EVENTS = _IN.IN_MOVED_FROM | _IN.IN_MOVED_TO | _IN.IN_CREATE | _IN.IN_DELETE
_SELF_EVENTS = _IN.IN_DELETE_SELF | _IN.IN_MOVE_SELF | _IN.IN_UNMOUNT | _IN.IN_IGNORED | _IN.IN_Q_OVERFLOW
_EVENT_HEADER = struct.Struct("iIII")  # wd, mask, cookie, len; then len bytes of NUL-padded name


class PathSentinel:
    """Calls `changed()` whenever what the path `path` names may have changed: a mount or unmount
    anywhere in this mount namespace (the kernel marks /proc/self/mountinfo with POLLPRI on every change
    of the mount table), a folder on the way to it renamed or removed, or `path` itself (or a missing
    folder on the way, or a symlink on the way) created, removed or renamed in its folder. One inotify
    watch on each existing folder above `path`; the events for other names in the drop folder's parent
    are dropped, and the watches are set up again after each change.

    Its thread blocks in poll(2) without a timeout: nothing happening costs no wake-up. Without
    /proc/self/mountinfo or an inotify instance it logs a warning and follows what it still can; the
    rescan (rescan_seconds) notices the rest."""

    def __init__(self, path: Path, changed: Callable[[], None]) -> None:
        self.path = Path(os.path.abspath(path))
        self.changed = changed
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._stop_r, self._stop_w = os.pipe2(os.O_CLOEXEC)
        self._mounts = self._open_mountinfo()
        self._inotify = -1
        self._names: dict[int, bytes] = {}  # inotify wd -> the name under that folder which leads to `path`
        self._poller = select.poll()
        self._poller.register(self._stop_r, select.POLLIN)
        if self._mounts is not None:
            self._poller.register(self._mounts, select.POLLPRI)  # POLLERR|POLLPRI: the mount table changed
        self._arm()
        self._thread = threading.Thread(target=self._run, name="drop-sentinel", daemon=True)

    @staticmethod
    def _open_mountinfo() -> int | None:
        try:
            return os.open("/proc/self/mountinfo", os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            log.warning("cannot follow mounts and unmounts of the drop folder (%s); the rescan notices them", exc)
            return None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._stop_w, b"x")
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)
        if self._thread.is_alive():
            return  # still reading them: the process's end closes them
        for fd in (self._stop_r, self._stop_w, self._mounts, self._inotify):
            if fd is not None and fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def _arm(self) -> None:
        """A new inotify instance watching each existing folder on the way to `path`, for its next name."""
        if self._inotify >= 0:
            self._poller.unregister(self._inotify)
            os.close(self._inotify)
        self._names = {}
        self._inotify = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self._inotify < 0:
            log.warning("cannot watch the folders above %s: %s", self.path, os.strerror(ctypes.get_errno()))
            return
        self._poller.register(self._inotify, select.POLLIN)
        folder = Path("/")
        for name in self.path.parts[1:]:
            # Each folder on the way, for its own rename or removal; the names in it only where one of
            # them matters: the drop folder's parent, the deepest folder there is when one on the way is
            # missing, a folder whose next name is a symlink. Not the busy /, /tmp or /srv otherwise.
            nxt = folder / name
            named = nxt == self.path or not os.path.isdir(nxt) or os.path.islink(nxt)
            mask = _IN.IN_DELETE_SELF | _IN.IN_MOVE_SELF | _IN.IN_ONLYDIR | (_NAME_EVENTS if named else 0)
            wd = self._libc.inotify_add_watch(self._inotify, os.fsencode(folder), mask)
            if wd < 0:
                break  # not there (or no folder): the watch on its parent sees it come
            self._names[wd] = os.fsencode(name)
            folder = nxt

    def _relevant(self) -> bool:
        """Read the queued inotify events: does any concern a name on the way, or a watched folder itself?"""
        relevant = False
        for wd, mask, name in _queued_events(self._inotify):
            if mask & _IN.IN_Q_OVERFLOW or (
                wd in self._names and (mask & _SELF_EVENTS or (mask & _NAME_EVENTS and name == self._names[wd]))
            ):
                relevant = True
        return relevant

    def _run(self) -> None:
        while True:
            try:
                ready = dict(self._poller.poll())  # no timeout: only an event ends this
            except InterruptedError:
                continue
            if self._stop_r in ready:
                return
            news = self._mounts in ready
            if self._inotify in ready:
                news = self._relevant() or news
            if not news:
                continue
            try:
                self._arm()  # first: a change after this is queued for the next round
                self.changed()
            except Exception:  # the sentinel must outlive any one look at the drop folder
                log.exception("the drop folder sentinel could not look at %s", self.path)


def _queued_events(fd: int) -> Iterator[tuple[int, int, bytes]]:
    """(watch descriptor, mask, name) of every event queued on the non-blocking inotify `fd`."""
    with contextlib.suppress(BlockingIOError):
        while True:
            data = os.read(fd, 65536)
            for offset in _event_offsets(data):
                wd, mask, _cookie, length = _EVENT_HEADER.unpack_from(data, offset)
                yield wd, mask, data[offset + _EVENT_HEADER.size : offset + _EVENT_HEADER.size + length].rstrip(b"\0")


def _event_offsets(data: bytes) -> Iterator[int]:
    offset = 0
    while offset + _EVENT_HEADER.size <= len(data):
        yield offset
        offset += _EVENT_HEADER.size + _EVENT_HEADER.unpack_from(data, offset)[3]


class DropWatcher:
    """Non-recursive watches on the drop folder and its folders up to dropfolder.MAX_DEPTH: every change
    calls `wake(reason)`, and a writer closing a file is told to the settler.

    The folders to watch come from each pass's listing (`refresh`), so no nesting is ever walked here,
    and a new folder is watched from the pass its creation woke. A watch that stops working wakes the
    service at once, whose next `refresh` re-creates it: a watchdog emitter or observer thread that
    ends (an exception, its folder deleted) calls `wake` as it ends, and a `PathSentinel` wakes it when a
    watched folder is no longer what the path names (unmounted, mounted over, replaced, renamed away,
    removed) or the drop folder comes back. Nothing here polls: idle, no thread wakes up.

    `follow` is the same machinery for single files elsewhere (the logs isodrop clients reads): a file
    changing calls its own callback, not `wake`, so the service can tell it from a drop-folder change.
    """

    def __init__(self, drop_dir: Path, wake: Callable[[str], None], settler: Settler) -> None:
        self.drop_dir = drop_dir
        self.wake = wake
        self._handler = _WakeHandler(drop_dir, wake, settler)
        self._watches: dict[str, tuple[object, object]] = {}  # rel folder -> (watch, (dev, ino))
        self._followed: dict[Path, tuple[object, object]] = {}  # folder of followed files -> (watch, identity)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._observer = self._new_observer()
        self._sentinel: PathSentinel | None = None
        self.restarts = 0
        self.unwatched = 0  # folders beyond MAX_WATCHED_FOLDERS

    def _new_observer(self) -> Observer:
        observer = _reporting_exit(Observer, self._thread_ended)()
        # every emitter it creates reports its end too (the same attribute in watchdog 2.x and 6+)
        observer._emitter_class = _reporting_exit(observer._emitter_class, self._thread_ended)
        observer.daemon = True
        return observer

    def _thread_ended(self, thread: threading.Thread) -> None:
        """A watchdog thread ended (in that thread; it must not wait for `_lock`, which `refresh` holds
        while it joins the emitters it unschedules): wake the service unless we ended it ourselves."""
        if self._stopping.is_set() or getattr(thread, "isodrop_retired", False):
            return
        watch = getattr(thread, "watch", None)
        if watch is None:
            self.wake("watch stopped: the drop folder watcher thread ended")
            return
        folder = Path(os.fsdecode(watch.path))
        rel = folder.relative_to(self.drop_dir).as_posix() if self.drop_dir in (folder, *folder.parents) else folder
        self.wake(f"watch stopped: {rel}")

    def start(self) -> None:
        self._observer.start()
        with contextlib.suppress(OSError):
            st = os.stat(self.drop_dir)
            self.refresh({"": (st.st_dev, st.st_ino)})
        self._sentinel = PathSentinel(self.drop_dir, self._look_at_folders)
        self._sentinel.start()

    def _emitter(self, watch: object) -> object | None:
        emitters = getattr(self._observer, "_emitter_for_watch", None)
        emitter = emitters.get(watch) if isinstance(emitters, dict) else None
        if emitter is None:
            emitter = next((e for e in self._observer.emitters if e.watch == watch), None)
        return emitter

    def _emitter_alive(self, watch: object) -> bool:
        emitter = self._emitter(watch)
        return emitter is not None and _running(emitter)

    def dead(self) -> list[str]:
        """Watched folders whose watch no longer works (all of them when the observer itself stopped)."""
        if not _running(self._observer):
            return list(self._watches) or [""]
        return [rel for rel, (watch, _id) in list(self._watches.items()) if not self._emitter_alive(watch)]

    def _retire(self, observer: Observer, watch: object | None = None) -> None:
        """Mark the emitters we end ourselves (one watch's, or all of a dead observer's), so their end wakes no one."""
        for emitter in list(observer.emitters):
            if watch is None or emitter.watch == watch:
                emitter.isodrop_retired = True

    def refresh(self, folders: dict[str, tuple[int, int]]) -> None:
        """Watch exactly `folders` (relative name -> (st_dev, st_ino)), the first MAX_WATCHED_FOLDERS of
        them, shallowest first; re-create watches whose folder changed identity or whose emitter died."""
        with self._lock:
            if self._stopping.is_set():
                return
            self._keep_observer_running()
            wanted = sorted(folders, key=lambda rel: (rel.count("/") + bool(rel), rel))
            self.unwatched = max(0, len(wanted) - dropfolder.MAX_WATCHED_FOLDERS)
            self.unwatched += self._sync(
                self._watches,
                {
                    rel: (self.drop_dir / rel if rel else self.drop_dir, folders[rel], self._handler)
                    for rel in wanted[: dropfolder.MAX_WATCHED_FOLDERS]
                },
            )

    def follow(self, files: Mapping[Path, Callable[[str], None]]) -> None:
        """Also watch exactly these files (outside the drop folder: the logs `isodrop clients` reads), each
        change to one calling its callback with a reason: one non-recursive watch on each file's folder,
        filtered by name, so a file created, replaced or rotated is followed too. A folder that is not there
        is no error and not watched; call this again after each pass (as the service does) to watch it once
        it exists, and to re-create a watch whose folder was replaced or whose thread ended."""
        with self._lock:
            if self._stopping.is_set():
                return
            self._keep_observer_running()
            by_folder: dict[Path, dict[str, Callable[[str], None]]] = {}
            for path, changed in files.items():
                by_folder.setdefault(Path(os.path.abspath(path)).parent, {})[path.name] = changed
            wanted: dict[Path, tuple[Path, object, FileSystemEventHandler]] = {}
            for folder, callbacks in by_folder.items():
                try:
                    st = os.stat(folder)
                except OSError:
                    continue
                identity = (st.st_dev, st.st_ino, frozenset(callbacks.items()))
                wanted[folder] = (folder, identity, _NamedFilesHandler(callbacks))
            self._sync(self._followed, wanted)

    def _keep_observer_running(self) -> None:
        """A dead observer (its thread ended) is replaced by a new one, with none of the old watches."""
        if _running(self._observer):
            return
        log.warning("the drop folder watcher stopped; starting a new one")
        self.restarts += 1
        old, self._observer = self._observer, self._new_observer()
        self._retire(old)
        with contextlib.suppress(Exception):
            old.unschedule_all()  # ends the emitters a dead observer left behind
        self._observer.start()
        self._watches.clear()
        self._followed.clear()

    def _sync(
        self,
        watches: dict[Any, tuple[object, object]],
        wanted: Mapping[Any, tuple[Path, object, FileSystemEventHandler]],
    ) -> int:
        """Make `watches` (key -> (watch, identity)) the `wanted` ones (key -> (folder, identity, handler)):
        a watch whose identity changed or whose emitter died is re-created. How many could not be made."""
        for key in list(watches):
            watch, identity = watches[key]
            alive = self._emitter_alive(watch)
            same = key in wanted and wanted[key][1] == identity
            if same and alive:
                continue
            if same:
                log.warning("the watch on %s stopped; watching it again", wanted[key][0])
                self.restarts += 1
            self._retire(self._observer, watch)
            with contextlib.suppress(Exception):
                self._observer.unschedule(watch)
            del watches[key]
        failed = 0
        for key, (path, identity, handler) in wanted.items():
            if key in watches:
                continue
            try:
                watch = self._observer.schedule(handler, str(path), recursive=False)
            except Exception as exc:  # gone again, not a folder, inotify limits: the rescan covers it
                log.debug("cannot watch %s: %s", path, exc)
                failed += 1
                continue
            watches[key] = (watch, identity)
        return failed

    def _look_at_folders(self) -> None:
        """The sentinel saw a mount change or a name above the drop folder change: wake the service when
        a watched folder is no longer the one its path names (unmounted, mounted over, replaced, removed),
        or the drop folder, not watched, is there (back, or mounted)."""
        with self._lock:
            watched: dict[str, tuple[int, int] | None] = {
                rel: identity for rel, (_w, identity) in self._watches.items()
            }
        watched.setdefault("", None)
        for rel, identity in sorted(watched.items()):
            try:
                st = os.stat(self.drop_dir / rel if rel else self.drop_dir)
                now: tuple[int, int] | None = (st.st_dev, st.st_ino)
            except OSError:
                now = None
            if now != identity:
                self.wake(f"the drop folder {'itself' if not rel else 'folder ' + rel} changed")
                return

    def stop(self) -> None:
        self._stopping.set()
        if self._sentinel is not None:
            self._sentinel.stop()
        self._observer.stop()
        if self._observer.is_alive() and threading.current_thread() is not self._observer:
            self._observer.join(timeout=5)
