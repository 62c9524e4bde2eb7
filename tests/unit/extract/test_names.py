"""isodrop.extract.names: Rock Ridge names win, else Joliet, else ISO 9660 names mapped as Linux maps them; a
name that could leave the tree fails the extraction."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pycdlib
import pytest

from isodrop.extract import ExtractError, IsoTree, extract_iso
from tests.harness.extract_cases import (
    KERNEL,
    listing,
    md5,
    snapshot,
    xorriso_extract,
)
from tests.harness.isofactory import build_iso


def test_long_names_and_deep_trees_keep_their_rock_ridge_names(tmp_path: Path) -> None:
    long65 = "l" * 65 + ".txt"
    long130 = "averyveryverylongname-" * 6 + ".cfg"
    deep = "/".join(f"level{i}" for i in range(12)) + "/bottom.txt"
    files = {long65: "65", f"dir/{long130}": "130", deep: "deep", "a/.hidden/file": "dot folders too"}
    iso = build_iso(tmp_path / "names.iso", files)
    assert _has_relocated_directories(iso), "pycdlib should have relocated the deep folders to rr_moved"
    extract_iso(iso, tmp_path / "tree")
    ours = listing(tmp_path / "tree")
    assert {rel for rel, (kind, _) in ours.items() if kind == "f"} == set(files)
    assert not [rel for rel in ours if rel.startswith("rr_moved/")], "relocated folders show where they belong"
    assert ours == xorriso_extract(iso, tmp_path / "reference")


def _has_relocated_directories(iso: Path) -> bool:
    image = pycdlib.PyCdlib()
    image.open(str(iso))
    try:
        names = [c.file_identifier() for c in image.get_record(iso_path="/").children]
        return any(name.upper().startswith(b"RR_MOVED") for name in names)
    finally:
        image.close()


def test_joliet_only_iso_uses_joliet_names(tmp_path: Path) -> None:
    long80 = "j" * 80
    files = {"casper/vmlinuz": KERNEL, "Mixed Case/Name With Spaces.TXT": "x", long80: "truncated by Joliet"}
    iso = build_iso(tmp_path / "joliet.iso", files, rock_ridge=False, joliet=True)
    result = extract_iso(iso, tmp_path / "tree")
    ours = listing(tmp_path / "tree")
    assert set(ours) == {"casper", "casper/vmlinuz", "Mixed Case", "Mixed Case/Name With Spaces.TXT", "j" * 64}
    assert ours["casper/vmlinuz"] == ("f", md5(KERNEL))
    assert result.files == 3
    assert stat.S_IMODE(os.stat(tmp_path / "tree/casper/vmlinuz").st_mode) == 0o444


def test_plain_iso9660_names_are_mapped_like_linux(tmp_path: Path) -> None:
    """Without Rock Ridge or Joliet, Linux shows `F00002.;1` as `f00002` (map=normal)."""
    iso = build_iso(tmp_path / "plain.iso", {"live/vmlinuz": KERNEL, "README": "hi"}, rock_ridge=False, joliet=False)
    extract_iso(iso, tmp_path / "tree")
    ours = listing(tmp_path / "tree")
    assert set(ours) == {"d00001", "d00001/f00002", "f00003"}, ours
    assert ours["d00001/f00002"] == ("f", md5(KERNEL))
    with IsoTree(iso) as tree:
        assert set(tree.listing()) == set(ours)


def _patched_name_iso(tmp_path: Path, bad: bytes) -> Path:
    """An image whose Rock Ridge NM entry for the file `zz` (same length as `bad`) says `bad` instead."""
    assert len(bad) == 2
    iso = build_iso(tmp_path / "evil.iso", {"live/zz": "payload", "live/vmlinuz": KERNEL})
    data = bytearray(iso.read_bytes())
    nm = b"NM\x07\x01\x00zz"
    assert data.count(nm) == 1, "the factory's NM entry for zz should appear once"
    start = data.index(nm)
    data[start + 5 : start + 7] = bad
    iso.write_bytes(bytes(data))
    return iso


@pytest.mark.parametrize("bad", [b"..", b"a/", b"\x00a"], ids=["dotdot", "slash", "nul"])
def test_unsafe_rock_ridge_name_fails_the_whole_extraction(tmp_path: Path, outside: Path, bad: bytes) -> None:
    iso = _patched_name_iso(tmp_path, bad)
    before = snapshot(tmp_path)
    with pytest.raises(ExtractError, match="unsafe file name") as caught:
        extract_iso(iso, tmp_path / "tree")
    assert repr(bad.decode())[1:-1] in str(caught.value) or bad.decode() in str(caught.value)
    assert snapshot(tmp_path) == before  # nothing at dest, nothing next to it
    with pytest.raises(ExtractError, match="unsafe file name"):
        IsoTree(iso)
