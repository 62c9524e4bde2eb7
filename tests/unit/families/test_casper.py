"""isodrop.families.casper: layered Ubuntu images pick the live layer their own GRUB menu names."""

from __future__ import annotations

from pathlib import Path

from isodrop.families import DirTree, recognise
from isodrop.model import BootEntry
from tests.harness.family_layouts import LAYOUTS, Layout, context, write_tree


def test_casper_live_layer_named_by_the_isos_own_grub_menu_wins(tmp_path: Path) -> None:
    """A remix whose GRUB menu names another layer boots that one, and only one layerfs-path= is passed."""
    layout = LAYOUTS["ubuntu_2404"]()
    files = dict(layout.files)
    files["boot/grub/grub.cfg"] = (
        'menuentry "Try Ubuntu (English)" {\n\tlinux\t/casper/vmlinuz layerfs-path=minimal.standard.en.squashfs'
        " --- quiet splash\n\tinitrd\t/casper/initrd\n}\n"
    )
    tree = DirTree(write_tree(tmp_path / "remix", Layout(files, layout.volume_id)), volume_id=layout.volume_id)
    entry = recognise(tree, context("remix"))
    assert isinstance(entry, BootEntry)
    assert [p for p in entry.params if p.startswith("layerfs-path=")] == ["layerfs-path=minimal.standard.en.squashfs"]


def test_layered_casper_without_a_live_layer_leaves_the_initrds_default(make_tree) -> None:
    """The live server ISO has no `*.live.squashfs`: its initrd's own default layer must apply."""
    entry = recognise(make_tree("ubuntu_server_2404"), context("ubuntu_server_2404"))
    assert isinstance(entry, BootEntry)
    assert not any(p.startswith("layerfs-path=") for p in entry.params)
