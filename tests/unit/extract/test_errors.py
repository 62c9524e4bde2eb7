"""isodrop.extract.errors: an exception from a parser becomes one short printable line, never a traceback."""

from __future__ import annotations

import struct
import zlib

from isodrop.extract.errors import one_line


def test_module_level_error_types_are_named_by_their_module() -> None:
    try:
        struct.unpack("<I", b"\x00")
    except struct.error as err:
        assert one_line(err).startswith("struct.error: unpack requires a buffer of 4 bytes")
    try:
        zlib.decompress(b"not zlib")
    except zlib.error as err:
        assert one_line(err).startswith("zlib.error: ")
    assert one_line(ValueError()) == "ValueError"


def test_hostile_text_in_a_message_stays_on_one_line_and_is_cut() -> None:
    text = one_line(ValueError("bad name\n\x1b[31mforged log line"))
    assert "\n" not in text and "\x1b" not in text and text == "ValueError: bad name??[31mforged log line"
    long = one_line(RuntimeError("x" * 500), limit=50)
    assert len(long) == 50 and long.endswith("...")
