"""Look inside an initrd: the names of its files, from which the initramfs kinds tell what it is and can do.

An initrd is one or more cpio "newc" archives, each either plain (early microcode) or compressed.
gzip, xz, lzma and bzip2 are read with the standard library; zstd (Debian's default since
bookworm, Fedora's too) with `compression.zstd` on Python 3.14+, else through the `zstd` command;
lz4 and lzop never. What cannot be read is reported, not guessed.

The initrd is ISO content, so every read is bounded: at most MAX_INITRD_BYTES of the file, at most
MAX_UNPACKED_BYTES decompressed (in pieces of a MiB, only member names kept), MAX_SECONDS of work
and MAX_NAMES names; a bound that is hit is reported as the reason, with the names found until then.
"""

from __future__ import annotations

import bz2
import contextlib
import importlib
import importlib.util
import lzma
import re
import shutil
import subprocess
import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from isodrop.families.base import Tree

MAX_INITRD_BYTES = 512 * 1024 * 1024  # read at most this much of the initrd file
MAX_UNPACKED_BYTES = 1024 * 1024 * 1024  # decompressed bytes looked at; Debian's initrd unpacks to ~200 MiB
MAX_SECONDS = 30.0  # work on one initrd
MAX_NAMES = 200_000  # member names kept; a dracut initrd has about 3000
MAX_MEMBER_NAME = 4096  # bytes in one cpio member name (PATH_MAX)
PIECE = 1024 * 1024  # decompressed bytes asked for at a time: memory stays small whatever the ratio
CHUNK = 1024 * 1024  # initrd bytes handed on at a time


@dataclass(frozen=True)
class InitrdContents:
    names: frozenset[str]  # member paths, without a leading "./" or "/"
    problem: str = ""  # why (part of) the initrd could not be read; "" when all of it was

    def has(self, prefix: str) -> bool:
        return any(name == prefix or name.startswith(prefix) for name in self.names)


class _Limit(Exception):
    """A bound was hit: the message says which, for the user."""


class _Budget:
    """Decompressed bytes and seconds left for one initrd."""

    def __init__(self) -> None:
        self.unpacked = 0
        self.deadline = time.monotonic() + MAX_SECONDS

    def seconds_left(self) -> float:
        return max(self.deadline - time.monotonic(), 0.0)

    def spend(self, amount: int) -> None:
        self.unpacked += amount
        if self.unpacked > MAX_UNPACKED_BYTES:
            raise _Limit(f"stopped after {MAX_UNPACKED_BYTES // 2**20} MiB unpacked (a decompression bomb?)")
        self.check_time()

    def check_time(self) -> None:
        """Also called between pieces of plain (uncompressed) cpio data, which spend no unpacked bytes."""
        if time.monotonic() > self.deadline:
            raise _Limit(f"stopped after {MAX_SECONDS:.0f} s of unpacking")


