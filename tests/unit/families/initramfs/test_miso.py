"""miso's NFS line (isodrop/families/initramfs/miso.py): archiso's hooks under Manjaro's names."""

from __future__ import annotations

from pathlib import Path

from isodrop.families.archiso import MANJARO
from isodrop.families.base import DirTree
from isodrop.families.initramfs.kind import words
from isodrop.families.initramfs.miso import MISO, NFS_HOOK, line
from isodrop.model import ServerContext

CTX = ServerContext(server="192.168.50.1", nfs_path="/t/manjaro", tftp_path="isodrop/manjaro")


def test_manjaros_line_is_misos() -> None:
    expected = ["misobasedir=manjaro", "miso_nfs_srv=192.168.50.1:/t/manjaro", "copytoram=n", "ip=dhcp"]
    assert words(line("manjaro"), CTX) == expected
    assert MANJARO.params == line("manjaro")


def test_the_base_folder_is_the_one_holding_rootfs(tmp_path: Path) -> None:
    (tmp_path / "manjaro/x86_64").mkdir(parents=True)
    (tmp_path / "manjaro/x86_64/rootfs.sfs").write_bytes(b"root")
    (tmp_path / "other/x86_64").mkdir(parents=True)
    (tmp_path / "other/x86_64/airootfs.sfs").write_bytes(b"not miso's")
    params = MISO.nfs_params(DirTree(tmp_path), CTX, ["misolabel=MANJARO"], [])
    assert params[0] == "misobasedir=manjaro"


def test_its_names_are_misos() -> None:
    assert NFS_HOOK == "hooks/miso_pxe_nfs" and MISO.markers == ("hooks/miso",)
    assert MISO.named_by(["misobasedir=manjaro"]) and not MISO.named_by(["archisobasedir=arch"])
    assert MISO.without_copying(["copytoram=y", "quiet"]) == ["quiet"]
