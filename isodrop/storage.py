"""Can extraction share the ISO's blocks instead of copying them (zero-copy trees)?

`copy_file_range` shares blocks (reflink) when the source and the destination are on one file system
that supports it, and only for whole blocks at the same offset within a block. ISO 9660 places file
data on 2 KiB sectors, so only a file system with reflink AND 2 KiB blocks can share nearly all of an
ISO's data: XFS made with `mkfs.xfs -b size=2048 -m reflink=1`. With 4 KiB blocks (XFS, btrfs, which
refuses smaller ones) about 1% is shared, and the kernel silently copies the rest. Nothing fails either
way; this only tells the user what their disk layout costs and how to get the free kind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from isodrop.findings import OK, WARN, Finding

ISO_SECTOR = 2048
REFLINK_FILE_SYSTEMS = ("xfs", "btrfs", "bcachefs", "ocfs2")
_FICLONE = 0x40049409  # _IOW(0x94, 9, int)
_HOWTO = (
    "put the drop folder and the trees on one XFS volume made with `mkfs.xfs -b size=2048 -m reflink=1`"
    " (/usr/share/doc/isodrop/operations.md: zero-copy storage)"
)


def _existing(path: Path) -> Path:
    return next((p for p in (path, *path.parents) if p.exists()), Path("/"))


def file_system_type(path: Path) -> str:
    """The type of the file system holding `path` ("xfs", "ext4", ...), from /proc/self/mountinfo."""
    dev = os.stat(_existing(path)).st_dev
    wanted = f"{os.major(dev)}:{os.minor(dev)}"
    found = ""
    with contextlib.suppress(OSError), open("/proc/self/mountinfo") as mounts:
        for line in mounts:
            fields = line.split()
            if len(fields) > 4 and fields[2] == wanted and " - " in line:
                found = line.split(" - ", 1)[1].split()[0]  # the last mount of that device wins
    return found or "unknown"


def clone_works(folder: Path) -> bool | None:
    """Whether a reflink clone works inside `folder` (a probe with two temporary files there); None when
    it cannot be tried (the folder is missing or not writable)."""
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        return None
    src = dst = -1
    names = [folder / f".isodrop-reflink-probe-{os.getpid()}-{i}" for i in (1, 2)]
    try:
        src = os.open(names[0], os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        os.write(src, b"\0" * 65536)
        dst = os.open(names[1], os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        fcntl.ioctl(dst, _FICLONE, src)
        return True
    except OSError:
        return False
    finally:
        for fd in (src, dst):
            if fd >= 0:
                os.close(fd)
        for name in names:
            with contextlib.suppress(OSError):
                os.unlink(name)


def zero_copy_report(drop_dir: Path, trees_dir: Path, temporaries: Path | None = None) -> list[Finding]:
    """Findings for `isodrop check`: OK when extraction shares the ISO's blocks, else WARN with the
    reason and what to do (never FAIL: copying works, it only costs disk and time). Reflink is tried
    in `temporaries` (where trees are built, isodrop.trees) when it exists, else in trees_dir."""
    drop, trees = _existing(drop_dir), _existing(trees_dir)
    if os.stat(drop).st_dev != os.stat(trees).st_dev:
        return [
            Finding(
                WARN,
                f"zero-copy: drop_dir and trees_dir are on different file systems, so every byte is copied; {_HOWTO}",
            )
        ]
    kind = file_system_type(trees)
    block = os.statvfs(trees).f_bsize
    if kind not in REFLINK_FILE_SYSTEMS:
        return [Finding(WARN, f"zero-copy: {kind} cannot share blocks (no reflink), so every byte is copied; {_HOWTO}")]
    probe = clone_works(temporaries if temporaries is not None and temporaries.is_dir() else trees_dir)
    if probe is False:
        return [
            Finding(WARN, f"zero-copy: {kind} at {trees} has reflink turned off, so every byte is copied; {_HOWTO}")
        ]
    if block > ISO_SECTOR:
        return [
            Finding(
                WARN,
                f"zero-copy: {kind} at {trees} has {block}-byte blocks, but ISO files start on 2048-byte sectors,"
                f" so only about 1% of the data can be shared; {_HOWTO}",
            )
        ]
    tried = "" if probe else " (reflink not probed: trees_dir is not there yet)"
    return [Finding(OK, f"zero-copy: {kind} with {block}-byte blocks and reflink: trees share the ISOs' blocks{tried}")]