class _Stream:
    """The initrd's bytes, in pieces, with room to put back what one reader did not use."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self.chunks: Iterator[bytes] = iter(chunks)
        self.pending = b""

    def read(self) -> bytes:
        data, self.pending = (self.pending, b"") if self.pending else (next(self.chunks, b""), b"")
        if len(data) > CHUNK:
            data, self.pending = data[:CHUNK], data[CHUNK:]
        return data

    def unread(self, data: bytes) -> None:
        self.pending = bytes(data) + self.pending

    def peek(self, size: int) -> bytes:
        while len(self.pending) < size:
            more = next(self.chunks, b"")
            if not more:
                break
            self.pending += more
        return self.pending[:size]


class _CpioScanner:
    """Collects member names of newc archives fed in pieces, skipping file data without keeping it."""

    def __init__(self, names: set[str]) -> None:
        self.names = names
        self.buffer = bytearray()
        self.skip = 0  # file data (and padding) still to pass over
        self.rest: bytes | None = None  # what followed the archives, once something that is not cpio shows up

    def feed(self, data: bytes) -> None:
        if self.rest is not None:
            return  # not cpio any more: the caller decides what the rest is
        self.buffer += data
        while True:
            if self.skip:
                passed = min(self.skip, len(self.buffer))
                del self.buffer[:passed]
                self.skip -= passed
                if self.skip:
                    return
            # NUL padding between archives; searched, not lstrip()ped: a copy of the buffer per member
            # made an archive of tiny padded members quadratic
            first = _NOT_NUL.search(self.buffer)
            del self.buffer[: first.start() if first else len(self.buffer)]
            if len(self.buffer) < 110:
                if self.buffer and not b"070701".startswith(bytes(self.buffer[:6])):
                    self.rest, self.buffer = bytes(self.buffer), bytearray()
                return
            if self.buffer[:6] not in (b"070701", b"070702"):
                self.rest, self.buffer = bytes(self.buffer), bytearray()
                return
            name_size, file_size = _hex(self.buffer[94:102]), _hex(self.buffer[54:62])
            if not 1 <= name_size <= MAX_MEMBER_NAME:
                raise ValueError(f"a malformed cpio archive (a member name of {name_size} bytes)")
            header = (110 + name_size + 3) & ~3
            if len(self.buffer) < header:
                return
            name = bytes(self.buffer[110 : 110 + name_size - 1]).decode("utf-8", "replace")
            del self.buffer[:header]
            self.skip = (file_size + 3) & ~3
            if name != "TRAILER!!!":
                self.names.add(name.removeprefix("./").lstrip("/"))
                if len(self.names) > MAX_NAMES:
                    raise _Limit(f"stopped after {MAX_NAMES} member names")


_NOT_NUL = re.compile(rb"[^\0]")


def _hex(field: bytes | bytearray) -> int:
    try:
        return int(field, 16)
    except ValueError:
        raise ValueError(f"a malformed cpio archive (header field {bytes(field)!r} is not hexadecimal)") from None


ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_HAS_ZSTD_MODULE = importlib.util.find_spec("compression") is not None and (
    importlib.util.find_spec("compression.zstd") is not None
)


def _decompressor(data: bytes) -> Any:
    """A decompressor (with .decompress, .eof, .unused_data) for the stream `data` starts with."""
    if data.startswith(b"\x1f\x8b"):
        return zlib.decompressobj(wbits=31)
    if data.startswith((b"\xfd7zXZ\x00", b"\x5d\x00\x00")):
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
    if data.startswith((b"\x02\x21\x4c\x18", b"\x04\x22\x4d\x18")):
        raise ValueError("lz4-compressed, which the Python standard library cannot read")
    if data.startswith(b"\x89LZO"):
        raise ValueError("lzop-compressed, which the Python standard library cannot read")
    raise ValueError(f"of an unknown format (starts with {data[:6].hex()})")


def _pieces(decompressor: Any, data: bytes) -> Iterator[bytes]:
    """What `data` decompresses to, at most PIECE bytes at a time (never the whole output at once)."""
    if hasattr(decompressor, "unconsumed_tail"):  # zlib
        while data and not decompressor.eof:
            out = decompressor.decompress(data, PIECE)
            if not out and len(decompressor.unconsumed_tail) == len(data):
                raise EOFError("the gzip stream makes no progress")
            data = decompressor.unconsumed_tail
            yield out
        return
    yield decompressor.decompress(data, PIECE)
    while not decompressor.eof and not decompressor.needs_input:
        yield decompressor.decompress(b"", PIECE)


def _scan_with_zstd_tool(stream: _Stream, names: set[str], budget: _Budget) -> None:
    """zstd before Python 3.14: stream through Debian's `zstd` command, bounded like the rest
    (its output counted, killed when the time is up)."""
    scanner = _CpioScanner(names)
    tool = subprocess.Popen(["zstd", "-dcq"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert tool.stdin is not None and tool.stdout is not None
    timer = threading.Timer(budget.seconds_left(), tool.kill)

    def feed_input() -> None:
        with contextlib.suppress(OSError), tool.stdin:
            while data := stream.read():
                tool.stdin.write(data)

    writer = threading.Thread(target=feed_input, daemon=True)
    try:
        timer.start()
        writer.start()
        while chunk := tool.stdout.read(PIECE):
            budget.spend(len(chunk))
            scanner.feed(chunk)
    finally:
        timer.cancel()
        if tool.poll() is None:
            tool.kill()
        tool.wait()
        tool.stdout.close()
        writer.join(timeout=5)
    if tool.returncode != 0:
        if budget.seconds_left() <= 0:
            raise _Limit(f"stopped after {MAX_SECONDS:.0f} s of unpacking")
        raise EOFError(f"zstd -d exited {tool.returncode}")


def _scan(stream: _Stream, names: set[str], budget: _Budget) -> None:
    """Names from every archive of the initrd: plain ones, then compressed ones, one after the other."""
    while True:
        plain = _CpioScanner(names)
        while plain.rest is None:
            budget.check_time()
            data = stream.read()
            if not data:
                return
            plain.feed(data)
        stream.unread(plain.rest)
        head = stream.peek(6)
        if head.startswith(ZSTD_MAGIC) and not _HAS_ZSTD_MODULE and shutil.which("zstd"):
            _scan_with_zstd_tool(stream, names, budget)
            return
        decompressor = _decompressor(head)
        inner = _CpioScanner(names)
        while not decompressor.eof:
            data = stream.read()
            if not data:
                raise EOFError("the compressed stream ends early")
            for piece in _pieces(decompressor, data):
                budget.spend(len(piece))
                inner.feed(piece)
        if inner.rest is not None:
            return  # something that is not cpio inside the compressed stream: stop reading here
        stream.unread(decompressor.unused_data)


def read_initrd(tree: Tree, rel: str) -> InitrdContents:
    """The member names of every archive in the initrd `rel`, and what could not be read (cached on the tree)."""
    facts = tree.initrd_facts.get(rel)
    if not isinstance(facts, InitrdContents):
        facts = tree.initrd_facts[rel] = _read_initrd(tree, rel)
    return facts


def _read_initrd(tree: Tree, rel: str) -> InitrdContents:
    chunks = tree.read_chunks(rel, MAX_INITRD_BYTES)
    if chunks is None:
        return InitrdContents(frozenset(), f"{rel} is not a readable file")
    names: set[str] = set()
    try:
        _scan(_Stream(chunks), names, _Budget())
    except _Limit as error:
        return InitrdContents(frozenset(names), f"{rel}: {error}")
    except ValueError as error:
        return InitrdContents(frozenset(names), f"{rel}: part of it is {error}")
    except (OSError, lzma.LZMAError, zlib.error, EOFError) as error:
        return InitrdContents(frozenset(names), f"{rel}: part of it is corrupt ({error})")
    except Exception as error:  # noqa: BLE001 - a decompressor on crafted input: report, never crash recognition
        return InitrdContents(frozenset(names), f"{rel}: part of it is corrupt ({type(error).__name__}: {error})")
    return InitrdContents(frozenset(names))
