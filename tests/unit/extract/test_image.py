"""isodrop.extract.image: what is not an ISO, or is truncated or unreadable, fails before anything is written,
with the reason."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from isodrop.extract import ExtractError, IsoTree, extract_iso
from tests.harness.extract_cases import (
    KERNEL,
    SQUASHFS,
    read_volume_id,
    snapshot,
)
from tests.harness.isofactory import build_iso


def test_zero_byte_file_is_not_an_iso(tmp_path: Path) -> None:
    iso = tmp_path / "empty.iso"
    iso.write_bytes(b"")
    with pytest.raises(ExtractError, match="empty"):
        extract_iso(iso, tmp_path / "tree")
    with pytest.raises(ExtractError, match="empty"):
        read_volume_id(iso)
    assert not (tmp_path / "tree").exists()


def test_random_bytes_are_not_an_iso(tmp_path: Path) -> None:
    iso = tmp_path / "random.iso"
    iso.write_bytes(os.urandom(200_000))
    with pytest.raises(ExtractError, match="not an ISO 9660 image") as caught:
        extract_iso(iso, tmp_path / "tree")
    assert str(iso) in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(ExtractError, match="not an ISO 9660 image"):
        read_volume_id(iso)
    with pytest.raises(ExtractError, match="not an ISO 9660 image"):
        IsoTree(iso)
    assert not (tmp_path / "tree").exists()


@pytest.mark.parametrize("cut", [1000, 2 * 1024 * 1024], ids=["tail", "inside-squashfs"])
def test_truncated_iso_names_the_cut_file(tmp_path: Path, cut: int) -> None:
    files = {"live/vmlinuz": KERNEL, "live/filesystem.squashfs": SQUASHFS}
    iso = build_iso(tmp_path / "cut.iso", files)
    size = iso.stat().st_size
    os.truncate(iso, size - cut)
    before = snapshot(tmp_path)
    with pytest.raises(ExtractError, match="ISO is truncated") as caught:
        extract_iso(iso, tmp_path / "tree")
    message = str(caught.value)
    assert str(size - cut) in message
    if cut > 2048:  # more than the padding after the last file: name the file that lost data
        assert "live/filesystem.squashfs" in message
    assert snapshot(tmp_path) == before


def test_truncated_inside_directory_records(tmp_path: Path) -> None:
    iso = build_iso(tmp_path / "cut.iso", {"live/vmlinuz": KERNEL})
    os.truncate(iso, 17 * 2048)  # keeps the primary volume descriptor, loses the directories
    with pytest.raises(ExtractError, match="ISO is truncated|cannot read"):
        extract_iso(iso, tmp_path / "tree")
    assert not (tmp_path / "tree").exists()


def test_unreadable_iso_file(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        iso = build_iso(tmp_path / "locked.iso", {"live/vmlinuz": KERNEL})
        iso.chmod(0)
        with pytest.raises(ExtractError, match="cannot read"):
            extract_iso(iso, tmp_path / "tree")
        return
    # root reads anything, so run the same call as `nobody` in a child process
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: cannot drop privileges to test an unreadable file")
    # `nobody` must reach the ISO's folder and the code, but not the checkout (a root user's checkout
    # under /root is mode 0700) nor pytest's tmp_path (under a 0700 folder): a world-readable folder
    # holding a copy of the isodrop package and the ISO, so only the ISO's own mode keeps it out.
    shared = Path(tempfile.mkdtemp(prefix="isodrop-unreadable-"))
    try:
        shared.chmod(0o755)
        shutil.copytree(
            Path(__file__).resolve().parents[3] / "isodrop",
            shared / "isodrop",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        for path in shared.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        iso = build_iso(shared / "locked.iso", {"live/vmlinuz": KERNEL})
        iso.chmod(0)
        code = (
            "import sys; from pathlib import Path; from isodrop.extract import extract_iso, ExtractError\n"
            f"try: extract_iso(Path({str(iso)!r}), Path('/nonexistent-dir/tree'))\n"
            "except ExtractError as err: print(err); sys.exit(3)\n"
        )
        env = {**os.environ, "PYTHONPATH": str(shared), "PYTHONDONTWRITEBYTECODE": "1"}
        run = subprocess.run(
            ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env=env,
            cwd="/",
        )
    finally:
        shutil.rmtree(shared)
    assert run.returncode == 3, run.stderr
    assert "cannot read" in run.stdout and "Permission denied" in run.stdout
    assert str(iso) in run.stdout or "locked.iso" in run.stdout
