"""isodrop.isofile: a file that is not used is named by its type; the block size both readers share."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

from isodrop.isofile import BLOCK, file_kind


def test_the_iso9660_block_is_2048_bytes() -> None:
    assert BLOCK == 2048


def test_each_file_type_is_named_in_words(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "dir").mkdir()
    (tmp_path / "link").symlink_to("dir")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "sock"))
        kinds = {name: file_kind(os.lstat(tmp_path / name).st_mode) for name in ("fifo", "dir", "link", "sock")}
    assert kinds == {"fifo": "a FIFO", "dir": "a folder", "link": "a symbolic link", "sock": "a socket"}
    assert file_kind(stat.S_IFCHR) == "a character device" and file_kind(stat.S_IFBLK) == "a block device"
