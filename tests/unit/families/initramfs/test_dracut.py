"""dracut's NFS line (isodrop/families/initramfs/dracut.py): root=live: for the initrd's modules, the
image an ISO's own line names, and the RAM an HTTP root takes."""

from __future__ import annotations

from pathlib import Path

import pytest

from isodrop.families.base import DirTree
from isodrop.families.initramfs.dracut import DRACUT, line
from isodrop.model import NotBootable, ServerContext
from tests.harness.family_layouts import dracut_initrd

CTX = ServerContext(server="192.168.50.1", nfs_path="/t/nobara", tftp_path="isodrop/nobara")
HTTP = ServerContext(server="192.168.50.1", nfs_path="/t/nobara", tftp_path="t", http_url="http://192.168.50.1/t/")
NFS_ROOT = "root=live:nfs://192.168.50.1/t/nobara/LiveOS/squashfs.img"


def tree_with(root: Path, initrd: bytes) -> DirTree:
    (root / "LiveOS").mkdir(parents=True)
    (root / "LiveOS/squashfs.img").write_bytes(b"s" * 4096)
    (root / "LiveOS/other.img").write_bytes(b"o")
    (root / "initrd.img").write_bytes(initrd)
    return DirTree(root)


def test_an_initrd_with_livenet_and_nfs_mounts_the_image_over_nfs(tmp_path: Path) -> None:
    tree = tree_with(tmp_path, dracut_initrd("livenet", "nfs"))
    params = line(tree, CTX, "initrd.img", "LiveOS/squashfs.img")
    assert params == [NFS_ROOT, "rd.live.image", "ip=dhcp"]
    assert DRACUT.ram_copy is not None and DRACUT.ram_copy(tree, CTX, params) == 0


def test_without_nfs_it_downloads_over_http_into_ram(tmp_path: Path) -> None:
    tree = tree_with(tmp_path, dracut_initrd("livenet"))
    params = line(tree, HTTP, "initrd.img", "LiveOS/squashfs.img")
    assert params[0] == "root=live:http://192.168.50.1/t/LiveOS/squashfs.img"
    assert DRACUT.ram_copy is not None and DRACUT.ram_copy(tree, HTTP, params) == 4096
    with pytest.raises(NotBootable, match="nfs module"):
        line(tree, CTX, "initrd.img", "LiveOS/squashfs.img")


def test_without_livenet_nothing_can_fetch_the_root(tmp_path: Path) -> None:
    tree = tree_with(tmp_path, dracut_initrd("nfs"))
    with pytest.raises(NotBootable, match="no dracut livenet module"):
        line(tree, CTX, "initrd.img", "LiveOS/squashfs.img")


def test_an_isos_line_names_its_image_and_keeps_its_own_rd_live_image(tmp_path: Path) -> None:
    tree = tree_with(tmp_path, dracut_initrd("livenet", "nfs"))
    own = ["rd.live.image", "rd.live.squashimg=other.img", "quiet"]
    expected = ["root=live:nfs://192.168.50.1/t/nobara/LiveOS/other.img", "ip=dhcp"]
    assert DRACUT.nfs_params(tree, CTX, own, ["initrd.img"]) == expected
    assert DRACUT.nfs_params(tree, CTX, ["quiet"], ["initrd.img"]) == [NFS_ROOT, "rd.live.image", "ip=dhcp"]


def test_rd_live_ram_is_dropped_and_it_names_dracut() -> None:
    assert DRACUT.without_copying(["rd.live.ram=1", "quiet", "rd.live.ram"]) == ["quiet"]
    assert DRACUT.named_by(["root=live:CDLABEL=Nobara"]) and DRACUT.named_by(["rd.live.image"])
    assert not DRACUT.named_by(["root=/dev/sda1"])
