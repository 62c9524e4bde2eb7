"""Which name a directory record shows, and which names may be written at all.

Rock Ridge names win (what Linux and xorriso show), else Joliet, else the ISO 9660 name mapped the
way Linux's `map=normal` does. A name that could leave the tree or that Linux cannot create fails the
whole image: a tree with a file silently missing could boot into something else.
"""

from __future__ import annotations

import re

from isodrop.extract.errors import MAX_DEPTH, MAX_NAME_BYTES, MAX_PATH_BYTES, ExtractError


def encoded(text: str) -> bytes:
    """The bytes a name becomes on disk (Rock Ridge names keep undecodable bytes as they are)."""
    return text.encode("utf-8", errors="surrogateescape")


def iso9660_name(ident: bytes) -> str:
    """Linux's `map=normal`: drop the ';1' version and a trailing '.', lower-case."""
    name = ident.decode("ascii", errors="replace")
    name = re.sub(r";\d*$", "", name)
    name = name.removesuffix(".")
    return name.lower().replace(";", ".")


def record_name(record: object, naming: str) -> str:
    """The name `record` shows in the name space `naming` ("rr", "joliet" or "iso")."""
    if naming == "rr" and record.rock_ridge is not None:
        entries = [record.rock_ridge.dr_entries, record.rock_ridge.ce_entries]
        if any(e is not None and e.nm_records for e in entries):
            return record.rock_ridge.name().decode("utf-8", errors="surrogateescape")
    ident = record.file_identifier()
    if naming == "joliet":
        return re.sub(r";\d*$", "", ident.decode("utf-16_be", errors="replace"))
    return iso9660_name(ident)


def checked_path(parent: str, name: str, depth: int, iso_name: str) -> str:
    """The relative path of `name` in `parent`, or ExtractError saying why it may not be written."""
    shown = f"{parent}/{name}" if parent else name
    if name in ("", ".", "..") or "/" in name or "\0" in name:
        raise ExtractError(f"unsafe file name {_short(shown)!r} in {iso_name}: refusing to extract")
    if len(encoded(name)) > MAX_NAME_BYTES:
        raise ExtractError(
            f"file name longer than {MAX_NAME_BYTES} bytes ({_short(shown)!r}) in {iso_name}: Linux cannot create it"
        )
    if depth > MAX_DEPTH:
        raise ExtractError(f"folders nested deeper than {MAX_DEPTH} levels ({_short(shown)!r}) in {iso_name}")
    if len(encoded(shown)) > MAX_PATH_BYTES:
        raise ExtractError(f"path longer than {MAX_PATH_BYTES} bytes ({_short(shown)!r}) in {iso_name}")
    return shown


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else f"{text[:50]}...{text[-50:]}"
