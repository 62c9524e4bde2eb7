"""isodrop.extract.isotree: IsoTree lists and reads, straight from the image, the tree extraction writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from isodrop.extract import IsoTree, extract_iso
from isodrop.families.base import DirTree
from tests.harness.extract_cases import (
    SQUASHFS,
    debian_live_files,
    ubuntu_files,
)
from tests.harness.isofactory import Symlink, build_iso


@pytest.mark.parametrize("layout", [debian_live_files, ubuntu_files])
def test_iso_tree_lists_and_reads_what_extraction_writes(tmp_path: Path, layout) -> None:
    files = layout()
    files["etc-link"] = Symlink("/etc")  # skipped by both
    iso = build_iso(
        tmp_path / "live.iso",
        files,
        volume_id="LIVE",
        boot_file="isolinux/isolinux.bin" if "isolinux/isolinux.bin" in files else None,
    )
    extract_iso(iso, tmp_path / "tree")
    on_disk = DirTree(tmp_path / "tree", volume_id="LIVE")
    with IsoTree(iso) as tree:
        assert tree.volume_id == "LIVE" and tree.iso_name == "live.iso"
        assert tree.listing() == on_disk.listing()
        assert "etc-link" not in tree.listing() and tree.warnings
        for rel, kind in on_disk.listing().items():
            if kind == "f":
                assert tree.read_bytes(rel, limit=1 << 30) == on_disk.read_bytes(rel, limit=1 << 30), rel
        assert (
            tree.read_bytes(
                "live/filesystem.squashfs" if "live/filesystem.squashfs" in files else "casper/minimal.squashfs",
                limit=10,
            )
            == SQUASHFS[:10]
        )
        assert tree.disk_info() == on_disk.disk_info() != ""
        assert tree.read_bytes("boot") is None and tree.read_bytes("no/such/file") is None
