"""isodrop.families.archiso: Arch's NFS line names the server by address and keeps the root on NFS
(copytoram=n), microcode goes first, the label comes from the version file or else the volume ID, and an
initramfs without archiso's PXE hooks is not bootable."""

from __future__ import annotations

from pathlib import Path

from isodrop.families import DirTree, recognise
from isodrop.model import BootEntry, NotBootable
from tests.harness.family_layouts import (
    SERVER,
    Layout,
    arch_2023,
    arch_2024,
    arch_custom_without_pxe,
    context,
    write_tree,
)


def recognised(tmp_path: Path, name: str, layout: Layout) -> BootEntry | NotBootable:
    tree = DirTree(write_tree(tmp_path / name, layout), volume_id=layout.volume_id, iso_name=f"{name}.iso")
    return recognise(tree, context(name))


def test_the_line_mounts_the_tree_from_this_servers_address_and_keeps_the_root_on_nfs(tmp_path: Path) -> None:
    entry = recognised(tmp_path, "arch", arch_2023())
    assert isinstance(entry, BootEntry) and entry.family == "arch"
    assert f"archiso_nfs_srv={SERVER}:/srv/tftp/isodrop/arch" in entry.params and "copytoram=n" in entry.params
    assert entry.initrds[-1] == "arch/boot/x86_64/initramfs-linux.img"
    assert all(initrd.endswith("ucode.img") for initrd in entry.initrds[:-1]) and len(entry.initrds) == 3


def test_without_a_version_file_the_label_comes_from_the_volume_id(tmp_path: Path) -> None:
    layout = arch_2024()
    del layout.files["arch/version"]
    entry = recognised(tmp_path, "arch", layout)
    assert isinstance(entry, BootEntry) and entry.label == "Arch Linux 2024.11"


def test_an_initramfs_without_the_pxe_hook_is_not_bootable(tmp_path: Path) -> None:
    verdict = recognised(tmp_path, "arch", arch_custom_without_pxe())
    assert isinstance(verdict, NotBootable) and verdict.family == "arch"
    assert "no archiso_pxe_nfs hook" in verdict.reason
