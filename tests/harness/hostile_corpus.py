"""A corpus of hostile ISO images, built in the tests with pycdlib/xorriso and byte patching.

Each `Kind` builds one image and says what must happen: an ExtractError whose text matches `fails`,
or (fails == "") a tree whose warnings match `warns`. Images are small (a few MiB at most, one
of 65 MiB for the md5sum.txt size bound), so the whole corpus builds in seconds.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.harness.isofactory import File, Symlink, build_iso

BLOCK = 2048
PVD = 16 * BLOCK

BASE = {
    "live/vmlinuz": b"k" * 5000,
    "live/initrd": b"i" * 3000,
    "a/b/c": "x",
    "aa": "1",
    "bb": "2",
}
# pycdlib numbers ISO 9660 names in insertion order: live D00001, vmlinuz F00002, initrd F00003,
# a D00004, a/b D00005, c F00006, aa F00007, bb F00008.


@dataclass(frozen=True)
class Kind:
    name: str
    build: Callable[[Path], Path]  # folder -> the image (or other file) built in it
    fails: str  # regex the ExtractError must match; "" when the image extracts
    warns: str = ""  # regex one warning must match when it extracts

    def __str__(self) -> str:
        return self.name


def record(data: bytes | bytearray, ident: bytes) -> int:
    """Offset of the (first, ISO 9660) directory record with identifier `ident`."""
    at = -1
    while True:
        at = data.find(ident, at + 1)
        if at < 0:
            raise AssertionError(f"no directory record {ident!r}")
        if data[at - 1] == len(ident) and data[at - 33] >= 33 + len(ident):
            return at - 33


def both_endian(value: int) -> bytes:
    return struct.pack("<I", value) + struct.pack(">I", value)


def patched(files: dict, change: Callable[[bytearray], None], **options: object) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        iso = build_iso(folder / "image.iso", files, **options)
        data = bytearray(iso.read_bytes())
        change(data)
        iso.write_bytes(bytes(data))
        return iso

    return build


def plain(files: dict, **options: object) -> Callable[[Path], Path]:
    return lambda folder: build_iso(folder / "image.iso", files, **options)


def raw(content: Callable[[], bytes]) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        path = folder / "image.iso"
        path.write_bytes(content())
        return path

    return build


def fifo(folder: Path) -> Path:
    path = folder / "image.iso"
    os.mkfifo(path, 0o600)
    return path


def truncated(cut_from_end: int) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        iso = build_iso(folder / "image.iso", {**BASE, "live/filesystem.squashfs": os.urandom(600_000)})
        os.truncate(iso, iso.stat().st_size - cut_from_end)
        return iso

    return build


def cut_at(size: int) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        iso = build_iso(folder / "image.iso", BASE)
        os.truncate(iso, size)
        return iso

    return build


def volume_size(blocks: int) -> Callable[[bytearray], None]:
    def change(data: bytearray) -> None:
        data[PVD + 80 : PVD + 88] = both_endian(blocks)

    return change


def record_byte(ident: bytes, offset: int, value: bytes) -> Callable[[bytearray], None]:
    def change(data: bytearray) -> None:
        at = record(data, ident) + offset
        data[at : at + len(value)] = value

    return change


def same_extent(source: bytes, target: bytes) -> Callable[[bytearray], None]:
    """Give directory `target` the extent (and length) of directory `source`."""

    def change(data: bytearray) -> None:
        src = record(data, source)
        dst = record(data, target)
        data[dst + 2 : dst + 18] = data[src + 2 : src + 18]

    return change


def replace_once(old: bytes, new: bytes) -> Callable[[bytearray], None]:
    def change(data: bytearray) -> None:
        assert data.count(old) >= 1, old
        at = data.index(old)
        data[at : at + len(new)] = new

    return change


def cl_to_root(data: bytearray) -> None:
    """The first Rock Ridge child link points at the root directory: a loop through CL/PL."""
    root = struct.unpack_from("<I", data, PVD + 156 + 2)[0]
    at = data.index(b"CL\x0c\x01")
    data[at + 4 : at + 12] = both_endian(root)


def path_tables_garbage(data: bytearray) -> None:
    size = struct.unpack_from("<I", data, PVD + 132)[0]
    rng = random.Random(9)
    for location in (struct.unpack_from("<I", data, PVD + 140)[0], struct.unpack_from(">I", data, PVD + 148)[0]):
        data[location * BLOCK : location * BLOCK + size] = bytes(rng.randrange(256) for _ in range(size))


def catalog_garbage(data: bytearray) -> None:
    """El Torito: the boot record's catalogue pointer leads to random bytes."""
    assert data[17 * BLOCK + 1 : 17 * BLOCK + 6] == b"CD001"
    catalog = struct.unpack_from("<I", data, 17 * BLOCK + 71)[0]
    data[catalog * BLOCK : (catalog + 1) * BLOCK] = random.Random(3).randbytes(BLOCK)


