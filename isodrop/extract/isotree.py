"""`IsoTree`: the tree an extraction would produce, read straight from the image (for `isodrop inspect`).

It is built from the same checked manifest as extraction, and by default hashes the files md5sum.txt
lists (from the image), so `inspect` refuses what `scan` refuses. `checks` says what was checked
and what was skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from isodrop.extract.checksums import hash_files, image_reader, read_md5sum, verify
from isodrop.extract.errors import ExtractError, one_line
from isodrop.extract.image import read_extents, read_manifest
from isodrop.families.base import Tree


class IsoTree(Tree):
    """A families `Tree` over an image; raises ExtractError when extraction would fail."""

    def __init__(self, iso: Path, iso_name: str = "", *, verify_checksums: bool = True) -> None:
        self.iso = Path(iso)
        self._handle: BinaryIO | None = None
        handle, manifest = read_manifest(self.iso)
        checks = ["names", "folder depth and path length", "symlinks", "truncation", "data within the image"]
        try:
            checklist = read_md5sum(manifest, handle.fileno()) if verify_checksums else None
            if checklist is not None:
                verify(
                    checklist, manifest, hash_files(checklist, manifest, image_reader(handle.fileno()), lambda _n: None)
                )
                checks.append(f"md5sum.txt ({len(checklist.expected)} files)")
            else:
                checks.append("md5sum.txt skipped: " + ("not in the image" if verify_checksums else "not asked for"))
        except ExtractError:
            handle.close()
            raise
        except Exception as err:  # noqa: BLE001 - image content: whatever it raises is this ISO's failure
            handle.close()
            raise ExtractError(f"cannot check md5sum.txt of {self.iso.name}: {one_line(err)}") from err
        except BaseException:
            handle.close()
            raise
        self._handle = handle
        self._manifest = manifest
        self.checks = tuple(checks)
        super().__init__(manifest.volume_id, iso_name or self.iso.name)

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(self._manifest.warnings)

    def _scan(self) -> dict[str, str]:
        return {rel: node.kind for rel, node in self._manifest.by_rel.items()}

    def read_chunks(self, rel: str, limit: int) -> Iterator[bytes] | None:
        node = self._manifest.by_rel.get(rel.strip("/"))
        if node is None or node.kind != "f" or self._handle is None:
            return None
        return read_extents(self._handle.fileno(), node.extents, min(limit, node.size))

    def size(self, rel: str) -> int | None:
        node = self._manifest.by_rel.get(rel.strip("/"))
        return node.size if node is not None and node.kind == "f" else None

    def read_bytes(self, rel: str, limit: int = 256 * 1024) -> bytes | None:
        chunks = self.read_chunks(rel, limit)
        return None if chunks is None else b"".join(chunks)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> IsoTree:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_handle", None) is not None:
            self.close()
