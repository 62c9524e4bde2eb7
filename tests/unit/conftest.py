"""Fixtures the unit tests share."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.harness.signing import DEBIAN_GRUB, GRUB_MODULE_DIR, ChainKit, make_chain_kit


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder next to `dest` with a file in it that an escaping write would hit."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "x").write_text("precious")
    return folder


@pytest.fixture(scope="session")
def chain_kit(tmp_path_factory: pytest.TempPathFactory) -> ChainKit:
    """A test vendor's Secure Boot chain (tests/harness/signing.py), made once: keys, shim, GRUBs, kernel."""
    if not (DEBIAN_GRUB.exists() and GRUB_MODULE_DIR.is_dir() and shutil.which("sbsign") and shutil.which("openssl")):
        pytest.skip("needs grub-efi-amd64-signed, grub-efi-amd64-bin, sbsigntool, openssl (tests/apt-packages.txt)")
    return make_chain_kit(tmp_path_factory.mktemp("chain-kit"))
