"""isodrop.families.initramfs.detect: initrds are read as the kernel reads them (concatenated archives, zstd), bounded,
and a broken one is explained."""

from __future__ import annotations

import bz2
import gzip
import lzma
from pathlib import Path

import pytest

from isodrop.families import DirTree, recognise
from isodrop.families.initramfs import detect, found_in
from isodrop.families.initramfs.detect import read_initrd
from isodrop.model import BootEntry, NotBootable
from tests.harness.family_layouts import Layout, context, cpio, write_tree


def test_manjaro_with_zstd_initramfs_is_read(make_tree) -> None:
    """Manjaro's default zstd initramfs is read (Python 3.14's zstd module, else Debian's zstd command)."""
    result = recognise(make_tree("manjaro_24_zstd"), context("m"))
    assert isinstance(result, BootEntry), result
    assert "misobasedir=manjaro" in result.params and any(p.startswith("miso_nfs_srv=") for p in result.params)


def test_manjaro_with_broken_zstd_initramfs_is_explained(make_tree) -> None:
    """A zstd stream that cannot be unpacked: the outcome says so instead of guessing."""
    result = recognise(make_tree("manjaro_24_zstd_corrupt"), context("m"))
    assert isinstance(result, NotBootable)
    assert "could not check" in result.reason and "corrupt" in result.reason


@pytest.mark.parametrize("chunk", [777, 4 * 1024 * 1024])
def test_initrd_reader_sees_every_concatenated_archive(tmp_path: Path, monkeypatch, chunk: int) -> None:
    """An early-microcode cpio, a gzip'd, an xz'd and a bzip2'd cpio, as initrds concatenate them;
    small chunks make headers and file data straddle the pieces fed to the decompressors."""
    monkeypatch.setattr(detect, "CHUNK", chunk)
    monkeypatch.setattr(detect, "PIECE", chunk)  # decompressed pieces straddle headers too
    many = {f"usr/lib/modules/6.1/kernel/m{i}.ko": bytes([i % 251]) * (i * 37 % 5000) for i in range(300)}
    data = (
        cpio({"kernel/x86/microcode/AuthenticAMD.bin": b"x" * 3})
        + gzip.compress(cpio({"scripts/casper": b"#", **many}))
        + lzma.compress(cpio({"usr/lib/dracut/modules.txt": b"x" * 70_000}))
        + bz2.compress(cpio({"hooks/archiso": b"run_hook"}))
    )
    tree = DirTree(write_tree(tmp_path / "t", Layout({"initrd": data}, "")))
    contents = read_initrd(tree, "initrd")
    assert contents.problem == ""
    expected = {"kernel/x86/microcode/AuthenticAMD.bin", "scripts/casper", "usr/lib/dracut/modules.txt"}
    assert contents.names == expected | {"hooks/archiso"} | set(many)
    assert [kind.name for kind in found_in(contents)] == ["casper", "dracut", "archiso"]


def test_initrd_reader_reports_a_truncated_stream(tmp_path: Path) -> None:
    data = gzip.compress(cpio({"scripts/casper": b"#" * 100_000}))
    tree = DirTree(write_tree(tmp_path / "t", Layout({"initrd": data[: len(data) // 2]}, "")))
    contents = read_initrd(tree, "initrd")
    assert "part of it is corrupt" in contents.problem
