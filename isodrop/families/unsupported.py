"""Systems that are recognised but do not boot over NFS as shipped: each gets its precise reason.

They come before the bootable families whose files they share (Tails has `live/`, openSUSE's kiwi
layout looks like Fedora 42's), and the GRUB-only check comes just before the generic fallback.
"""

from __future__ import annotations

import posixpath
import re

from isodrop.families.base import Family, Tree
from isodrop.model import NotBootable, ServerContext

TAILS = Family(
    name="tails",
    menu_group="",
    requires=("live/filesystem.squashfs",),
    any_of=("live/Tails.module", "utils/linux/syslinux", "tails/*"),
    info_contains=("Tails",),
    not_bootable=(
        "Tails does not support network boot: it is designed to start only from its own USB stick or DVD "
        "(its menu boots with live-media=removable, so live-boot looks only at removable drives)"
    ),
)

KNOPPIX = Family(
    name="knoppix",
    menu_group="",
    requires=("KNOPPIX/KNOPPIX",),
    not_bootable=(
        "Knoppix's initrd (minirt) looks for its KNOPPIX/KNOPPIX cloop image on local CD, DVD and USB "
        "drives; Knoppix boots over the network only from its own terminal server, started inside a "
        "running Knoppix"
    ),
)

OPENSUSE_LIVE = Family(
    name="opensuse-live",
    menu_group="",
    requires=("boot/x86_64/loader/linux",),
    any_of=("LiveOS/*.img", "LiveOS/*"),
    info_contains=("openSUSE", "SUSE", "SLE", "Tumbleweed", "Leap"),
    not_bootable=(
        "openSUSE live ISOs use kiwi's own live initrd (kiwi-live), which can network-boot only over "
        "AoE (rd.kiwi.live.pxe), not from NFS"
    ),
)

WINDOWS = Family(
    name="windows",
    menu_group="",
    requires=("sources/boot.wim",),
    any_of=("bootmgr", "sources/install.wim", "sources/install.esd", "sources/install.swm"),
    not_bootable=(
        "Windows installer: it starts Windows PE (bootmgr + boot.wim), not a Linux kernel with an NFS "
        "root; isodrop serves Linux live systems only"
    ),
)

_KERNEL_NAME = re.compile(r"^(vmlinu[xz].*|bzimage.*|linux|linux64|kernel|.*\.krn)$", re.IGNORECASE)


def _has_linux_kernel(tree: Tree, ctx: ServerContext) -> None:
    """A GRUB-only image cannot boot; one with any file that looks like a Linux kernel may, some other way."""
    if any(_KERNEL_NAME.match(posixpath.basename(rel)) for rel in tree.files() if tree.is_file(rel)):
        return
    raise NotBootable(
        "GRUB-only image (a GRUB rescue/boot disc): it contains GRUB and its modules but no Linux kernel "
        "or root file system to boot"
    )


GRUB_ONLY = Family(
    name="grub-rescue",
    menu_group="",
    requires=("boot/grub/grub.cfg",),
    any_of=("boot/grub/i386-pc/eltorito.img", "boot/grub/i386-pc/*.mod", "boot/grub/x86_64-efi/*.mod"),
    check=_has_linux_kernel,
)
