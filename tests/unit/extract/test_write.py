"""isodrop.extract.write (extract_iso) on real ISO images built with pycdlib (tests/harness/isofactory.py);
xorriso and the kernel's iso9660 mount serve as references. The other rooms of the package have their own
files beside this one (test_image, test_names, test_links, test_checksums, test_isotree, test_records).

Run on both pycdlib versions:
    /usr/bin/python3 -m pytest tests/unit/extract            # Debian's pycdlib 1.12
    /var/cache/isodrop-tests/venv-latest/bin/python -m pytest tests/unit/extract # newest PyPI release
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from isodrop.extract import ExtractError, IsoTree, extract_iso
from isodrop.extract import write as extract_write
from isodrop.trees import remove_tree
from tests.harness.extract_cases import (
    KERNEL,
    SQUASHFS,
    data_of,
    debian_live_files,
    listing,
    md5,
    read_volume_id,
    snapshot,
    ubuntu_files,
    xorriso_extract,
)
from tests.harness.isofactory import File, Symlink, build_iso

# --- realistic layouts ---------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", [debian_live_files, ubuntu_files])
def test_live_layouts_match_xorriso_and_files_on_the_iso(tmp_path: Path, layout) -> None:
    files = layout()
    iso = build_iso(tmp_path / "live.iso", files, volume_id="d-live 12.5.0 gn amd64", boot_file=None)
    progress: list[tuple[int, int]] = []
    result = extract_iso(iso, tmp_path / "tree", progress=lambda done, total: progress.append((done, total)))

    assert result.volume_id == "d-live 12.5.0 gn amd64" == read_volume_id(iso)
    assert result.warnings == ()
    ours = listing(tmp_path / "tree")
    assert ours == xorriso_extract(iso, tmp_path / "reference")
    for rel, value in files.items():
        if isinstance(value, Symlink):
            assert ours[rel] == ("l", value.target)
        else:
            assert ours[rel] == ("f", md5(data_of(value))), rel
    assert ".disk" in ours and ours[".disk"][0] == "d"
    assert result.files == sum(1 for v in files.values() if not isinstance(v, Symlink))
    assert result.bytes == sum(os.lstat(tmp_path / "tree" / rel).st_size for rel, (k, _) in ours.items() if k == "f")
    # progress: called a few times, never backwards, ending at the total (which includes the md5 check)
    assert 3 <= len(progress) < 1000
    assert all(a[0] <= b[0] for a, b in zip(progress, progress[1:], strict=False))
    assert progress[-1][0] == progress[-1][1] > result.bytes


def test_extract_is_what_the_linux_kernel_mount_shows(tmp_path: Path) -> None:
    """The strongest reference there is: mount the image with the kernel's isofs driver (needs root + loop)."""
    iso = build_iso(tmp_path / "live.iso", debian_live_files(), boot_file="isolinux/isolinux.bin")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    mounted = subprocess.run(["mount", "-o", "loop,ro", str(iso), str(mnt)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot loop-mount here ({mounted.stderr.strip()}); xorriso comparison covers names")
    try:
        expected = listing(mnt)
    finally:
        subprocess.run(["umount", str(mnt)], check=True)
    extract_iso(iso, tmp_path / "tree")
    assert listing(tmp_path / "tree") == expected  # includes boot.cat and the patched boot info table


def test_boot_catalog_and_boot_info_table_are_copied_as_on_disc(tmp_path: Path) -> None:
    files = debian_live_files()
    iso = build_iso(tmp_path / "boot.iso", files, boot_file="isolinux/isolinux.bin")
    extract_iso(iso, tmp_path / "tree")
    ours = listing(tmp_path / "tree")
    assert "boot.cat" in ours
    assert ours == xorriso_extract(iso, tmp_path / "reference")
    # the boot info table (bytes 8-64) was patched in by the ISO writer, so the file differs from its source
    patched = (tmp_path / "tree/isolinux/isolinux.bin").read_bytes()
    assert patched[:8] == files["isolinux/isolinux.bin"][:8] and patched[64:] == files["isolinux/isolinux.bin"][64:]
    assert patched != files["isolinux/isolinux.bin"]


def test_iso_written_by_xorriso_mkisofs_gives_back_the_source_tree(tmp_path: Path) -> None:
    """The producer real live ISOs come from (live-build, debian-cd, Ubuntu all run xorriso -as mkisofs)."""
    if shutil.which("xorriso") is None:
        pytest.skip("xorriso is not installed (tests/apt-packages.txt lists it)")
    src = tmp_path / "src"
    for rel, value in debian_live_files().items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data_of(value))
    (src / "live/vmlinuz-6.1.0-18-amd64").chmod(0o755)
    deep = src / "/".join(f"d{i}" for i in range(10))
    deep.mkdir(parents=True)
    (deep / ("n" * 150)).write_text("long name, deep folder")
    (src / "live/vmlinuz").symlink_to("vmlinuz-6.1.0-18-amd64")
    (src / "debian").symlink_to(".")
    (src / "escape").symlink_to("../../../etc/shadow")
    iso = tmp_path / "xorriso.iso"
    subprocess.run(
        ["xorriso", "-as", "mkisofs", "-R", "-J", "-joliet-long", "-V", "XORRISO LIVE", "-o", str(iso), str(src)],
        check=True,
        capture_output=True,
    )
    result = extract_iso(iso, tmp_path / "tree")
    expected = listing(src)
    del expected["escape"]
    assert listing(tmp_path / "tree") == expected
    assert result.volume_id == "XORRISO LIVE"
    assert result.warnings == ("skipped symlink escape -> ../../../etc/shadow: target is outside the tree",)
    assert stat.S_IMODE(os.stat(tmp_path / "tree/live/vmlinuz-6.1.0-18-amd64").st_mode) == 0o555


# --- multi-extent files --------------------------------------------------------------------------------


def test_multi_extent_file_is_joined(tmp_path: Path) -> None:
    """Files over 4 GiB are stored as several directory records with one name (ISO 9660 multi-extent).
    Building 4 GiB here is too slow, so the same structure is made small: the record of file `b` is renamed
    to `a`'s ISO 9660 name and `a`'s record gets the multi-extent flag, making `b`'s data a's second extent.
    (A real 4.3 GB multi-extent image was checked by hand on both pycdlib versions.)"""
    first, second = os.urandom(4096), os.urandom(3000)
    iso = build_iso(tmp_path / "multi.iso", {"big": first, "bih": second, "z": "after"}, joliet=False)
    data = bytearray(iso.read_bytes())
    assert data.count(b"F00001.;1") == data.count(b"F00002.;1") == data.count(b"NM\x08\x01\x00bih") == 1
    data[data.index(b"F00002.;1") : data.index(b"F00002.;1") + 9] = b"F00001.;1"
    data[data.index(b"NM\x08\x01\x00bih") + 5 : data.index(b"NM\x08\x01\x00bih") + 8] = b"big"
    data[data.index(b"F00001.;1") - 8] |= 0x80  # file flags byte: "the file continues in the next record"
    iso.write_bytes(bytes(data))
    result = extract_iso(iso, tmp_path / "tree")
    assert (tmp_path / "tree/big").read_bytes() == first + second
    assert listing(tmp_path / "tree") == xorriso_extract(iso, tmp_path / "reference")
    assert set(listing(tmp_path / "tree")) == {"big", "z"} and result.bytes == 4096 + 3000 + 5
    with IsoTree(iso) as tree:
        assert tree.read_bytes("big", limit=5000) == (first + second)[:5000]


# --- modes ---------------------------------------------------------------------------------------------


def test_modes_are_readable_by_everyone_without_special_or_write_bits(tmp_path: Path) -> None:
    files = {
        "private": File(b"secret-ish", 0o100600),
        "exec": File(b"#!/bin/sh\n", 0o100700),
        "setuid": File(b"x", 0o104755),
        "writable": File(b"x", 0o100666),
        "dir/file": "in a folder",
    }
    iso = build_iso(tmp_path / "modes.iso", files)
    extract_iso(iso, tmp_path / "tree")
    mode = {rel: stat.S_IMODE(os.lstat(tmp_path / "tree" / rel).st_mode) for rel in [*files, "dir", ""]}
    assert mode["private"] == 0o444
    assert mode["exec"] == 0o544
    assert mode["setuid"] == 0o555
    assert mode["writable"] == 0o444
    assert mode["dir/file"] == 0o444
    assert mode["dir"] == 0o555 and mode[""] == 0o555


# --- stopping, an existing destination, a full disk ----------------------------------------------------


def test_should_stop_removes_everything(tmp_path: Path) -> None:
    iso = build_iso(tmp_path / "stop.iso", debian_live_files())
    before = snapshot(tmp_path)
    calls = 0

    def stop_after_a_few() -> bool:
        nonlocal calls
        calls += 1
        return calls > 4

    with pytest.raises(ExtractError, match="stopped"):
        extract_iso(iso, tmp_path / "tree", should_stop=stop_after_a_few)
    assert calls == 5
    assert snapshot(tmp_path) == before


def test_existing_destination_is_refused_and_left_alone(tmp_path: Path) -> None:
    iso = build_iso(tmp_path / "x.iso", {"a": "b"})
    dest = tmp_path / "tree"
    dest.mkdir()
    (dest / "keep").write_text("mine")
    with pytest.raises(ExtractError, match="cannot create"):
        extract_iso(iso, dest)
    assert (dest / "keep").read_text() == "mine"


def test_full_disk_fails_cleanly(tmp_path: Path) -> None:
    """A real full filesystem: a 1 MiB tmpfs (needs root; skipped with the reason otherwise)."""
    small = tmp_path / "small"
    small.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(small)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        iso = build_iso(tmp_path / "big.iso", {"live/filesystem.squashfs": SQUASHFS, "live/vmlinuz": KERNEL})
        with pytest.raises(ExtractError, match="No space left on device") as caught:
            extract_iso(iso, small / "tree")
        assert "big.iso" in str(caught.value)
        assert os.listdir(small) == []
        extract_iso(build_iso(tmp_path / "fits.iso", {"live/vmlinuz": KERNEL}), small / "tree")  # across filesystems
        assert (small / "tree/live/vmlinuz").read_bytes() == KERNEL
        remove_tree(small / "tree")
    finally:
        subprocess.run(["umount", str(small)], check=True)


# --- copy paths -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("refused", [("copy_file_range",), ("copy_file_range", "sendfile")])
def test_fallback_copy_methods_give_identical_trees(tmp_path: Path, monkeypatch, refused) -> None:
    """copy_file_range is refused across some filesystems (EXDEV) and sendfile on some kernels (EINVAL);
    those refusals cannot be produced on demand here, so they are simulated by replacing the calls."""

    def refusing(code: int):
        def refuse(*_args, **_kwargs):
            raise OSError(code, "simulated refusal")

        return refuse

    for name in refused:
        monkeypatch.setattr(
            extract_write.os, name, refusing(errno.EXDEV if name == "copy_file_range" else errno.EINVAL)
        )
    iso = build_iso(tmp_path / "fallback.iso", debian_live_files())
    extract_iso(iso, tmp_path / "tree")
    monkeypatch.undo()
    extract_iso(iso, tmp_path / "reference")
    assert listing(tmp_path / "tree") == listing(tmp_path / "reference")


def _unaligned(iso: Path, rel: str) -> bool:
    from isodrop.extract.image import read_manifest

    handle, manifest = read_manifest(iso)
    with handle:
        node = next(n for n in manifest.files if n.rel == rel)
    return any(offset % extract_write.PAGE for offset, _length in node.extents)


@pytest.mark.parametrize("large_file", [1 << 40, 64 * 1024], ids=["one-thread", "second-thread"])
def test_page_unaligned_and_large_files_copy_exactly(tmp_path: Path, monkeypatch, large_file: int) -> None:
    """Files starting mid-page go through read/write, large ones through the second thread (made to take
    every file over 64 KiB here); both give back the ISO's bytes, as xorriso reads them."""
    monkeypatch.setattr(extract_write, "LARGE_FILE", large_file)
    files: dict[str, object] = {f"pool/f{i}": os.urandom(1000 + 2048 * i) for i in range(6)}
    files |= {f"live/big{i}.squashfs": os.urandom(300_000 + 4096 * i) for i in range(3)}
    iso = build_iso(tmp_path / "mixed.iso", files)
    assert any(_unaligned(iso, rel) for rel in files), "the image has no file starting mid-page"
    extract_iso(iso, tmp_path / "tree")
    assert listing(tmp_path / "tree") == xorriso_extract(iso, tmp_path / "reference")


def test_second_thread_failure_and_stop_leave_nothing(tmp_path: Path, monkeypatch) -> None:
    """A large file the image cuts short fails in the second thread: the error reaches the caller and
    nothing is left; should_stop while it copies also ends it."""
    monkeypatch.setattr(extract_write, "LARGE_FILE", 1 << 20)
    iso = build_iso(tmp_path / "cut.iso", {"a/small": b"x" * 100, "live/filesystem.squashfs": SQUASHFS})
    os.truncate(iso, iso.stat().st_size - 1024 * 1024)
    before = snapshot(tmp_path)
    with pytest.raises(ExtractError, match="ISO is truncated: live/filesystem.squashfs"):
        extract_iso(iso, tmp_path / "tree")
    assert snapshot(tmp_path) == before
    whole = build_iso(tmp_path / "whole.iso", {"live/filesystem.squashfs": SQUASHFS, "z/last": b"y"})
    copied = []
    with pytest.raises(ExtractError, match="stopped"):
        extract_iso(
            whole,
            tmp_path / "tree",
            progress=lambda done, _total: copied.append(done),
            should_stop=lambda: bool(copied),
        )
    assert not (tmp_path / "tree").exists()
