"""Look inside an initrd to tell which live initramfs it implements (casper, live-boot, dracut, archiso, miso).

An initrd is one or more cpio "newc" archives, each either plain (early microcode) or compressed.
gzip, xz, lzma and bzip2 are read with the standard library; zstd (Debian's default since
bookworm, Fedora's too) with `compression.zstd` on Python 3.14+, else through the `zstd` command;
lz4 and lzop never. What cannot be read is reported, not guessed.
"""

from __future__ import annotations

import bz2
import contextlib
import importlib
import importlib.util
import lzma
import shutil
import subprocess
import threading
import zlib
from dataclasses import dataclass
from typing import Any

from isodrop.families.base import Tree

MAX_INITRD_BYTES = 512 * 1024 * 1024  # read at most this much of the initrd file
CHUNK = 4 * 1024 * 1024  # compressed bytes fed to a decompressor at a time: memory stays small

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


class _CpioScanner:
    """Collects member names of newc archives fed in pieces, skipping file data without keeping it."""

    def __init__(self, names: set[str]) -> None:
        self.names = names
        self.buffer = bytearray()
        self.skip = 0  # file data (and padding) still to pass over
        self.rest: bytes | None = None  # what followed the archives, once something that is not cpio shows up

    def feed(self, data: bytes) -> None:
        if self.rest is not None:
            self.rest += data
            return
        self.buffer += data
        while True:
            if self.skip:
                passed = min(self.skip, len(self.buffer))
                del self.buffer[:passed]
                self.skip -= passed
                if self.skip:
                    return
            del self.buffer[: len(self.buffer) - len(self.buffer.lstrip(b"\0"))]  # padding between archives
            if len(self.buffer) < 110:
                if self.buffer and not b"070701".startswith(bytes(self.buffer[:6])):
                    self.rest, self.buffer = bytes(self.buffer), bytearray()
                return
            if self.buffer[:6] not in (b"070701", b"070702"):
                self.rest, self.buffer = bytes(self.buffer), bytearray()
                return
            name_size = int(self.buffer[94:102], 16)
            file_size = int(self.buffer[54:62], 16)
            header = (110 + name_size + 3) & ~3
            if len(self.buffer) < header:
                return
            name = bytes(self.buffer[110 : 110 + name_size - 1]).decode("utf-8", "replace")
            del self.buffer[:header]
            self.skip = (file_size + 3) & ~3
            if name != "TRAILER!!!":
                self.names.add(name.removeprefix("./").lstrip("/"))


ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_HAS_ZSTD_MODULE = importlib.util.find_spec("compression") is not None and (
    importlib.util.find_spec("compression.zstd") is not None
)


def _decompressor(data: bytes) -> Any:
    """A decompressor (with .decompress, .eof, .unused_data) for the stream `data` starts with."""
    if data.startswith(b"\x1f\x8b"):
        return zlib.decompressobj(wbits=31)
    if data.startswith(b"\xfd7zXZ\x00") or data.startswith(b"\x5d\x00\x00"):
        return lzma.LZMADecompressor()
    if data.startswith(b"BZh"):
        return bz2.BZ2Decompressor()
    if data.startswith(ZSTD_MAGIC):
        try:
            return importlib.import_module("compression.zstd").ZstdDecompressor()
        except ImportError as error:
            raise ValueError(
                "zstd-compressed, which this Python cannot read without the zstd command (apt install zstd)"
            ) from error
    if data.startswith(b"\x02\x21\x4c\x18") or data.startswith(b"\x04\x22\x4d\x18"):
        raise ValueError("lz4-compressed, which the Python standard library cannot read")
    if data.startswith(b"\x89LZO"):
        raise ValueError("lzop-compressed, which the Python standard library cannot read")
    raise ValueError(f"of an unknown format (starts with {data[:6].hex()})")


def _scan_with_zstd_tool(data: bytes, names: set[str]) -> bytes:
    """zstd before Python 3.14: stream through Debian's `zstd` command (the initrd's last archive)."""
    scanner = _CpioScanner(names)
    with subprocess.Popen(["zstd", "-dcq"], stdin=subprocess.PIPE, stdout=subprocess.PIPE) as tool:
        assert tool.stdin is not None and tool.stdout is not None

        def feed_input() -> None:
            with contextlib.suppress(BrokenPipeError), tool.stdin:
                tool.stdin.write(data)

        writer = threading.Thread(target=feed_input, daemon=True)
        writer.start()
        while chunk := tool.stdout.read(CHUNK):
            scanner.feed(chunk)
        writer.join()
    if tool.returncode != 0:
        raise EOFError(f"zstd -d exited {tool.returncode}")
    return b""


def _scan_compressed(data: bytes, names: set[str]) -> bytes:
    """Add the names inside the compressed cpio stream `data` starts with; return the bytes after it."""
    if data.startswith(ZSTD_MAGIC) and not _HAS_ZSTD_MODULE and shutil.which("zstd"):
        return _scan_with_zstd_tool(data, names)
    decompressor = _decompressor(data)
    scanner = _CpioScanner(names)
    position = 0
    while position < len(data) and not decompressor.eof:
        chunk = data[position : position + CHUNK]
        position += len(chunk)
        scanner.feed(decompressor.decompress(chunk))
    if not decompressor.eof:
        raise EOFError("the compressed stream ends early")
    return decompressor.unused_data + data[position:]


def read_initrd(tree: Tree, rel: str) -> InitrdContents:
    """The member names of every archive in the initrd `rel`, and what could not be read (cached on the tree)."""
    facts = tree.initrd_facts.get(rel)
    if not isinstance(facts, InitrdContents):
        facts = tree.initrd_facts[rel] = _read_initrd(tree, rel)
    return facts


def _read_initrd(tree: Tree, rel: str) -> InitrdContents:
    data = tree.read_bytes(rel, MAX_INITRD_BYTES)
    if data is None:
        return InitrdContents(frozenset(), f"{rel} is not a readable file")
    names: set[str] = set()
    while data:
        plain = _CpioScanner(names)
        plain.feed(data)
        if not plain.rest:
            break
        try:
            data = _scan_compressed(plain.rest, names)
        except ValueError as error:
            return InitrdContents(frozenset(names), f"{rel}: part of it is {error}")
        except (OSError, lzma.LZMAError, zlib.error, EOFError) as error:
            return InitrdContents(frozenset(names), f"{rel}: part of it is corrupt ({error})")
    return InitrdContents(frozenset(names))
