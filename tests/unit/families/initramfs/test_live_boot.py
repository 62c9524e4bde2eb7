"""live-boot's NFS line (isodrop/families/initramfs/live_boot.py): what the Debian live families and the
generic fallback both put on a live-boot command line."""

from __future__ import annotations

from pathlib import Path

from isodrop.families.base import DirTree
from isodrop.families.debian_live import DEBIAN_LIVE
from isodrop.families.initramfs.kind import words
from isodrop.families.initramfs.live_boot import LIVE_BOOT, NFS, SELECT
from isodrop.model import ServerContext

CTX = ServerContext(server="10.1.2.3", nfs_path="/trees/debian-live-12", tftp_path="isodrop/debian-live-12")


def test_its_nfs_words_name_the_export() -> None:
    assert words(NFS, CTX) == ["netboot=nfs", "nfsroot=10.1.2.3:/trees/debian-live-12", "ip=dhcp"]
    assert SELECT == "boot=live"


def test_an_isos_line_gets_what_it_lacks(tmp_path: Path) -> None:
    tree = DirTree(tmp_path)
    nfs = ["netboot=nfs", "nfsroot=10.1.2.3:/trees/debian-live-12", "ip=dhcp"]
    assert LIVE_BOOT.nfs_params(tree, CTX, ["components"], []) == ["boot=live", *nfs]
    assert LIVE_BOOT.nfs_params(tree, CTX, ["boot=live", "components"], []) == nfs


def test_debian_lives_line_is_its_words_around_live_boots() -> None:
    """The family adds its policy (`components` runs live-config) between live-boot's own words."""
    assert DEBIAN_LIVE.params == "boot=live components netboot=nfs nfsroot={server}:{nfs_path} ip=dhcp"


def test_toram_in_every_form_is_dropped() -> None:
    """live-boot copies the media after its NFS mount: toram, toram=FILE (GParted's), todisk=DEV."""
    own = ["boot=live", "toram", "toram=filesystem.squashfs", "todisk=/dev/sda1", "union=overlay"]
    assert LIVE_BOOT.without_copying(own) == ["boot=live", "union=overlay"]
    assert LIVE_BOOT.named_by(own) and not LIVE_BOOT.named_by(["boot=casper"])
