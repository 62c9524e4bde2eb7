"""Look inside an initrd to tell which live initramfs it implements (casper, live-boot, dracut, archiso, miso).

An initrd is one or more cpio "newc" archives, each either plain (early microcode) or compressed.
gzip, xz, lzma and bzip2 are read with the standard library; zstd only where Python has
`compression.zstd` (3.14+); lz4 and lzop never. What cannot be read is reported, not guessed.
"""

from __future__ import annotations

import bz2
import importlib
import lzma
import zlib
from dataclasses import dataclass

from isodrop.families.base import Tree

MAX_INITRD_BYTES = 512 * 1024 * 1024  # read at most this much of the initrd file
MAX_UNPACKED_BYTES = 1024 * 1024 * 1024  # and unpack at most this much

# Files that only the named initramfs ships (checked as path prefixes of cpio member names).
MARKERS: dict[str, tuple[str, ...]] = {
    "casper": ("scripts/casper", "usr/share/initramfs-tools/scripts/casper"),
    "live-boot": ("lib/live/boot", "usr/lib/live/boot", "scripts/live"),
    "dracut": ("usr/lib/dracut/", "lib/dracut/", "usr/lib/dracut-lib.sh", "lib/dracut-lib.sh"),
    "archiso": ("hooks/archiso",),
    "miso": ("hooks/miso",),
}


@dataclass(frozen=True)
class InitrdContents:
    names: frozenset[str]  # member paths, without a leading "./" or "/"
    problem: str = ""  # why (part of) the initrd could not be read; "" when all of it was

    def has(self, prefix: str) -> bool:
        return any(name == prefix or name.startswith(prefix) for name in self.names)

    def kinds(self) -> list[str]:
        """The initramfs families whose marker files are present."""
        return [kind for kind, prefixes in MARKERS.items() if any(self.has(prefix) for prefix in prefixes)]


def _zstd_decompress(data: bytes) -> tuple[bytes, bytes]:
    try:
        zstd = importlib.import_module("compression.zstd")
    except ImportError as error:
        raise ValueError("zstd-compressed, which this Python cannot read (needs Python 3.14+)") from error
    decompressor = zstd.ZstdDecompressor()
    return decompressor.decompress(data, MAX_UNPACKED_BYTES), decompressor.unused_data


def _decompress(data: bytes) -> tuple[bytes, bytes]:
    """(unpacked bytes of the first compressed stream in `data`, the bytes after it)."""
    if data.startswith(b"\x1f\x8b"):
        gz = zlib.decompressobj(wbits=31)
        return gz.decompress(data, MAX_UNPACKED_BYTES), gz.unused_data
    if data.startswith(b"\xfd7zXZ\x00") or data.startswith(b"\x5d\x00\x00"):
        xz = lzma.LZMADecompressor()
        return xz.decompress(data, MAX_UNPACKED_BYTES), xz.unused_data
    if data.startswith(b"BZh"):
        bz = bz2.BZ2Decompressor()
        return bz.decompress(data), bz.unused_data
    if data.startswith(b"\x28\xb5\x2f\xfd"):
        return _zstd_decompress(data)
    if data.startswith(b"\x02\x21\x4c\x18") or data.startswith(b"\x04\x22\x4d\x18"):
        raise ValueError("lz4-compressed, which the Python standard library cannot read")
    if data.startswith(b"\x89LZO"):
        raise ValueError("lzop-compressed, which the Python standard library cannot read")
    raise ValueError(f"of an unknown format (starts with {data[:6].hex()})")


def _cpio_names(data: bytes, names: set[str]) -> int:
    """Add the member names of the newc archive(s) at the start of `data`; return where they end."""
    offset = 0
    while data.startswith((b"070701", b"070702"), offset):
        header = data[offset : offset + 110]
        if len(header) < 110:
            break
        name_size = int(header[94:102], 16)
        file_size = int(header[54:62], 16)
        name = data[offset + 110 : offset + 110 + name_size - 1].decode("utf-8", "replace")
        offset = (offset + 110 + name_size + 3) & ~3
        offset = (offset + file_size + 3) & ~3
        if name == "TRAILER!!!":
            while offset < len(data) and data[offset] == 0:  # padding between concatenated archives
                offset += 1
            continue
        names.add(name.removeprefix("./").lstrip("/"))
    return offset


def read_initrd(tree: Tree, rel: str) -> InitrdContents:
    """The member names of every archive in the initrd `rel`, and what could not be read."""
    data = tree.read_bytes(rel, MAX_INITRD_BYTES)
    if data is None:
        return InitrdContents(frozenset(), f"{rel} is not a readable file")
    names: set[str] = set()
    while data:
        end = _cpio_names(data, names)
        data = data[end:].lstrip(b"\0")
        if not data:
            break
        try:
            unpacked, data = _decompress(data)
        except ValueError as error:
            return InitrdContents(frozenset(names), f"{rel}: part of it is {error}")
        except (OSError, lzma.LZMAError, zlib.error, EOFError) as error:
            return InitrdContents(frozenset(names), f"{rel}: part of it is corrupt ({error})")
        _cpio_names(unpacked, names)
    return InitrdContents(frozenset(names))
