"""Removing a tree this code wrote (read-only folders, links that must never be followed).

Kept here until the tree owner (isodrop/trees.py) takes it over.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path


def remove_tree(path: Path) -> None:
    """Remove an extracted tree, even its read-only folders, without ever following a symlink out of it."""
    path = Path(path)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(info.st_mode):
        os.unlink(path)
        return
    for folder, _dirs, _files in os.walk(path, followlinks=False):
        _make_writable_dir(folder)
    shutil.rmtree(path)


def _make_writable_dir(folder: str) -> None:
    """chmod u+rwx through an O_NOFOLLOW descriptor, so a symlink swapped in is never followed."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return
    try:
        mode = os.fstat(fd).st_mode
        if mode & stat.S_IRWXU != stat.S_IRWXU:
            os.fchmod(fd, stat.S_IMODE(mode) | stat.S_IRWXU)
    finally:
        os.close(fd)
