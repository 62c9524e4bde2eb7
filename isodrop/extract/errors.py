"""What extraction reports, and the bounds it holds every image to.

The ISO is untrusted input, so everything an image can make isodrop do is bounded by what the image
holds (bytes written and hashed) or by a fixed limit below, and every way it can fail ends as one
`ExtractError` with a one-line reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from isodrop.errors import IsodropError

MAX_DIRECTORY_BYTES = 32 * 1024 * 1024  # records of one directory; 100 000 files take about 10 MiB
MAX_NODES = 150_000  # entries (files, folders, links) in one name space; a Debian DVD has about 5000.
# Reading costs about 3.8 KiB of memory per entry (pycdlib's records for Rock Ridge + Joliet and the
# manifest; measured on a 20 000-file image), so this also bounds memory at about 550 MiB.
MAX_DEPTH = 64  # folder levels; ISO 9660 allows 8, Rock Ridge relocation a few more on real images
MAX_PATH_BYTES = 4000  # a relative path, encoded: below Linux's PATH_MAX (4096) with room for the tree's own path
MAX_NAME_BYTES = 255  # one name, encoded: Linux's NAME_MAX
MAX_SYMLINK_TARGET = 4095  # what Linux's symlink(2) takes
MAX_SYMLINK_HOPS = 40  # what Linux allows before ELOOP
MAX_FOLLOW_STEPS = 5_000_000  # path components walked while checking all symlinks of one image
MAX_MD5SUM_BYTES = 64 * 1024 * 1024  # md5sum.txt of a Debian BD image is about 6 MiB
MAX_MD5SUM_LINE = 8192


class ExtractError(IsodropError):
    """Why an ISO could not be extracted, in one line a person can act on."""


@dataclass(frozen=True)
class ExtractResult:
    volume_id: str
    files: int  # regular files in the tree (hard links counted as files)
    bytes: int  # file data written (hard-linked data counted once)
    warnings: tuple[str, ...]


def one_line(err: BaseException, limit: int = 200) -> str:
    """An exception from a parser as short printable text: its type and message, never a traceback."""
    kind = type(err)
    name = f"{kind.__module__}.error" if kind.__name__ == "error" else kind.__name__  # struct.error, zlib.error
    text = f"{name}: {err}" if str(err) else name
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    return text if len(text) <= limit else text[: limit - 3] + "..."
