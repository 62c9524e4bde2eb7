"""Ubuntu and the systems built on its casper initramfs (Linux Mint, elementary OS, Pop!_OS).

How casper mounts its root over NFS is in `initramfs/casper.py`; these are the distributions' layouts.
casper compares `.disk/casper-uuid-*` with the initrd's conf/uuid.conf, so the extracted
tree keeps `.disk` (isodrop extracts everything).

Ubuntu 23.10+ ships the root as layers (`minimal.squashfs` < `minimal.standard.squashfs` <
`minimal.standard.live.squashfs`, ...): a layer `a.b.c.squashfs` is mounted over `a.b.squashfs` and
`a.squashfs`, so every prefix layer must be in the tree. casper mounts the layer named by
`layerfs-path=` (or by a default written into the initrd's `conf/conf.d/` when the ISO was built);
without either it stacks every `casper/*.squashfs` in glob order and boots the wrong root. So isodrop
names the live layer explicitly: the one the ISO's own GRUB menu names, else the topmost
`casper/*.live.squashfs` (what the desktop menu boots through the initrd's default). The live server
ISO has no `.live.` layer: its initrd's default layer (the installer) is left to apply.

Proof: checked against the layouts of the real ISOs, not booted (casper is not in Debian).
"""

from __future__ import annotations

import posixpath
from dataclasses import replace

from isodrop.families.base import LiveMedium, Tree, default_label
from isodrop.families.bootcfg import GRUB_CONFIGS, default_entry, param_value
from isodrop.families.initramfs import casper
from isodrop.model import NotBootable, ServerContext


def missing_layers(tree: Tree, ctx: ServerContext) -> None:
    """A layered casper tree whose layer sits on a lower layer the ISO lacks cannot boot."""
    layers = {rel.removeprefix("casper/").removesuffix(".squashfs") for rel in tree.glob_files("casper/*.squashfs")}
    for layer in sorted(layers):
        parts = layer.split(".")
        for depth in range(1, len(parts)):
            lower = ".".join(parts[:depth])
            if lower not in layers:
                raise NotBootable(
                    f"layered casper image is incomplete: casper/{layer}.squashfs sits on "
                    f"casper/{lower}.squashfs, which is not in the ISO"
                )


def live_layer(tree: Tree) -> str:
    """The layer file casper should mount: the ISO's own GRUB `layerfs-path=`, else the topmost
    `casper/*.live.squashfs`; "" when neither exists (the initrd's built-in default then applies)."""
    for config in GRUB_CONFIGS:
        entry = default_entry(tree, (config,))
        if entry is not None and (layer := param_value(entry.params, "layerfs-path")):
            return layer.removeprefix("/casper/").lstrip("/")
    live = [rel.removeprefix("casper/") for rel in tree.glob_files("casper/*.live.squashfs")]
    return max(live, key=lambda name: (name.count("."), name)) if live else ""


def _layer_params(tree: Tree, ctx: ServerContext) -> list[str]:
    layer = live_layer(tree)
    return [f"layerfs-path={layer}"] if layer else []


CASPER_MEDIUM = LiveMedium("casper", kernels=("vmlinuz", "vmlinuz.efi"), initrds=("initrd", "initrd.lz", "initrd.gz"))

UBUNTU = CASPER_MEDIUM.family("ubuntu", "Ubuntu", params=casper.LINE)

UBUNTU_LAYERED = replace(
    UBUNTU,
    name="ubuntu-layered",
    requires=("casper/*.*.squashfs",),
    check=missing_layers,
    extra_params=_layer_params,
)

LINUX_MINT = replace(
    UBUNTU,
    name="linuxmint",
    menu_group="Linux Mint",
    requires=("casper/filesystem.squashfs", "preseed/linuxmint.seed"),
    info_contains=("Linux Mint",),
    params=casper.LINE + " file=/cdrom/preseed/linuxmint.seed",
)

ELEMENTARY = replace(UBUNTU, name="elementary", menu_group="elementary OS", info_contains=("elementary OS",))


def _pop_media_dir(tree: Tree) -> str:
    """The versioned casper directory of a Pop!_OS tree, as its own GRUB menu names it."""
    for config in GRUB_CONFIGS:
        entry = default_entry(tree, (config,))
        if entry is not None and (path := param_value(entry.params, "live-media-path")):
            return path.strip("/")
    kernel = tree.first(POP_OS.kernel)
    return posixpath.dirname(kernel) if kernel else "casper"


def _pop_params(tree: Tree, ctx: ServerContext) -> list[str]:
    return [f"live-media-path=/{_pop_media_dir(tree)}"]


def _pop_label(tree: Tree) -> str:
    return default_label(tree).replace("Pop_OS", "Pop!_OS")


POP_OS = replace(
    UBUNTU,
    name="pop-os",
    menu_group="Pop!_OS",
    requires=("casper_pop-os*/filesystem.squashfs",),
    info_contains=("Pop_OS", "Pop!_OS", "Pop-OS"),
    kernel=("casper_pop-os*/vmlinuz.efi", "casper_pop-os*/vmlinuz"),
    initrds=(("casper_pop-os*/initrd.gz", "casper_pop-os*/initrd.img", "casper_pop-os*/initrd"),),
    extra_params=_pop_params,
    label=_pop_label,
)
