"""Fedora Live: dracut's dmsquash-live with livenet.

`root=live:nfs://SRV/path/LiveOS/squashfs.img` makes dracut's livenet module mount the folder over
NFS (url-lib's nfs handler) and boot the image from there, without copying it into RAM;
`rd.live.image` selects dmsquash-live and `ip=dhcp` brings the network up. Up to Fedora 41 the
kernel is in `images/pxeboot/`; Fedora 42 live ISOs are built with kiwi (dmsquash flavour) and
keep it in `boot/x86_64/loader/`.

That needs two dracut modules in the initrd: livenet (`/sbin/livenetroot`) and nfs (`nfs-lib.sh`,
which registers the nfs:// URL handler). isodrop looks inside the initrd when it can read it: without
nfs but with livenet, `root=live:http://...` works when HTTP is configured (the image is then
copied into RAM); without livenet nothing network-booted can work.

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
from isodrop.families.initramfs import read_initrd
from isodrop.model import NotBootable, ServerContext

_EDITIONS = {"WS": "Workstation", "KDE": "KDE Plasma", "Xfce": "Xfce", "LXQt": "LXQt", "MATE_Compiz": "MATE"}


INITRDS = ("images/pxeboot/initrd.img", "boot/x86_64/loader/initrd")


def _live_image(tree: Tree) -> str:
    return tree.first(("LiveOS/squashfs.img", "LiveOS/rootfs.img", "LiveOS/*.img")) or "LiveOS/squashfs.img"


def live_root(tree: Tree, ctx: ServerContext, initrd: str, image: str) -> list[str]:
    """The `root=live:...` parameter for this initrd; NotBootable when it cannot take its root from the network."""
    contents = read_initrd(tree, initrd)
    if contents.problem or not contents.names:  # cannot look inside: trust the distribution's recipe
        return [f"root=live:nfs://{ctx.server}{ctx.nfs_path}/{image}"]
    if not (contents.has("usr/sbin/livenetroot") or contents.has("sbin/livenetroot")):
        raise NotBootable(
            f"{initrd} has no dracut livenet module (no sbin/livenetroot): "
            "it cannot fetch its root image over the network"
        )
    if any(name.endswith("nfs-lib.sh") for name in contents.names):
        return [f"root=live:nfs://{ctx.server}{ctx.nfs_path}/{image}"]
    if ctx.http_url:
        return [f"root=live:{ctx.http_url.rstrip('/')}/{image}"]
    raise NotBootable(
        f"{initrd} has dracut's livenet module but not its nfs module (no nfs-lib.sh), so root=live:nfs:// "
        "cannot work; with http_url configured isodrop boots it with root=live:http://... (the image is then "
        "loaded into RAM)"
    )


# dmsquash-live copies the image into RAM with rd.live.ram (a getargbool: bare, =1, =yes, =y); isodrop's lines
# never set it, and the generic fallback drops it from an ISO's own line: over NFS the image streams.
COPY_TO_RAM_PARAMS = frozenset({"rd.live.ram"})


def ram_copy(tree: Tree, ctx: ServerContext, params: list[str]) -> int:
    """Bytes dracut copies into RAM for this line: the live image when livenet downloads it over HTTP
    (url-lib's curl handler writes it to the initramfs's /tmp, dracut 059) or rd.live.ram is on; 0 when
    root=live:nfs:// (url-lib's nfs handler hands livenet the file on the NFS mount: read on demand)."""
    root = next((p.removeprefix("root=live:") for p in params if p.startswith("root=live:")), "")
    over_http = root.startswith(("http://", "https://"))
    ram = any(p == "rd.live.ram" or p.startswith(("rd.live.ram=1", "rd.live.ram=y")) for p in params)
    base = f"{ctx.http_url.rstrip('/')}/" if over_http else f"nfs://{ctx.server}{ctx.nfs_path}/"
    if not (over_http or ram) or not root.startswith(base):
        return 0
    return tree.size(root.removeprefix(base)) or 0


def _root_params(tree: Tree, ctx: ServerContext) -> list[str]:
    initrd = tree.first(INITRDS)
    root = live_root(tree, ctx, initrd, _live_image(tree)) if initrd else []
    return [*root, "rd.live.image", "ip=dhcp"]


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
    ram_copy=ram_copy,
    proven="booted in a VM with dracut 059-4 (Debian's build of Fedora's dmsquash-live, livenet, nfs)",
)
