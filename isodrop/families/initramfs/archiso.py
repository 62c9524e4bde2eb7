"""archiso's mkinitcpio hooks (Arch Linux, SystemRescue), and the shape miso's fork shares.

archiso's `archiso_pxe_nfs` hook mounts `archiso_nfs_srv=IP:/path` (an IPv4 address: its hook cannot
resolve names) and finds `<archisobasedir>/x86_64/airootfs.sfs` there; `ip=dhcp` is what makes
`archiso_pxe_common` configure the network.

`copytoram=n` keeps the root image on the NFS share. Without it the whole image (about 1 GiB for Arch)
is copied into the client's RAM before boot: the NFS mount handler of both archiso's and miso's hooks
sets copytoram to "y" unless the command line says exactly "n" (mkinitcpio-archiso `hooks/archiso_pxe_nfs`,
checked at b206f34, 2025-11; manjaro-tools `initcpio/hooks/miso_pxe_nfs`, same code, checked on its
master, devel and stable-0.15.x branches, 2018), so archiso's own "auto" (copy when the image is under
4 GiB and the RAM is large enough, README.bootparams) never applies over NFS; an ISO's own copytoram is
replaced.
"""

from __future__ import annotations

from isodrop.families.base import Tree
from isodrop.families.bootcfg import param_value
from isodrop.families.initramfs.kind import Initramfs, any_key, words
from isodrop.model import ServerContext


def nfs(hooks: str = "archiso") -> str:
    """The parameter template that makes `hooks` ("archiso", or "miso" for its fork) mount its base
    folder from this server's NFS export and read the root image there."""
    return f"{hooks}_nfs_srv={{server}}:{{nfs_path}} copytoram=n ip=dhcp"


def line(base: str, hooks: str = "archiso") -> str:
    """The whole template for a tree whose root image is `<base>/x86_64/...` (a family's constant base)."""
    return f"{hooks}basedir={base} {nfs(hooks)}"


def nfs_hook(hooks: str = "archiso") -> str:
    """The hook file that mounts the NFS share: a profile that leaves out PXE has none."""
    return f"hooks/{hooks}_pxe_nfs"


def hooks_kind(hooks: str, image: str) -> Initramfs:
    """archiso or a fork of its hooks named `hooks`, whose root image matches `image` (a file name pattern)."""
    base_key = f"{hooks}basedir"

    def nfs_params(tree: Tree, ctx: ServerContext, own: list[str], initrds: list[str]) -> list[str]:
        """The base folder the ISO's own line names, else the folder holding `*/x86_64/<image>` (a
        tree's folder name: never used as a template)."""
        if param_value(own, base_key):
            return words(nfs(hooks), ctx)
        hits = tree.glob(f"*/x86_64/{image}")
        return [f"{base_key}={hits[0].split('/', 1)[0] if hits else ''}", *words(nfs(hooks), ctx)]

    return Initramfs(
        name=hooks,
        markers=(f"hooks/{hooks}",),
        named_by=any_key(base_key, f"{hooks}label"),
        nfs_params=nfs_params,
        copies_to_ram=frozenset({"copytoram"}),
    )


NFS_HOOK = nfs_hook()
ARCHISO = hooks_kind("archiso", "airootfs.*")