def catalog_past_end(data: bytearray) -> None:
    data[17 * BLOCK + 71 : 17 * BLOCK + 75] = struct.pack("<I", 0x00FFFFFF)


def deep_tree(levels: int, name: str = "d") -> Callable[[Path], Path]:
    """`levels` nested folders (xorriso: Rock Ridge keeps them where they are)."""

    def build(folder: Path) -> Path:
        source = folder / "deep-src"
        source.mkdir()
        fd = os.open(source, os.O_RDONLY)
        for _ in range(levels):
            os.mkdir(name, dir_fd=fd)
            inner = os.open(name, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = inner
        os.close(os.open("bottom", os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=fd))
        os.close(fd)
        iso = folder / "image.iso"
        run = ["xorriso", "-as", "mkisofs", "-R", "-quiet", "-o", str(iso), str(source)]
        subprocess.run(run, check=True, capture_output=True)
        _remove_deep(source)
        return iso

    return build


def _remove_deep(path: Path) -> None:
    """rm -r without recursion (shutil.rmtree recurses on Python 3.11)."""
    subprocess.run(["rm", "-rf", "--", str(path)], check=True)


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


BIG = os.urandom(4 * 1024 * 1024)


def md5_repeats(folder: Path) -> Path:
    """md5sum.txt naming one 4 MiB file 30 000 times under different spellings."""
    spellings = ["./big", "//big", "big", "././big", "./live/../big", ".//./big"]
    digest = md5(BIG)
    lines = "".join(f"{digest}  {spellings[i % len(spellings)]}\n" for i in range(30_000))
    return build_iso(folder / "image.iso", {"big": BIG, "md5sum.txt": lines})


def md5_huge(folder: Path) -> Path:
    line = f"{md5(b'x')}  ./x\n"
    return build_iso(folder / "image.iso", {"x": "x", "md5sum.txt": line * (65 * 1024 * 1024 // len(line) + 1)})


def overlapping_windows(folder: Path) -> Path:
    """200 small files whose records point at shifted 4 MiB windows of one 4 MiB file."""
    files = {"big": BIG, **{f"w/{i:03d}": b"s" for i in range(200)}}
    iso = build_iso(folder / "image.iso", files, joliet=False)
    data = bytearray(iso.read_bytes())
    big = record(data, b"F00001.;1")
    start = struct.unpack_from("<I", data, big + 2)[0]
    for i in range(200):
        at = record(data, f"F{i + 3:05d}.;1".encode())
        data[at + 2 : at + 18] = both_endian(start + i % 64) + both_endian(len(BIG) - (i % 64) * BLOCK)
    iso.write_bytes(bytes(data))
    return iso


def long_path(folder: Path) -> Path:
    """16 folders of 250-character names and a file: a 4017-byte path (xorriso, run inside a
    short-named source folder so that no path it is given reaches PATH_MAX)."""
    source = Path(tempfile.mkdtemp(prefix="lp", dir="/tmp"))  # xorriso wants the whole disk path < 4096
    fd = os.open(source, os.O_RDONLY)
    for i in range(16):
        name = f"{i:02d}" + "p" * 248
        os.mkdir(name, dir_fd=fd)
        inner = os.open(name, os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = inner
    os.close(os.open("f", os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=fd))
    os.close(fd)
    iso = folder / "image.iso"
    run = ["xorriso", "-as", "mkisofs", "-R", "-quiet", "-o", str(iso), "."]
    subprocess.run(run, check=True, cwd=source, capture_output=True)
    _remove_deep(source)
    return iso


def symlink_nul(folder: Path) -> Path:
    iso = build_iso(folder / "image.iso", {**BASE, "link": Symlink("QZQZ")})
    data = bytearray(iso.read_bytes())
    replace_once(b"QZQZ", b"QZ\0Z")(data)
    iso.write_bytes(bytes(data))
    return iso


def kinds() -> list[Kind]:
    boot = {**BASE, "isolinux/isolinux.bin": bytes(range(256)) * 8}
    return [
        Kind("zero-size", raw(lambda: b""), "is not an ISO 9660 image: 0 bytes"),
        Kind("all-zero", raw(lambda: bytes(64 * BLOCK)), "is not an ISO 9660 image"),
        Kind("random-bytes", raw(lambda: random.Random(1).randbytes(200_000)), "is not an ISO 9660 image"),
        Kind("fifo", fifo, "is a FIFO, not a regular file"),
        Kind("volume-size-too-big", patched(BASE, volume_size(100_000)), "ISO is truncated"),
        Kind("volume-size-too-small", patched(BASE, volume_size(20)), ""),
        Kind("truncated-inside-a-file", truncated(300_000), "ISO is truncated: live/filesystem.squashfs"),
        Kind("truncated-in-directories", cut_at(17 * BLOCK), "truncated|cannot read|not an ISO"),
        Kind("record-length-0", patched(BASE, record_byte(b"F00006.;1", 0, b"\0")), "pycdlib cannot read"),
        Kind("record-length-255", patched(BASE, record_byte(b"F00006.;1", 0, b"\xff")), "pycdlib cannot read"),
        Kind(
            "extent-past-end",
            patched(BASE, record_byte(b"F00006.;1", 2, both_endian(0x00FFFFFF))),
            "damaged directory record: a/b/c .* past the end of the image",
        ),
        Kind(
            "length-4-gib",
            patched(BASE, record_byte(b"F00006.;1", 10, both_endian(0xFFFFFFF0))),
            "damaged directory record: a/b/c .*says 4294967280 bytes",
        ),
        Kind(
            "endian-mismatch",
            patched(BASE, record_byte(b"F00006.;1", 10, struct.pack("<I", 3))),
            "",
        ),  # pycdlib reads the little-endian half, as Linux does
        Kind("directory-loop", patched(BASE, same_extent(b"D00004", b"D00005")), "loop"),
        Kind("directories-sharing-an-extent", patched(BASE, same_extent(b"D00001", b"D00004")), "loop"),
        Kind(
            "rock-ridge-child-link-loop",
            patched({"/".join(f"l{i}" for i in range(10)) + "/f": "deep"}, cl_to_root),
            "pycdlib cannot read|loop",
        ),
        Kind("nested-1100-folders", deep_tree(1100), "folders nested deeper than 64 levels"),
        Kind("path-over-4000-bytes", long_path, "path longer than 4000 bytes"),
        Kind("name-300-bytes", plain({"n" * 300: "x"}), "file name longer than 255 bytes"),
        Kind("name-dotdot", patched(BASE, replace_once(b"NM\x07\x01\x00aa", b"NM\x07\x01\x00..")), "unsafe file name"),
        Kind("name-slash", patched(BASE, replace_once(b"NM\x07\x01\x00aa", b"NM\x07\x01\x00a/")), "unsafe file name"),
        Kind("name-nul", patched(BASE, replace_once(b"NM\x07\x01\x00aa", b"NM\x07\x01\x00\0a")), "unsafe file name"),
        Kind(
            "joliet-name-slash",
            patched(BASE, replace_once("aa".encode("utf-16_be"), "a/".encode("utf-16_be")), rock_ridge=False),
            "unsafe file name",
        ),
        Kind(
            "duplicate-names",
            patched(BASE, replace_once(b"NM\x07\x01\x00bb", b"NM\x07\x01\x00aa")),
            "duplicate name 'aa'",
        ),
        Kind("path-table-garbage", patched(BASE, path_tables_garbage), "pycdlib cannot read"),
        Kind("el-torito-catalogue-garbage", patched(boot, catalog_garbage, boot_file="isolinux/isolinux.bin"), "."),
        Kind(
            "el-torito-catalogue-past-end",
            patched(boot, catalog_past_end, boot_file="isolinux/isolinux.bin"),
            ".",
        ),
        Kind("symlink-to-etc-shadow", plain({**BASE, "shadow": Symlink("/etc/shadow")}), "", "absolute target"),
        Kind("symlink-up-and-out", plain({**BASE, "live/up": Symlink("../../..")}), "", "outside the tree"),
        Kind(
            "symlink-loop",
            plain({**BASE, "loop1": Symlink("loop2"), "loop2": Symlink("loop1")}),
            "",
            "symlink loop",
        ),
        Kind("symlink-target-with-nul", symlink_nul, "", "NUL byte"),
        Kind("md5sum-one-file-30000-times", md5_repeats, ""),
        Kind("md5sum-65-mib", md5_huge, r"md5sum.txt of .*\.iso is .* more than"),
        Kind(
            "md5sum-one-endless-line",
            plain({"x": "x", "md5sum.txt": "0" * (1024 * 1024)}),
            r"md5sum.txt of .*\.iso has a line longer than",
        ),
        Kind(
            "md5sum-mismatch",
            plain({"x": File(b"real"), "md5sum.txt": f"{md5(b'fake')}  ./x\n{md5(b'')}  ./gone\n"}),
            r"fails its md5sum.txt: gone \(missing\), x \(checksum mismatch\)",
        ),
        Kind("overlapping-shifted-windows", overlapping_windows, "add up to .* more than the .* bytes of the image"),
    ]


def copy_kind(kind: Kind, folder: Path, dest: Path) -> Path:
    """Build `kind` in `folder` and move the image to `dest` (for a drop folder)."""
    folder.mkdir(parents=True, exist_ok=True)
    built = kind.build(folder)
    shutil.move(built, dest)
    return dest
