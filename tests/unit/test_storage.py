"""isodrop.storage: whether extraction can share the ISO's blocks; `isodrop check` warns, never fails,
and says what to change. (The real sharing on a 2 KiB-block XFS: tests/service/test_zero_copy.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from isodrop import storage


def tmpfs_folder() -> Path:
    shm = Path("/dev/shm")
    if not shm.is_dir() or storage.file_system_type(shm) != "tmpfs":
        pytest.skip("no tmpfs at /dev/shm")
    return shm


def test_file_system_types_come_from_mountinfo(tmp_path: Path) -> None:
    assert storage.file_system_type(Path("/proc/self")) == "proc"
    assert storage.file_system_type(tmpfs_folder()) == "tmpfs"
    # a path not there yet is judged by the folder that would hold it
    assert storage.file_system_type(tmp_path / "not/yet") == storage.file_system_type(tmp_path)


def test_a_file_system_without_reflink_is_a_warning_with_the_remedy(tmp_path: Path) -> None:
    shm = tmpfs_folder()
    ((level, message),) = storage.zero_copy_report(shm / "isodrop-drop", shm / "isodrop-trees")
    assert level == "WARN" and "tmpfs cannot share blocks" in message and "mkfs.xfs -b size=2048" in message


def test_the_reflink_probe_leaves_nothing_behind_and_cannot_run_without_a_writable_folder(tmp_path: Path) -> None:
    assert storage.clone_works(tmp_path / "missing") is None
    assert storage.clone_works(tmpfs_folder()) is False  # tmpfs has no FICLONE
    storage.clone_works(tmp_path)
    assert list(tmp_path.iterdir()) == []
