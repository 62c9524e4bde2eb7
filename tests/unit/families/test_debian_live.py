"""isodrop.families.debian_live: live-boot streams its root over NFS from this server, the label comes
from .disk/info, and a versioned kernel is found when the plain name is missing."""

from __future__ import annotations

from pathlib import Path

from isodrop.families import DirTree, recognise
from isodrop.model import BootEntry
from tests.harness.family_layouts import DEBIAN_12_KVER, SERVER, Layout, context, debian_12_live, write_tree


def recognised(tmp_path: Path, layout: Layout) -> BootEntry:
    tree = DirTree(write_tree(tmp_path / "live", layout), volume_id=layout.volume_id, iso_name="live.iso")
    entry = recognise(tree, context("live"))
    assert isinstance(entry, BootEntry), entry
    return entry


def test_the_root_is_streamed_over_nfs_from_this_server(tmp_path: Path) -> None:
    entry = recognised(tmp_path, debian_12_live())
    assert entry.family == "debian-live" and entry.label == "Debian GNU/Linux 12.7.0 (Bookworm) amd64"
    assert entry.cmdline == f"boot=live components netboot=nfs nfsroot={SERVER}:/srv/tftp/isodrop/live ip=dhcp"
    assert entry.copies_to_ram_bytes == 0 and "findiso" not in entry.cmdline


def test_a_versioned_kernel_is_used_when_the_plain_name_is_missing(tmp_path: Path) -> None:
    layout = debian_12_live()
    del layout.files["live/vmlinuz"], layout.files["live/initrd.img"]
    entry = recognised(tmp_path, layout)
    assert (entry.kernel, entry.initrds) == (f"live/vmlinuz-{DEBIAN_12_KVER}", (f"live/initrd.img-{DEBIAN_12_KVER}",))
