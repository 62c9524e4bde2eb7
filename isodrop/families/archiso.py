"""archiso (Arch Linux, SystemRescue) and Manjaro's miso fork.

archiso's `archiso_pxe_nfs` hook mounts `archiso_nfs_srv=IP:/path` (an IPv4 address: its hook
cannot resolve names) and finds `<archisobasedir>/x86_64/airootfs.sfs` there; `ip=dhcp` is what
makes `archiso_pxe_common` configure the network. Microcode images (`*ucode.img`) are separate
early initrds and go first. Arch ISOs since 2024 put microcode inside the main initramfs.

Manjaro's miso has the same hooks under `miso_pxe_*`, but manjaro-tools removes them unless the
ISO profile enables PXE, so isodrop looks for `hooks/miso_pxe_nfs` inside the initramfs.

`copytoram=n` keeps the root image on the NFS share. Without it the whole image (about 1 GiB for Arch)
is copied into the client's RAM before boot: the NFS mount handler of both hooks sets copytoram to
"y" unless the command line says exactly "n" (mkinitcpio-archiso `hooks/archiso_pxe_nfs`, checked at
b206f34, 2025-11; manjaro-tools `initcpio/hooks/miso_pxe_nfs`, same code, checked on its master,
devel and stable-0.15.x branches, 2018), so archiso's own "auto" (copy when the image is under 4 GiB
and the RAM is large enough, README.bootparams) never applies over NFS. SystemRescue builds its
initramfs with archiso's hooks, so the same parameter applies there.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from isodrop.families.base import Check, Family, Tree, default_label
from isodrop.families.initramfs import read_initrd
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
        if contents.problem or not contents.names or contents.has("hooks/archiso_pxe_nfs"):
            return
        raise NotBootable(f"{initrd} has no archiso_pxe_nfs hook, so archiso_nfs_srv= would be ignored")

    return check


ARCH = Family(
    name="arch",
    menu_group="Arch Linux",
    requires=("arch/boot/x86_64/vmlinuz-linux",),
    any_of=("arch/x86_64/airootfs.sfs", "arch/x86_64/airootfs.erofs"),
    kernel=("arch/boot/x86_64/vmlinuz-linux",),
    optional_initrds=("arch/boot/*ucode.img",),
    initrds=(("arch/boot/x86_64/initramfs-linux.img",),),
    check=_pxe_nfs_hook("arch/boot/x86_64/initramfs-linux.img"),
    params="archisobasedir=arch archiso_nfs_srv={server}:{nfs_path} copytoram=n ip=dhcp",
    label=_version_label("Arch Linux", "arch/version", r"ARCH_(\d{4})(\d{2})"),
)

SYSTEMRESCUE = Family(
    name="systemrescue",
    menu_group="Tools",
    requires=("sysresccd/boot/x86_64/vmlinuz",),
    any_of=("sysresccd/x86_64/airootfs.sfs", "sysresccd/x86_64/airootfs.erofs"),
    kernel=("sysresccd/boot/x86_64/vmlinuz",),
    optional_initrds=("sysresccd/boot/*ucode.img",),
    initrds=(("sysresccd/boot/x86_64/sysresccd.img",),),
    check=_pxe_nfs_hook("sysresccd/boot/x86_64/sysresccd.img"),
    params="archisobasedir=sysresccd archiso_nfs_srv={server}:{nfs_path} copytoram=n ip=dhcp",
    label=_version_label("SystemRescue", "sysresccd/VERSION", r"RESCUE(\d+?)(\d{2})"),
)

MANJARO_INITRD = "boot/initramfs-x86_64.img"


def manjaro_pxe_check(tree: Tree, ctx: ServerContext) -> None:
    """A Manjaro ISO boots over NFS only when its initramfs has miso's NFS hook."""
    contents = read_initrd(tree, MANJARO_INITRD)
    if contents.has("hooks/miso_pxe_nfs"):
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
    params="misobasedir=manjaro miso_nfs_srv={server}:{nfs_path} copytoram=n ip=dhcp",
    label=lambda tree: (
        f"Manjaro {tree.volume_id.split('_', 1)[1].replace('_', ' ')}"
        if tree.volume_id.upper().startswith("MANJARO_")
        else default_label(tree)
    ),
)
