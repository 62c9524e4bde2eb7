"""ISO contents and tree listings the extraction tests share: a Debian-live and an Ubuntu layout with md5sum.txt,
listings of an extracted tree (ours, xorriso's), a folder snapshot and a tree deeper than PATH_MAX."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from isodrop.extract.image import open_image
from tests.harness.isofactory import File, Symlink

KERNEL = b"\x4d\x5a" + bytes(range(256)) * 40


SQUASHFS = os.urandom(3 * 1024 * 1024 + 123)  # not a multiple of the block size, several copy chunks


def md5(data: bytes | str) -> str:
    return hashlib.md5(data.encode() if isinstance(data, str) else data, usedforsecurity=False).hexdigest()


def data_of(value: object) -> bytes:
    return value.data if isinstance(value, File) else value.encode() if isinstance(value, str) else value


def md5sum_txt(files: dict[str, object], listed: dict[str, str]) -> str:
    """Debian/Ubuntu `md5sum.txt`: `<md5>  ./<listed path>` for the data of `files[listed[path]]`."""
    return "".join(f"{md5(data_of(files[source]))}  ./{rel}\n" for rel, source in listed.items())


def debian_live_files() -> dict[str, object]:
    files: dict[str, object] = {
        ".disk/info": 'Debian GNU/Linux 12.5.0 "Bookworm" - Official amd64 Live\n',
        ".disk/base_installable": b"",
        "live/vmlinuz-6.1.0-18-amd64": File(KERNEL, 0o100644),
        "live/initrd.img-6.1.0-18-amd64": b"initrd" * 3000,
        "live/filesystem.squashfs": SQUASHFS,
        "isolinux/isolinux.bin": bytes(range(256)) * 32,
        "isolinux/isolinux.cfg": "include menu.cfg\n",
        "boot/grub/grub.cfg": "menuentry live {}\n",
    }
    listed = ("live/vmlinuz-6.1.0-18-amd64", "live/initrd.img-6.1.0-18-amd64", "live/filesystem.squashfs")
    files["md5sum.txt"] = md5sum_txt(files, {rel: rel for rel in listed})
    return files


def ubuntu_files() -> dict[str, object]:
    files: dict[str, object] = {
        ".disk/info": 'Ubuntu 24.04 LTS "Noble Numbat" - Release amd64 (20240424)\n',
        ".disk/casper-uuid-generic": "1e2c3f9b-0000-4000-8000-123456789abc\n",
        "casper/vmlinuz": File(KERNEL, 0o100444),
        "casper/initrd": b"initrd" * 2000,
        "casper/minimal.squashfs": SQUASHFS,
        "casper/minimal.squashfs.gpg": "-----BEGIN PGP SIGNATURE-----\n",
        "boot/grub/grub.cfg": "menuentry 'Try or Install Ubuntu' {}\n",
        "ubuntu": Symlink("."),
        "dists/stable": Symlink("noble"),
        "dists/noble/Release": "Suite: noble\n",
    }
    listed = {rel: rel for rel in ("casper/initrd", "casper/minimal.squashfs", "boot/grub/grub.cfg")}
    files["md5sum.txt"] = md5sum_txt(files, {**listed, "dists/stable/Release": "dists/noble/Release"})
    return files


def listing(root: Path) -> dict[str, tuple[str, str]]:
    """{rel: (kind, content md5 or link target)} of a tree on disk, without following symlinks."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            out[rel] = ("l", os.readlink(path))
        elif path.is_dir():
            out[rel] = ("d", "")
        else:
            out[rel] = ("f", md5(path.read_bytes()))
    return out


def xorriso_extract(iso: Path, dest: Path) -> dict[str, tuple[str, str]]:
    """The reference: what xorriso (libisofs, a separate implementation) extracts from the same image."""
    if shutil.which("xorriso") is None:
        pytest.skip("xorriso is not installed (tests/apt-packages.txt lists it); the reference is missing")
    subprocess.run(
        ["xorriso", "-osirrox", "on", "-indev", str(iso), "-extract", "/", str(dest)],
        check=True,
        capture_output=True,
    )
    return listing(dest)


def snapshot(folder: Path) -> dict[str, tuple[int, int, int]]:
    """Everything under `folder` (name, mode, size, mtime), to prove nothing else was written."""
    return {
        p.relative_to(folder).as_posix(): (p.lstat().st_mode, p.lstat().st_size, p.lstat().st_mtime_ns)
        for p in folder.rglob("*")
    }


def read_volume_id(iso: Path) -> str:
    """The volume ID pycdlib reads, through the same open and checks as extraction (ExtractError)."""
    handle, image = open_image(iso)
    try:
        return image.pvd.volume_identifier.decode("utf-8", errors="replace").strip()
    finally:
        image.close()
        handle.close()


def deep_tree(root: Path, depth: int) -> Path:
    """`depth` nested folders, each with a file, built with relative opens (the path is past PATH_MAX)."""
    root.mkdir()
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for level in range(depth):
            file_fd = os.open(f"f{level}", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
            os.write(file_fd, b"x")
            os.close(file_fd)
            os.mkdir("d" * 100, dir_fd=fd)
            child = os.open("d" * 100, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = child
        os.fchmod(fd, 0o555)  # a read-only folder at the bottom, as extraction leaves them
    finally:
        os.close(fd)
    return root
