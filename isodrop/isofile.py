"""What the drop folder and extraction both know about a file: its type in words (the reason it is not
used) and the ISO 9660 block size their reads count in. A floor below both."""

from __future__ import annotations

import stat

BLOCK = 2048  # ISO 9660 logical block (and CD sector) size: volume descriptors start at block 16


def file_kind(mode: int) -> str:
    """A file type in words, for the reason a file is not used."""
    for test, words in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISLNK, "a symbolic link"),
    ):
        if test(mode):
            return words
    return "not a regular file"
