"""Fixtures the unit tests share."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder next to `dest` with a file in it that an escaping write would hit."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "x").write_text("precious")
    return folder
