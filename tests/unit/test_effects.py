"""isodrop.effects: the side effects of a pass on real files."""

from __future__ import annotations

from pathlib import Path


def test_loader_files_are_installed_and_refreshed_when_the_package_changes(tmp_path: Path) -> None:
    from isodrop.effects import install_files

    source, dest = tmp_path / "pkg/pxelinux.0", tmp_path / "tftp/pxelinux.0"
    source.parent.mkdir()
    source.write_bytes(b"version 1")
    assert [r.ok for r in install_files({dest: source})] == [True] and dest.read_bytes() == b"version 1"
    assert install_files({dest: source}) == []  # unchanged: nothing to do
    source.write_bytes(b"version 2, upgraded")
    results = install_files({dest: source})
    assert dest.read_bytes() == b"version 2, upgraded" and "refreshed" in results[0].message
    missing = install_files({tmp_path / "tftp/other.c32": tmp_path / "pkg/other.c32"})
    assert not missing[0].ok and "not found" in missing[0].message
