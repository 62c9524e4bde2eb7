"""archiso's NFS line (isodrop/families/initramfs/archiso.py): the base folder, the NFS server, and
copytoram=n, for Arch and SystemRescue and for an archiso derivative the generic fallback boots."""

from __future__ import annotations

from pathlib import Path

from isodrop.families.archiso import ARCH
from isodrop.families.base import DirTree
from isodrop.families.initramfs.archiso import ARCHISO, NFS_HOOK, line
from isodrop.families.initramfs.kind import words
from isodrop.model import ServerContext

CTX = ServerContext(server="192.168.50.1", nfs_path="/t/arch", tftp_path="isodrop/arch")
NFS = ["archiso_nfs_srv=192.168.50.1:/t/arch", "copytoram=n", "ip=dhcp"]


def tree_with(root: Path, base: str) -> DirTree:
    (root / base / "x86_64").mkdir(parents=True)
    (root / base / "x86_64/airootfs.sfs").write_bytes(b"root")
    return DirTree(root)


def test_a_familys_line_names_its_base_folder() -> None:
    assert words(line("arch"), CTX) == ["archisobasedir=arch", *NFS]
    assert ARCH.params == line("arch")


def test_the_base_folder_is_found_when_an_isos_line_leaves_it_out(tmp_path: Path) -> None:
    tree = tree_with(tmp_path, "blackarch")
    assert ARCHISO.nfs_params(tree, CTX, ["archisolabel=BLACKARCH"], []) == ["archisobasedir=blackarch", *NFS]
    assert ARCHISO.nfs_params(tree, CTX, ["archisobasedir=blackarch"], []) == NFS


def test_a_folder_name_from_the_iso_is_not_a_template(tmp_path: Path) -> None:
    """The base folder comes from the ISO: braces in it stay as they are (no format field, no crash)."""
    tree = tree_with(tmp_path, "{server}{0}")
    assert ARCHISO.nfs_params(tree, CTX, [], [])[0] == "archisobasedir={server}{0}"


def test_an_isos_copytoram_goes_and_its_hooks_tell_it() -> None:
    assert ARCHISO.without_copying(["copytoram=y", "quiet"]) == ["quiet"]
    assert ARCHISO.named_by(["archisolabel=X"]) and not ARCHISO.named_by(["misolabel=X"])
    assert NFS_HOOK == "hooks/archiso_pxe_nfs" and ARCHISO.markers == ("hooks/archiso",)
