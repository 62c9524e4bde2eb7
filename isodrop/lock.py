"""One writer per state folder: `serve` and `scan` both rewrite trees, menus, exports and state records,
so two of them at once (a `scan` typed while the service runs) would race each other's renames and
removals. The first takes an exclusive flock on `state_dir/lock` and writes its pid and command there;
the second is refused with a message naming the holder. The kernel drops the lock when the holder exits,
however it exits, so a stale file never blocks anyone."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

LOCK_NAME = "lock"

_held: dict[Path, int] = {}  # state folder -> open lock file descriptor, kept until the process exits


class Busy(Exception):
    """Another isodrop process holds the state folder; the message says which one."""


class Unusable(Exception):
    """The state folder or its lock file cannot be created or opened (the message says why)."""


def take(state_dir: Path, command: str) -> None:
    """Hold the state folder's lock for the rest of this process, or raise Busy naming the holder."""
    state_dir = Path(state_dir)
    if state_dir in _held:
        return
    path = state_dir / LOCK_NAME
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise Unusable(f"cannot open the state folder's lock {path}: {exc.strerror or exc} (state_dir)") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(fd)
        os.close(fd)
        raise Busy(
            f"{holder} is running on this state folder ({state_dir}); `isodrop {command}` would race it. "
            "The service rescans on its own (systemctl reload isodrop forces a pass); "
            "otherwise stop it first (systemctl stop isodrop)."
        ) from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()} isodrop {command}\n".encode(), 0)
    _held[state_dir] = fd


def _holder(fd: int) -> str:
    """`isodrop serve (pid N)` from the lock file, or a plain description while the holder is still writing it."""
    try:
        text = os.pread(fd, 200, 0).decode("ascii", "replace").split()
    except OSError:
        text = []
    if len(text) >= 3 and text[0].isdigit():
        return f"{' '.join(text[1:3])} (pid {text[0]})"
    return "another isodrop process"


def release(state_dir: Path) -> None:
    """Give up the state folder's lock (the service moved to another state folder on reload)."""
    fd = _held.pop(Path(state_dir), None)
    if fd is not None:
        os.close(fd)  # closing the only descriptor drops the flock
