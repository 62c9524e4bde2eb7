"""Zero-copy trees: on one XFS with 2 KiB blocks and reflink, extraction shares the ISO's blocks.

Real file systems on loop devices (mkfs.xfs, losetup, mount); skipped with the reason when this kernel
or container gives no loop device. Shared bytes are counted from the kernel's own extent map
(`filefrag -v`, FIEMAP's "shared" flag), not inferred.
"""

from __future__ import annotations

import random
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from isodrop.extract import extract_iso
from isodrop.storage import zero_copy_report
from tests.harness.isofactory import build_iso


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False)


@pytest.fixture
def xfs(tmp_path: Path) -> Iterator[Path]:
    """A fresh XFS (2 KiB blocks, reflink) mounted on a loop device, removed afterwards."""
    if shutil.which("mkfs.xfs") is None:
        pytest.skip("mkfs.xfs is not installed (Debian package xfsprogs)")
    image, mount = tmp_path / "xfs.img", tmp_path / "mnt"
    with open(image, "wb") as handle:
        handle.truncate(400 * 2**20)  # XFS needs 300 MB at least
    made = _run("mkfs.xfs", "-q", "-b", "size=2048", "-m", "reflink=1", str(image))
    assert made.returncode == 0, made.stderr
    loop = _run("losetup", "--find", "--show", str(image))
    if loop.returncode != 0:
        pytest.skip(f"no loop device here: losetup says {loop.stderr.strip()}")
    device = loop.stdout.strip()
    mount.mkdir()
    try:
        mounted = _run("mount", "-t", "xfs", device, str(mount))
        if mounted.returncode != 0:
            pytest.skip(f"cannot mount a loop-device XFS here: {mounted.stderr.strip()}")
        try:
            yield mount
        finally:
            _run("umount", str(mount))
    finally:
        _run("losetup", "-d", device)


def shared_bytes(path: Path) -> tuple[int, int]:
    """(bytes in extents the kernel marks shared, bytes in all extents) of one file."""
    done = _run("filefrag", "-v", str(path))
    assert done.returncode == 0, done.stderr
    block = int(re.search(r"blocks? of (\d+) bytes", done.stdout)[1])
    shared = total = 0
    for line in done.stdout.splitlines():
        match = re.match(r"\s*\d+:\s+\d+\.\.\s*\d+:\s+\d+\.\.\s*\d+:\s+(\d+):", line)
        if match:
            length = int(match[1]) * block
            total += length
            shared += length if "shared" in line else 0
    return shared, total


def test_extraction_on_xfs_with_2k_blocks_shares_the_isos_blocks(xfs: Path) -> None:
    rng = random.Random(7)
    files = {
        "live/filesystem.squashfs": rng.randbytes(24 * 2**20 + 1234),
        "live/vmlinuz": rng.randbytes(3 * 2**20),
        "live/initrd.img": rng.randbytes(9 * 2**20 + 77),
        "md5sum.txt": "",
    }
    iso = build_iso(xfs / "drop" / "live.iso", files, volume_id="ZEROCOPY")
    (xfs / "trees").mkdir()
    assert zero_copy_report(xfs / "drop", xfs / "trees") == [
        ("ok", "zero-copy: xfs with 2048-byte blocks and reflink: trees share the ISOs' blocks")
    ]
    result = extract_iso(iso, xfs / "trees" / "live")
    shared = total = 0
    for rel in ("live/filesystem.squashfs", "live/vmlinuz", "live/initrd.img"):
        path = xfs / "trees" / "live" / rel
        assert path.read_bytes() == files[rel]
        s, t = shared_bytes(path)
        shared, total = shared + s, total + t
    print(f"shared {shared} of {total} bytes ({100 * shared / total:.2f}%), {result.bytes} bytes extracted")
    assert total >= result.bytes - 2048 * 3
    assert shared >= 0.99 * result.bytes


def test_check_says_what_stops_zero_copy(xfs: Path, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    other.mkdir()
    ((level, message),) = zero_copy_report(other, xfs / "trees")
    assert level == "WARN" and "different file systems" in message and "mkfs.xfs -b size=2048" in message
    if _run("findmnt", "-no", "FSTYPE", "-T", str(tmp_path)).stdout.strip() == "ext4":
        ((level, message),) = zero_copy_report(tmp_path / "drop", tmp_path / "trees")
        assert level == "WARN" and "ext4 cannot share blocks" in message


def test_check_warns_about_4k_blocks(tmp_path: Path) -> None:
    """XFS with reflink but its default 4 KiB blocks: ISO sectors are 2 KiB, so almost nothing is shared."""
    if shutil.which("mkfs.xfs") is None:
        pytest.skip("mkfs.xfs is not installed (Debian package xfsprogs)")
    image, mount = tmp_path / "xfs4k.img", tmp_path / "mnt4k"
    with open(image, "wb") as handle:
        handle.truncate(400 * 2**20)
    assert _run("mkfs.xfs", "-q", "-m", "reflink=1", str(image)).returncode == 0
    loop = _run("losetup", "--find", "--show", str(image))
    if loop.returncode != 0:
        pytest.skip(f"no loop device here: losetup says {loop.stderr.strip()}")
    mount.mkdir()
    try:
        mounted = _run("mount", "-t", "xfs", loop.stdout.strip(), str(mount))
        if mounted.returncode != 0:
            pytest.skip(f"cannot mount a loop-device XFS here: {mounted.stderr.strip()}")
        try:
            (mount / "trees").mkdir()
            ((level, message),) = zero_copy_report(mount / "drop", mount / "trees")
            assert level == "WARN" and "4096-byte blocks" in message and "about 1%" in message
        finally:
            _run("umount", str(mount))
    finally:
        _run("losetup", "-d", loop.stdout.strip())
