"""isodrop.extract.checksums: md5sum.txt is checked, a mismatch or a listed file missing fails the extraction."""

from __future__ import annotations

from pathlib import Path

import pytest

from isodrop.extract import ExtractError, extract_iso
from tests.harness.extract_cases import (
    KERNEL,
    SQUASHFS,
    debian_live_files,
    md5,
    snapshot,
)
from tests.harness.isofactory import build_iso


def test_md5sum_mismatch_and_missing_files_fail(tmp_path: Path, outside: Path) -> None:
    files = debian_live_files()
    files["md5sum.txt"] = (
        f"{md5(KERNEL)}  ./live/vmlinuz-6.1.0-18-amd64\n"
        f"{'0' * 32}  ./live/filesystem.squashfs\n"
        f"{md5('gone')}  ./pool/main/gone.deb\n"
    )
    iso = build_iso(tmp_path / "bad-md5.iso", files)
    before = snapshot(tmp_path)
    with pytest.raises(ExtractError) as caught:
        extract_iso(iso, tmp_path / "tree")
    message = str(caught.value)
    assert "md5sum.txt" in message and "bad-md5.iso" in message
    assert "live/filesystem.squashfs (checksum mismatch)" in message
    assert "pool/main/gone.deb (missing)" in message
    assert "vmlinuz" not in message
    assert snapshot(tmp_path) == before
    # the same image extracts when verification is off
    result = extract_iso(iso, tmp_path / "tree", verify_checksums=False)
    assert (tmp_path / "tree/live/filesystem.squashfs").read_bytes() == SQUASHFS and result.files == len(files)
