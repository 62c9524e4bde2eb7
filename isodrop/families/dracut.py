"""Fedora Live, booted by dracut's dmsquash-live with livenet (how: `initramfs/dracut.py`).

Up to Fedora 41 the kernel is in `images/pxeboot/`; Fedora 42 live ISOs are built with kiwi (dmsquash
flavour) and keep it in `boot/x86_64/loader/`. The live image is `LiveOS/squashfs.img` (or another
`LiveOS/*.img`).

Proof: Debian's dracut 059-4 (dracut-core, dracut-live, dracut-network; systemd initrd as Fedora's)
boots these command lines in a QEMU PXE client (tests/test_e2e_families.py): the Fedora 42 layout
(LiveOS/squashfs.img holding LiveOS/rootfs.img) over `root=live:nfs://` from nfs-ganesha serving NFSv3
only (mount.nfs falls back to v3 by itself; dracut adds nolock), the Fedora 41 layout (a plain squashfs root,
which dracut 059 only boots with `rd.live.overlay.overlayfs=1`, its overlayfs bug under systemd,
dracut-ng issue 231; Fedora 41's newer dracut puts a plain squashfs under overlayfs by itself and its own
menu has no such parameter, so isodrop does not add it) over NFS, and an initrd without the nfs module over
`root=live:http://` from nginx.
"""

from __future__ import annotations

import re

from isodrop.families.base import Family, Tree, default_label
from isodrop.families.initramfs import dracut
from isodrop.model import ServerContext

_EDITIONS = {"WS": "Workstation", "KDE": "KDE Plasma", "Xfce": "Xfce", "LXQt": "LXQt", "MATE_Compiz": "MATE"}


INITRDS = ("images/pxeboot/initrd.img", "boot/x86_64/loader/initrd")


def _live_image(tree: Tree) -> str:
    return tree.first(("LiveOS/squashfs.img", "LiveOS/rootfs.img", "LiveOS/*.img")) or "LiveOS/squashfs.img"


def _root_params(tree: Tree, ctx: ServerContext) -> list[str]:
    return dracut.line(tree, ctx, tree.first(INITRDS), _live_image(tree))


_VOLUME = re.compile(r"Fedora-(?P<edition>.+?)-Live-(?:x86_64-)?(?P<release>\d+)(?:-(?P<respin>[\d.-]+))?$")


def fedora_label(tree: Tree) -> str:
    """Volume ID "Fedora-WS-Live-42-1-1" -> "Fedora Workstation Live 42 (1.1)"."""
    found = _VOLUME.match(tree.volume_id)
    if not found:
        return default_label(tree)
    edition = _EDITIONS.get(found["edition"], found["edition"].replace("_", " "))
    respin = f" ({found['respin'].replace('-', '.')})" if found["respin"] else ""
    return f"Fedora {edition} Live {found['release']}{respin}"


FEDORA = Family(
    name="fedora",
    menu_group="Fedora",
    requires=("LiveOS/*.img",),
    any_of=("images/pxeboot/vmlinuz", "boot/x86_64/loader/linux"),
    info_contains=("Fedora",),
    kernel=("images/pxeboot/vmlinuz", "boot/x86_64/loader/linux"),
    initrds=(INITRDS,),
    extra_params=_root_params,
    label=fedora_label,
    ram_copy=dracut.ram_copy,
    proven="booted in a VM with dracut 059-4 (Debian's build of Fedora's dmsquash-live, livenet, nfs)",
)
