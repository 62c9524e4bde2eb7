"""dracut's dmsquash-live with livenet (Fedora Live and its remixes).

`root=live:nfs://SRV/path/LiveOS/squashfs.img` makes dracut's livenet module mount the folder over NFS
(url-lib's nfs handler) and boot the image from there, without copying it into RAM; `rd.live.image`
selects dmsquash-live and `ip=dhcp` brings the network up.

That needs two dracut modules in the initrd: livenet (`/sbin/livenetroot`) and nfs (`nfs-lib.sh`,
which registers the nfs:// URL handler). isodrop looks inside the initrd when it can read it: without
nfs but with livenet, `root=live:http://...` works when HTTP is configured (the image is then copied
into RAM); without livenet nothing network-booted can work.
"""

from __future__ import annotations

from isodrop.families.base import Tree
from isodrop.families.bootcfg import param_value
from isodrop.families.initramfs.detect import read_initrd
from isodrop.families.initramfs.kind import Initramfs
from isodrop.model import NotBootable, ServerContext

SELECT = "rd.live.image"


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


def line(tree: Tree, ctx: ServerContext, initrd: str | None, image: str) -> list[str]:
    """The parameters that boot the live image `image` (a tree path) from this server with the initrd
    `initrd` (None: not known, so not looked inside)."""
    root = live_root(tree, ctx, initrd, image) if initrd else [f"root=live:nfs://{ctx.server}{ctx.nfs_path}/{image}"]
    return [*root, SELECT, "ip=dhcp"]


def _nfs_params(tree: Tree, ctx: ServerContext, own: list[str], initrds: list[str]) -> list[str]:
    """The image an ISO's own line names (rd.live.dir, rd.live.squashimg; dracut's defaults LiveOS and
    squashfs.img), else the first image in that folder."""
    folder = (param_value(own, "rd.live.dir") or "LiveOS").strip("/")
    image = f"{folder}/{param_value(own, 'rd.live.squashimg') or 'squashfs.img'}"
    if not tree.is_file(image):
        image = tree.first((f"{folder}/*.img",)) or image
    added = line(tree, ctx, initrds[-1] if initrds else None, image)
    return [word for word in added if not (word == SELECT and SELECT in own)]


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


DRACUT = Initramfs(
    name="dracut",
    markers=("usr/lib/dracut/", "lib/dracut/", "usr/lib/dracut-lib.sh", "lib/dracut-lib.sh"),
    named_by=lambda params: SELECT in params or (param_value(params, "root") or "").startswith("live:"),
    nfs_params=_nfs_params,
    # dmsquash-live copies the image into RAM with rd.live.ram (a getargbool: bare, =1, =yes, =y); isodrop's
    # lines never set it, and an ISO's own is dropped: over NFS the image streams.
    copies_to_ram=frozenset({"rd.live.ram"}),
    ram_copy=ram_copy,
)
