"""casper's NFS line (isodrop/families/initramfs/casper.py): what the Ubuntu families and the generic
fallback both put on a casper command line."""

from __future__ import annotations

from pathlib import Path

from isodrop.families.base import DirTree
from isodrop.families.initramfs.casper import CASPER, LINE
from isodrop.families.initramfs.kind import words
from isodrop.model import ServerContext

CTX = ServerContext(server="192.168.50.1", nfs_path="/srv/tftp/isodrop/ubuntu", tftp_path="isodrop/ubuntu")
NFS_LINE = ["boot=casper", "netboot=nfs", "nfsroot=192.168.50.1:/srv/tftp/isodrop/ubuntu", "ip=dhcp"]


def test_its_line_mounts_the_export_as_its_medium() -> None:
    assert words(LINE, CTX) == NFS_LINE


def test_an_isos_line_gets_what_it_lacks(tmp_path: Path) -> None:
    """A line without boot=casper gets it; one that has it keeps its own, once."""
    tree = DirTree(tmp_path)
    assert CASPER.nfs_params(tree, CTX, ["quiet"], []) == NFS_LINE
    assert CASPER.nfs_params(tree, CTX, ["quiet", "boot=casper"], []) == NFS_LINE[1:]


def test_it_is_told_by_its_boot_word_and_its_script() -> None:
    assert CASPER.named_by(["quiet", "boot=casper"])
    assert not CASPER.named_by(["boot=live"])
    assert "scripts/casper" in CASPER.markers


def test_an_isos_copy_to_ram_words_are_dropped() -> None:
    """casper copies the root after its NFS mount with toram, onto a disk with todisk=."""
    assert CASPER.without_copying(["toram", "quiet", "todisk=/dev/sda1", "splash"]) == ["quiet", "splash"]
    assert CASPER.ram_copy is None
