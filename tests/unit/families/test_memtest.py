"""isodrop.families.memtest: Debian's real memtest86+ ISOs boot their floppy image as a kernel."""

from __future__ import annotations

from pathlib import Path

import pytest

from isodrop.extract import IsoTree
from isodrop.families import recognise
from isodrop.model import BootEntry
from tests.harness.family_layouts import context


@pytest.mark.parametrize(("iso", "label"), [("memtest86+x64.iso", "64-bit"), ("memtest86+ia32.iso", "32-bit")])
def test_real_memtest86plus_iso_boots_its_floppy_image_as_a_kernel(debian_isos: Path, iso: str, label: str) -> None:
    entry = recognise(IsoTree(debian_isos / iso), context("memtest"))
    assert isinstance(entry, BootEntry), entry
    assert (entry.family, entry.kernel, entry.initrds, entry.params) == ("memtest86+", "boot/floppy.img", (), ())
    assert entry.label == f"Memtest86+ ({label})"
    assert entry.firmware == (("bios",) if label == "32-bit" else ("bios", "efi64"))
