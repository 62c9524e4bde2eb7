"""Removing a folder tree safely: however deep, however long its paths, never following a symlink.

Below the trees folder's owner (isodrop.trees) and extraction (isodrop.extract.write), which both
remove trees: a failed extraction its partial tree, the trees folder its retired trees and temporaries.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def remove_tree(path: Path) -> None:
    """Delete `path` and everything below it, even read-only folders, never following a symlink.

    Works on directory descriptors with an explicit stack, one level open at a time: neither the depth
    of a tree (thousands of nested folders) nor the length of its paths (past PATH_MAX) matters, and a
    symlink swapped in for a folder is removed, never entered."""
    path = Path(path)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(info.st_mode):
        os.unlink(path)
        return
    top_parent = os.open(path.parent, _DIR_FLAGS & ~os.O_NOFOLLOW)
    try:
        _remove_dir_at(top_parent, path.name)
    finally:
        os.close(top_parent)


def _remove_dir_at(parent_fd: int, name: str) -> None:
    """Empty and remove the folder `name` in `parent_fd`, walking down with descriptors."""
    parent_info = os.fstat(parent_fd)
    chain: list[tuple[str, int, int]] = [(name, parent_info.st_dev, parent_info.st_ino)]  # (name, parent dev/ino)
    fd = _open_writable_dir(name, parent_fd)
    while True:
        child = _first_subdir_after_unlinking_the_rest(fd)
        if child is not None:
            info = os.fstat(fd)
            try:
                child_fd = _open_writable_dir(child, fd)
            except OSError as exc:
                if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                    os.close(fd)
                    raise
                os.unlink(child, dir_fd=fd)  # it turned into a symlink or a file meanwhile
                continue
            os.close(fd)
            fd = child_fd
            chain.append((child, info.st_dev, info.st_ino))
            continue
        done, dev, ino = chain.pop()
        if not chain:
            os.close(fd)
            os.rmdir(done, dir_fd=parent_fd)
            return
        up = os.open("..", _DIR_FLAGS & ~os.O_NOFOLLOW, dir_fd=fd)
        os.close(fd)
        up_info = os.fstat(up)
        if (up_info.st_dev, up_info.st_ino) != (dev, ino):
            os.close(up)
            raise OSError(errno.ESTALE, f"a folder was moved while it was being removed: {done}")
        os.rmdir(done, dir_fd=up)
        fd = up


def _open_writable_dir(name: str, parent_fd: int) -> int:
    """Open a folder without following a symlink and give its owner rwx, so its entries can be deleted."""
    fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    mode = os.fstat(fd).st_mode
    if mode & stat.S_IRWXU != stat.S_IRWXU:
        os.fchmod(fd, stat.S_IMODE(mode) | stat.S_IRWXU)
    return fd


def _first_subdir_after_unlinking_the_rest(fd: int) -> str | None:
    """Delete every non-folder in `fd`; return the name of one subfolder, None when it is empty."""
    with os.scandir(fd) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                return entry.name
            os.unlink(entry.name, dir_fd=fd)
    return None
