"""Removing a tree: any depth, any path length, read-only folders, never following a symlink."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from isodrop.extract import extract_iso
from isodrop.removal import remove_tree
from tests.harness.extract_cases import deep_tree, snapshot, ubuntu_files
from tests.harness.isofactory import build_iso


def test_remove_tree_handles_1500_nested_folders_past_path_max(tmp_path: Path) -> None:
    tree = deep_tree(tmp_path / "deep", 1500)
    assert os.pathconf(tmp_path, "PC_PATH_MAX") < 1500 * 101
    remove_tree(tree)
    assert not tree.exists() and list(tmp_path.iterdir()) == []


def test_remove_tree_never_follows_symlinks(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("precious")
    tree = tmp_path / "tree"
    (tree / "a").mkdir(parents=True)
    (tree / "a" / "to-outside").symlink_to(outside)
    (tree / "file-link").symlink_to(outside / "keep")
    os.chmod(tree / "a", 0o500)
    remove_tree(tree)
    assert not tree.exists() and (outside / "keep").read_text() == "precious"
    remove_tree(tree)  # already gone: nothing to do


def test_remove_tree_handles_read_only_folders_and_never_follows_links(tmp_path: Path, outside: Path) -> None:
    iso = build_iso(tmp_path / "live.iso", ubuntu_files())
    extract_iso(iso, tmp_path / "tree")
    tree = tmp_path / "tree"
    tree.chmod(0o755)
    (tree / "to-outside").symlink_to(outside)  # as if something planted a link after extraction
    (tree / "abs").symlink_to(outside / "x")
    tree.chmod(0o555)
    assert stat.S_IMODE((tree / "casper").stat().st_mode) == 0o555
    before = snapshot(outside)
    remove_tree(tree)
    assert not tree.exists()
    assert snapshot(outside) == before and (outside / "x").read_text() == "precious"
    remove_tree(tree)  # already gone: nothing to do
    link = tmp_path / "link-to-outside"
    link.symlink_to(outside)
    remove_tree(link)
    assert not link.exists() and (outside / "x").exists()
