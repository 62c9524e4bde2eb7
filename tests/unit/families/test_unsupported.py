"""isodrop.families.unsupported: systems recognised but not bootable over NFS get their precise reason."""

from __future__ import annotations

from pathlib import Path

from isodrop.extract import IsoTree
from isodrop.families import recognise
from isodrop.model import NotBootable
from tests.harness.family_layouts import context


def test_real_grub_rescue_iso_is_grub_only(debian_isos: Path) -> None:
    result = recognise(IsoTree(debian_isos / "grub-rescue-cdrom.iso"), context("grub"))
    assert isinstance(result, NotBootable), result
    assert result.family == "grub-rescue" and "no Linux kernel" in result.reason
