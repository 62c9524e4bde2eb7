"""isodrop.families.base: what every family shares: kernel names a menu cannot carry are refused, one-line files
are read bounded, every family says how far it is proven."""

from __future__ import annotations

from pathlib import Path

import pytest

from isodrop.families import FAMILIES, DirTree, Family, recognise
from isodrop.families.base import LiveMedium
from isodrop.model import BootEntry, NotBootable
from tests.harness.family_layouts import LAYOUTS, context, write_tree

PROVEN_BY_A_BOOT = {"debian-live", "kali", "clonezilla", "gparted", "fedora", "memtest86+"}


NOT_PROVEN = {"ubuntu", "ubuntu-layered", "linuxmint", "elementary", "pop-os", "arch", "systemrescue", "manjaro"}


def test_every_family_says_how_far_it_is_proven() -> None:
    """Only families a VM test boots with their own initramfs code claim a boot (tests/test_e2e_*.py);
    casper, archiso and miso (not in Debian) say they are checked against the layout only."""
    from isodrop.families import proof

    names = {family.name for family in FAMILIES}
    assert names >= PROVEN_BY_A_BOOT | NOT_PROVEN
    for name in PROVEN_BY_A_BOOT:
        assert proof(name).startswith("booted in a VM"), name
    for name in NOT_PROVEN:
        assert proof(name) == "checked against the layout, not booted", name
    assert "not booted" in proof("generic")


@pytest.mark.parametrize("name", ["live/vmlinuz-99 evil", "live/vmlinuz-99\nAPPEND init=sh"])
def test_kernel_names_a_menu_cannot_carry_are_not_bootable(tmp_path: Path, name: str) -> None:
    """A blank would split a LINUX line, a newline would add menu lines: both become a clear verdict."""
    layout = LAYOUTS["debian_12_live"]()
    root = write_tree(tmp_path / "tree", layout)
    (root / "live/vmlinuz").unlink()
    (root / name).write_bytes(b"kernel")
    result = recognise(DirTree(root, volume_id=layout.volume_id), context("d"))
    assert isinstance(result, NotBootable) and result.family == "debian-live" and not result.guessed
    assert repr(name) in result.reason and "blank or a control character" in result.reason


@pytest.mark.parametrize(
    ("layout_name", "rel", "content", "kept"),
    [
        ("clonezilla_3", "Clonezilla-Live-Version", "live-" * 60_000 + " x\n", 256),  # hours for its pattern
        ("debian_12_live", ".disk/info", "a" + " " * 200_000 + "b\n", 1),  # half a minute for the .disk/info pattern
        ("arch_2024", "arch/version", "2024." * 50_000 + "\n", 256),
    ],
    ids=["clonezilla-version", "disk-info", "arch-version"],
)
def test_one_line_files_are_read_bounded(tmp_path: Path, layout_name: str, rel: str, content: str, kept: int) -> None:
    """Version files and `.disk/info` are ISO content: only the first 256 characters of their first line
    are looked at, so a huge one neither stalls a pattern nor makes a huge label."""
    layout = LAYOUTS[layout_name]()
    layout.files[rel] = content
    tree = DirTree(write_tree(tmp_path / layout_name, layout), volume_id=layout.volume_id)
    assert tree.first_line(rel) == content[:4096].strip()[:kept]
    result = recognise(tree, context("x"))
    assert isinstance(result, BootEntry), result
    assert len(result.label) <= 300, result.label


def test_a_live_medium_makes_a_family_that_requires_its_root_and_boots_its_files() -> None:
    family = LiveMedium("live", kernels=("vmlinuz",), initrds=("initrd.img", "initrd.gz")).family(
        "x", "X", params="boot=live", proven="p"
    )
    assert family == Family(
        name="x",
        menu_group="X",
        requires=("live/filesystem.squashfs",),
        kernel=("live/vmlinuz",),
        initrds=(("live/initrd.img", "live/initrd.gz"),),
        params="boot=live",
        proven="p",
    )
