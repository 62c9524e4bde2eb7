"""isodrop.extract.links: symlinks that stay inside the tree are kept, escaping ones skipped; hard links share
their data."""

from __future__ import annotations

import os
from pathlib import Path

from isodrop.extract import extract_iso
from tests.harness.extract_cases import (
    KERNEL,
    snapshot,
)
from tests.harness.isofactory import HardLink, Symlink, build_iso


def test_symlinks_inside_are_kept_and_escaping_ones_skipped(tmp_path: Path, outside: Path) -> None:
    files = {
        "live/vmlinuz": KERNEL,
        "live/kernel": Symlink("vmlinuz"),
        "live/up": Symlink("../live/./vmlinuz"),
        "self": Symlink("."),
        "etc": Symlink("/etc"),
        "live/out": Symlink("../../x"),
        "dot": Symlink("."),
        "via-dot": Symlink("dot/.."),  # lexically inside, but through `dot` the kernel ends outside
        "via-etc": Symlink("etc/passwd"),
        "loop1": Symlink("loop2"),
        "loop2": Symlink("loop1"),
    }
    iso = build_iso(tmp_path / "links.iso", files)
    before = snapshot(outside)
    result = extract_iso(iso, tmp_path / "tree")
    tree = tmp_path / "tree"
    assert (tree / "live/kernel").read_bytes() == KERNEL
    assert (tree / "live/up").read_bytes() == KERNEL
    assert os.readlink(tree / "self") == "." and os.readlink(tree / "dot") == "."
    for skipped in ("etc", "live/out", "via-dot", "via-etc", "loop1", "loop2"):
        assert not os.path.lexists(tree / skipped), skipped
        assert any(w.startswith(f"skipped symlink {skipped} -> ") for w in result.warnings), result.warnings
    assert len(result.warnings) == 6
    assert any("absolute target" in w for w in result.warnings)
    assert any("outside the tree" in w for w in result.warnings)
    assert snapshot(outside) == before
    for path in tree.rglob("*"):
        assert os.path.realpath(path).startswith(str(tree)), path


def test_hard_links_share_data(tmp_path: Path) -> None:
    files = {"live/vmlinuz": KERNEL, "install/vmlinuz": HardLink("live/vmlinuz"), "other": b"different"}
    iso = build_iso(tmp_path / "hard.iso", files)
    result = extract_iso(iso, tmp_path / "tree")
    a, b = os.stat(tmp_path / "tree/live/vmlinuz"), os.stat(tmp_path / "tree/install/vmlinuz")
    assert (a.st_ino, a.st_nlink) == (b.st_ino, 2)
    assert (tmp_path / "tree/install/vmlinuz").read_bytes() == KERNEL
    assert result.files == 3 and result.bytes == len(KERNEL) + len(b"different")
