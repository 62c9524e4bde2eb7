"""Boot loader units (stub registry after COMMON.md; h0's version replaces it)."""

from __future__ import annotations

from isodrop.loaders.base import Loader

LOADERS: dict[str, type[Loader]] = {}
