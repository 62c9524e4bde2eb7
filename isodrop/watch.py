"""Watching the drop folder: events only wake the service; the folder listing is the truth.

`DropWatcher` turns any watchdog event under the drop folder into a wake-up. `Settler` decides when
an ISO is completely copied (see its docstring).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from isodrop.reconcile import DropFile

log = logging.getLogger(__name__)

# Our own reads of an ISO must not wake us again (watchdog >= 4 reports opens and read-only closes).
_IGNORED_EVENTS = {"opened", "closed_no_write"}


def is_iso_name(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return base.lower().endswith(".iso") and not base.startswith(".")


def list_drop(drop_dir: Path) -> dict[str, os.stat_result]:
    """ISOs under the drop folder (hidden files and folders skipped: copy tools' temporary names)."""
    found: dict[str, os.stat_result] = {}
    for dirpath, dirnames, filenames in os.walk(drop_dir, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if not is_iso_name(name):
                continue
            path = Path(dirpath, name)
            try:
                st = path.stat()
            except OSError:
                continue  # vanished or a dangling link
            if os.path.isfile(path):
                found[path.relative_to(drop_dir).as_posix()] = st
    return found


def open_for_writing(path: Path) -> bool:
    """True when some process we can see has `path` open for writing (still being copied)."""
    try:
        target = os.stat(path)
    except OSError:
        return False
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        fd_dir = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                st = os.stat(f"{fd_dir}/{fd}")
                if (st.st_dev, st.st_ino) != (target.st_dev, target.st_ino):
                    continue
                with open(f"/proc/{pid}/fdinfo/{fd}") as info:
                    flags = next((int(line.split()[1], 8) for line in info if line.startswith("flags:")), 0)
            except (OSError, ValueError):
                continue
            if flags & (os.O_WRONLY | os.O_RDWR):
                return True
    return False


class Settler:
    """Tells a finished copy from one in progress, from what can be seen of the file.

    An ISO is complete when no process we can see has it open for writing, and either
    - its writer closed it (an inotify close-write event) and it has not changed for `settle_seconds`
      since: the usual case, served about a second after the copy ends; or
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
    ) -> None:
        self.settle_seconds = settle_seconds
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

    def observe(
        self, drop_dir: Path, listing: dict[str, os.stat_result], known: frozenset[tuple[str, int, int]] = frozenset()
    ) -> list[DropFile]:
        """DropFiles for the listing; `known` (name, size, mtime_ns) are already handled, hence stable."""
        now, wall = self.clock(), self.wall_clock()
        result = []
        for name, st in listing.items():
            signature = (st.st_size, st.st_mtime_ns)
            previous = self._seen.get(name)
            if previous is None or previous[:2] != signature:
                self._seen[name] = (*signature, now)
                since = now
            else:
                since = previous[2]
            unchanged_for = now - since
            finished = (self._closed.get(name) == signature and unchanged_for >= self.settle_seconds) or (
                max(unchanged_for, wall - st.st_mtime) >= self.quiet_seconds
            )
            stable = (name, *signature) in known or (finished and not open_for_writing(drop_dir / name))
            result.append(DropFile(name=name, size=st.st_size, mtime_ns=st.st_mtime_ns, stable=stable))
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
        if event.event_type in _IGNORED_EVENTS:
            return
        path = Path(os.fsdecode(event.src_path))
        if event.event_type == "closed" and not event.is_directory:  # close after writing
            with contextlib.suppress(ValueError):
                self.settler.closed(path, path.relative_to(self.drop_dir).as_posix())
        self.wake(f"{event.event_type} {path}")


class DropWatcher:
    """A watchdog observer on the drop folder: every change calls `wake(reason)`, and a writer closing
    a file is told to the settler."""

    def __init__(self, drop_dir: Path, wake: Callable[[str], None], settler: Settler) -> None:
        self.drop_dir = drop_dir
        self._observer = Observer()
        self._observer.schedule(_WakeHandler(drop_dir, wake, settler), str(drop_dir), recursive=True)

    def start(self) -> None:
        self._observer.daemon = True
        self._observer.start()

    def stop(self) -> None:
        self._observer.stop()
        if self._observer.is_alive() and threading.current_thread() is not self._observer:
            self._observer.join(timeout=5)
