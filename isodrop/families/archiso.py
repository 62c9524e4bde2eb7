"""Arch Linux and SystemRescue (archiso's hooks) and Manjaro (miso's fork of them).

How those hooks mount the root over NFS is in `initramfs/archiso.py` and `initramfs/miso.py`; these are
the distributions' layouts. Microcode images (`*ucode.img`) are separate early initrds and go first.
Arch ISOs since 2024 put microcode inside the main initramfs. SystemRescue builds its initramfs with
archiso's hooks, so the same parameters apply there. A profile may leave the PXE hooks out: Arch and
SystemRescue ship them in every release, manjaro-tools only when the ISO profile enables PXE.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from isodrop.families.base import Check, Family, Tree, default_label
from isodrop.families.initramfs import archiso, miso
from isodrop.families.initramfs.detect import read_initrd
from isodrop.model import NotBootable, ServerContext


def _version_label(product: str, version_file: str, volume_pattern: str) -> Callable[[Tree], str]:
    """ "Arch Linux 2024.11.01" from the version file, else from the volume ID (ARCH_202411, RESCUE1103)."""

    def label(tree: Tree) -> str:
        if line := tree.first_line(version_file):
            return f"{product} {line}"
        found = re.fullmatch(volume_pattern, tree.volume_id)
        if found:
            return f"{product} {'.'.join(group for group in found.groups() if group)}"
        return default_label(tree)

    return label


def _pxe_nfs_hook(initrd: str) -> Check:
    """A check that the initramfs has archiso's NFS hook; an initramfs isodrop cannot read (zstd before
    Python 3.14) is trusted, because Arch and SystemRescue ship the PXE hooks in every release."""

    def check(tree: Tree, ctx: ServerContext) -> None:
        contents = read_initrd(tree, initrd)
        if contents.problem or not contents.names or contents.has(archiso.NFS_HOOK):
            return
        raise NotBootable(f"{initrd} has no archiso_pxe_nfs hook, so archiso_nfs_srv= would be ignored")

    return check


def _archiso_tree(
    name: str, menu_group: str, base: str, kernel: str, initrd: str, label: Callable[[Tree], str]
) -> Family:
    """A tree as mkarchiso lays it out under its base folder: kernel, initramfs and microcode in
    `<base>/boot/`, the root image in `<base>/x86_64/`."""
    boot = f"{base}/boot/x86_64"
    return Family(
        name=name,
        menu_group=menu_group,
        requires=(f"{boot}/{kernel}",),
        any_of=(f"{base}/x86_64/airootfs.sfs", f"{base}/x86_64/airootfs.erofs"),
        kernel=(f"{boot}/{kernel}",),
        optional_initrds=(f"{base}/boot/*ucode.img",),
        initrds=((f"{boot}/{initrd}",),),
        check=_pxe_nfs_hook(f"{boot}/{initrd}"),
        params=archiso.line(base),
        label=label,
    )


_ARCH_LABEL = _version_label("Arch Linux", "arch/version", r"ARCH_(\d{4})(\d{2})")
ARCH = _archiso_tree(
    "arch", "Arch Linux", "arch", kernel="vmlinuz-linux", initrd="initramfs-linux.img", label=_ARCH_LABEL
)

_RESCUE_LABEL = _version_label("SystemRescue", "sysresccd/VERSION", r"RESCUE(\d+?)(\d{2})")
SYSTEMRESCUE = _archiso_tree(
    "systemrescue", "Tools", "sysresccd", kernel="vmlinuz", initrd="sysresccd.img", label=_RESCUE_LABEL
)

MANJARO_INITRD = "boot/initramfs-x86_64.img"


def manjaro_pxe_check(tree: Tree, ctx: ServerContext) -> None:
    """A Manjaro ISO boots over NFS only when its initramfs has miso's NFS hook."""
    contents = read_initrd(tree, MANJARO_INITRD)
    if contents.has(miso.NFS_HOOK):
        return
    if contents.problem:
        raise NotBootable(
            "Manjaro boots over NFS only when its initramfs has the miso_pxe_nfs hook, and isodrop "
            f"could not check: {contents.problem}"
        )
    raise NotBootable(
        "this Manjaro ISO was built without miso's network boot hooks (no hooks/miso_pxe_nfs in "
        f"{MANJARO_INITRD}): it can only boot from its own DVD or USB stick"
    )


MANJARO = Family(
    name="manjaro",
    menu_group="Manjaro",
    requires=("manjaro/x86_64/rootfs.sfs", "boot/vmlinuz-x86_64"),
    kernel=("boot/vmlinuz-x86_64",),
    optional_initrds=("boot/*ucode.img",),
    initrds=((MANJARO_INITRD,),),
    check=manjaro_pxe_check,
    params=miso.line("manjaro"),
    label=lambda tree: (
        f"Manjaro {tree.volume_id.split('_', 1)[1].replace('_', ' ')}"
        if tree.volume_id.upper().startswith("MANJARO_")
        else default_label(tree)
    ),
)
