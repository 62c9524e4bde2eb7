"""Debian live-boot: Debian live images and the systems built with live-build (Kali, Clonezilla, GParted).

How live-boot mounts its root over NFS (and which of an ISO's own words it must not get) is in
`initramfs/live_boot.py`; these are the distributions' layouts and words. `components` runs live-config,
as every Debian live menu entry does. Debian 12 (live-build) ships `live/vmlinuz` plus a versioned
hard link; Debian 11 live images only `live/vmlinuz-KVER` and `live/initrd.img-KVER`, so the initrd
is the one with the kernel's version.

Tails also has `live/filesystem.squashfs`; its family (in `unsupported.py`) comes first.

Proof: Debian's live-boot 1:20230131+deb12u1 boots each of these command lines in a QEMU PXE client,
from a genuine live-boot image laid out as each ISO (tests/test_e2e_boot.py for Debian live,
tests/test_e2e_families.py for Kali, Clonezilla and GParted: their directories, version files and
isolinux menus, whose parameters the Clonezilla/GParted rules copy, `ip=` and `toram` dropped). The same live-boot
takes `fetch=http://.../live/filesystem.squashfs` before `netboot=nfs` (the squashfs is then copied into
RAM): a sidecar's `add_params` can add it; isodrop's default stays NFS (streamed, no RAM taken).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace

from isodrop.families.base import LiveMedium, Params, Tree, default_label
from isodrop.families.bootcfg import SYSLINUX_CONFIGS, default_entry, medium_free
from isodrop.families.initramfs import live_boot
from isodrop.families.initramfs.kind import words
from isodrop.model import ServerContext

LIVE_BOOT_PROOF = "booted in a VM with live-boot 1:20230131+deb12u1 (Debian 12)"

LIVE_BUILD_MEDIUM = LiveMedium(
    "live", kernels=("vmlinuz", "vmlinuz-*"), initrds=("initrd.img{kernel_suffix}", "initrd.img", "initrd.img-*")
)

DEBIAN_LIVE = LIVE_BUILD_MEDIUM.family(
    "debian-live", "Debian live", params=f"{live_boot.SELECT} components {live_boot.NFS}", proven=LIVE_BOOT_PROOF
)

KALI = replace(
    DEBIAN_LIVE,
    name="kali",
    menu_group="Kali Linux",
    info_contains=("Kali",),
    params=DEBIAN_LIVE.params + " username=kali hostname=kali",
)


def _own_params(fallback: str) -> Params:
    """Parameters from the ISO's own syslinux default entry, without its medium/network ones.

    Clonezilla and GParted put their whole behaviour (user name, union, locales, the program to
    run) on the command line and change it between releases, so their own menu is the source.
    """

    def params(tree: Tree, ctx: ServerContext) -> list[str]:
        entry = default_entry(tree, SYSLINUX_CONFIGS)
        own = medium_free(entry.params) if entry is not None else fallback.split()
        return live_boot.LIVE_BOOT.without_copying(own) + words(live_boot.NFS, ctx)

    return params


def _version_label(version_file: str, product: str) -> Callable[[Tree], str]:
    """ "clonezilla-live-3.1.2-22-amd64" -> "Clonezilla live 3.1.2-22 amd64"."""

    def label(tree: Tree) -> str:
        found = re.search(r"live-(\S+?)(?:-(amd64|i686|i686-pae|i386|arm64))?$", tree.first_line(version_file))
        if not found:
            return default_label(tree)
        return " ".join(part for part in (product, found[1], found[2]) if part)

    return label


CLONEZILLA = replace(
    DEBIAN_LIVE,
    name="clonezilla",
    menu_group="Tools",
    requires=("Clonezilla-Live-Version", "live/filesystem.squashfs"),
    params="",
    extra_params=_own_params("boot=live union=overlay username=user config components quiet noswap"),
    label=_version_label("Clonezilla-Live-Version", "Clonezilla live"),
)

GPARTED = replace(
    CLONEZILLA,
    name="gparted",
    requires=("GParted-Live-Version", "live/filesystem.squashfs"),
    label=_version_label("GParted-Live-Version", "GParted Live"),
)
