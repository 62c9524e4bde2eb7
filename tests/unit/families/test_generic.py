"""isodrop.families.generic: the fallback boots an unknown ISO as its own menu does, and leaves a data disc
unrecognised."""

from __future__ import annotations

from pathlib import Path

from isodrop.families import DirTree, recognise
from isodrop.model import BootEntry, NotBootable
from tests.harness.family_layouts import LAYOUTS, context, write_tree


def test_data_disc_is_left_unrecognised(make_tree) -> None:
    result = recognise(make_tree("data_disc"), context("photos"))
    assert isinstance(result, NotBootable) and result.guessed and not result.family
    assert "no known live system" in result.reason


def test_generic_archiso_own_copytoram_is_replaced_by_n(tmp_path: Path) -> None:
    """Over NFS archiso copies the root image into RAM unless the command line says copytoram=n: an
    archiso derivative's own `copytoram=y` must not survive next to isodrop's `copytoram=n`."""
    layout = LAYOUTS["blackarch_2023"]()
    menu = "boot/syslinux/archiso_sys.cfg"
    layout.files[menu] = layout.files[menu].replace("APPEND ", "APPEND copytoram=y ")
    tree = DirTree(write_tree(tmp_path / "blackarch", layout), volume_id=layout.volume_id)
    result = recognise(tree, context("b"))
    assert isinstance(result, BootEntry), result
    assert [p for p in result.params if p.startswith("copytoram")] == ["copytoram=n"], result.params
