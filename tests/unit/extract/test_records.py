"""The fast Rock Ridge walk (isodrop/extract/records.py) sees exactly what the pycdlib walk sees.

Real images, built by pycdlib (tests/harness/isofactory.py) and by xorriso (as live ISOs are made), are read
both ways and the manifests compared node by node: names, kinds, modes, extents, symlink targets,
warnings. An image without Rock Ridge is left to pycdlib.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from isodrop.extract import extract_iso
from isodrop.extract.image import _pycdlib_manifest, read_manifest
from isodrop.extract.records import rock_ridge_nodes
from tests.harness.isofactory import File, HardLink, Symlink, build_iso


def manifests(iso: Path) -> tuple[list[tuple], list[tuple], list[str], list[str]]:
    handle, fast = read_manifest(iso)
    handle.close()
    handle, slow = _pycdlib_manifest(iso)
    handle.close()

    def rows(manifest: object) -> list[tuple]:
        return [(n.rel, n.kind, n.mode, n.extents, n.target) for n in manifest.nodes]

    return rows(fast), rows(slow), fast.warnings, slow.warnings


def used_fast_walk(iso: Path) -> bool:
    fd = os.open(iso, os.O_RDONLY)
    try:
        return rock_ridge_nodes(fd, os.fstat(fd).st_size, iso.name) is not None
    finally:
        os.close(fd)


def varied_files() -> dict[str, object]:
    deep = "/".join(f"level{i}" for i in range(12))  # deeper than ISO 9660's 8: Rock Ridge relocation
    return {
        ".disk/info": "Varied 1.0",
        "live/vmlinuz": File(b"MZ" * 5000, mode=0o100555),
        "live/initrd.img": b"initrd" * 3000,
        "live/link-to-kernel": Symlink("vmlinuz"),
        "live/up-and-over": Symlink("../.disk/info"),
        "escape": Symlink("../../etc/passwd"),
        "absolute": Symlink("/etc/passwd"),
        "hard": HardLink("live/initrd.img"),
        "x" * 240: "a name long enough to need a continuation area",
        "Ünïcödé name.txt": "utf-8 names",
        f"{deep}/bottom.txt": "deep",
        "empty": b"",
        "private": File(b"secret", mode=0o100600),
    }


def test_fast_walk_matches_pycdlib_on_a_varied_pycdlib_image(tmp_path: Path) -> None:
    iso = build_iso(tmp_path / "varied.iso", varied_files(), volume_id="VARIED")
    assert used_fast_walk(iso)
    fast, slow, fast_warnings, slow_warnings = manifests(iso)
    assert fast == slow
    assert fast_warnings == slow_warnings and len(fast_warnings) == 2  # the two escaping links
    assert any(rel.endswith("level11/bottom.txt") for rel, *_ in fast)


def test_fast_walk_matches_pycdlib_on_a_xorriso_image(tmp_path: Path) -> None:
    if shutil.which("xorriso") is None:
        pytest.skip("xorriso is not installed")
    stage = tmp_path / "stage"
    (stage / "boot" / "grub").mkdir(parents=True)
    (stage / "boot" / "grub" / "grub.cfg").write_text("menuentry x {}\n")
    (stage / "live").mkdir()
    (stage / "live" / "vmlinuz").write_bytes(os.urandom(300_000))
    (stage / "live" / "vmlinuz-link").symlink_to("vmlinuz")
    deep = stage.joinpath(*[f"d{i}" for i in range(10)])
    deep.mkdir(parents=True)
    (deep / "f").write_text("deep\n")
    (stage / ("n" * 200)).write_text("long name\n")
    for i in range(300):
        (stage / "pool" / f"p{i % 7}").mkdir(parents=True, exist_ok=True)
        (stage / "pool" / f"p{i % 7}" / f"pkg{i}.deb").write_bytes(os.urandom(i * 37))
    iso = tmp_path / "x.iso"
    subprocess.run(
        ["xorriso", "-as", "mkisofs", "-quiet", "-R", "-J", "-joliet-long", "-o", str(iso), str(stage)], check=True
    )
    assert used_fast_walk(iso)
    fast, slow, *_ = manifests(iso)
    assert fast == slow
    extract_iso(iso, tmp_path / "tree")
    assert (tmp_path / "tree" / "live" / "vmlinuz").read_bytes() == (stage / "live" / "vmlinuz").read_bytes()
    assert os.readlink(tmp_path / "tree" / "live" / "vmlinuz-link") == "vmlinuz"
    assert (tmp_path / "tree").joinpath(*[f"d{i}" for i in range(10)], "f").read_text() == "deep\n"


def test_an_image_without_rock_ridge_is_left_to_pycdlib(tmp_path: Path) -> None:
    iso = build_iso(tmp_path / "plain.iso", {"live/vmlinuz": b"MZ" * 100}, rock_ridge=False)
    assert not used_fast_walk(iso)
    fast, slow, *_ = manifests(iso)
    assert fast == slow and ("live/vmlinuz", "f") in {(rel, kind) for rel, kind, *_ in fast}


def test_files_are_world_readable_whatever_the_umask(tmp_path: Path) -> None:
    """Files are created with their final mode; a umask that would take bits away is undone."""
    iso = build_iso(tmp_path / "m.iso", {"a/x": File(b"x", mode=0o100640), "b": File(b"y", mode=0o100755)})
    for umask, name in ((0o077, "strict"), (0o022, "usual")):
        old = os.umask(umask)
        try:
            extract_iso(iso, tmp_path / name)
        finally:
            os.umask(old)
        assert (tmp_path / name / "a" / "x").stat().st_mode & 0o7777 == 0o444
        assert (tmp_path / name / "b").stat().st_mode & 0o7777 == 0o555
