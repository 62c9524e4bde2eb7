"""Fedora Live: dracut's dmsquash-live with livenet.

`root=live:nfs://SRV/path/LiveOS/squashfs.img` makes dracut's livenet module mount the folder over
NFS (url-lib's nfs handler) and boot the image from there, without copying it into RAM;
`rd.live.image` selects dmsquash-live and `ip=dhcp` brings the network up. Up to Fedora 41 the
kernel is in `images/pxeboot/`; Fedora 42 live ISOs are built with kiwi (dmsquash flavour) and
keep it in `boot/x86_64/loader/`.
"""

from __future__ import annotations

import re

from isodrop.families.base import Family, Tree, default_label
from isodrop.model import ServerContext

_EDITIONS = {"WS": "Workstation", "KDE": "KDE Plasma", "Xfce": "Xfce", "LXQt": "LXQt", "MATE_Compiz": "MATE"}


def _live_image(tree: Tree) -> str:
    return tree.first(("LiveOS/squashfs.img", "LiveOS/rootfs.img", "LiveOS/*.img")) or "LiveOS/squashfs.img"


def _root_params(tree: Tree, ctx: ServerContext) -> list[str]:
    return [f"root=live:nfs://{ctx.server}{ctx.nfs_path}/{_live_image(tree)}", "rd.live.image", "ip=dhcp"]


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
    initrds=(("images/pxeboot/initrd.img", "boot/x86_64/loader/initrd"),),
    extra_params=_root_params,
    label=fedora_label,
)
