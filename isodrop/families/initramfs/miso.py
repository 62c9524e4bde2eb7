"""miso, Manjaro's fork of archiso's hooks: the same hooks and parameters under `miso` names.

Its root image is `<misobasedir>/x86_64/rootfs.sfs`. manjaro-tools removes the `miso_pxe_*` hooks
unless the ISO profile enables PXE, so a Manjaro family must look for NFS_HOOK inside the initramfs.
"""

from __future__ import annotations

from isodrop.families.initramfs import archiso

NFS_HOOK = archiso.nfs_hook("miso")
MISO = archiso.hooks_kind("miso", "rootfs.sfs")


def line(base: str) -> str:
    """The template that makes miso mount `<base>/x86_64/rootfs.sfs` from this server's NFS export."""
    return archiso.line(base, "miso")
