"""The generic fallback: boot an ISO no family claims the way its own boot menu does, plus NFS.

It takes the kernel, initrd(s) and command line of the default entry of the ISO's own
ISOLINUX/SYSLINUX or GRUB menu, tells which live initramfs that is (from the command line, else from
marker files inside the initrd), drops what names the boot medium and adds that initramfs's NFS
parameters. The result is marked `guessed`: nobody checked this system's recipe.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable

from isodrop.families.base import Tree, checked_paths, default_label
from isodrop.families.bootcfg import (
    GRUB_CONFIGS,
    SYSLINUX_CONFIGS,
    BootConfigTooLarge,
    MenuEntry,
    default_entry,
    medium_free,
    param_key,
    param_value,
)
from isodrop.families.debian_live import COPY_TO_RAM_PARAMS as LIVE_BOOT_COPY_PARAMS
from isodrop.families.dracut import COPY_TO_RAM_PARAMS as DRACUT_COPY_PARAMS
from isodrop.families.dracut import live_root, ram_copy
from isodrop.families.initramfs import MARKERS, read_initrd
from isodrop.model import BootEntry, NotBootable, ServerContext


def _kind_from_params(params: list[str]) -> str:
    boot = param_value(params, "boot")
    keys = {param_key(param) for param in params}
    if boot == "casper":
        return "casper"
    if boot == "live":
        return "live-boot"
    if "archisobasedir" in keys or "archisolabel" in keys:
        return "archiso"
    if "misobasedir" in keys or "misolabel" in keys:
        return "miso"
    if "rd.live.image" in params or (param_value(params, "root") or "").startswith("live:"):
        return "dracut"
    return ""


def _casper(tree: Tree, ctx: ServerContext, own: list[str], initrds: list[str]) -> list[str]:
    boot = [] if "boot=casper" in own else ["boot=casper"]
    return boot + [f"netboot=nfs nfsroot={ctx.server}:{ctx.nfs_path}", "ip=dhcp"]


def _live_boot(tree: Tree, ctx: ServerContext, own: list[str], initrds: list[str]) -> list[str]:
    boot = [] if "boot=live" in own else ["boot=live"]
    return boot + ["netboot=nfs", f"nfsroot={ctx.server}:{ctx.nfs_path}", "ip=dhcp"]


def _dracut(tree: Tree, ctx: ServerContext, own: list[str], initrds: list[str]) -> list[str]:
    folder = (param_value(own, "rd.live.dir") or "LiveOS").strip("/")
    image = f"{folder}/{param_value(own, 'rd.live.squashimg') or 'squashfs.img'}"
    if not tree.is_file(image):
        image = tree.first((f"{folder}/*.img",)) or image
    root = (
        live_root(tree, ctx, initrds[-1], image) if initrds else [f"root=live:nfs://{ctx.server}{ctx.nfs_path}/{image}"]
    )
    live = [] if "rd.live.image" in own else ["rd.live.image"]
    return [*root, *live, "ip=dhcp"]


def _base_dir(tree: Tree, image: str) -> str:
    """The archisobasedir/misobasedir a command line left out: the folder holding `*/x86_64/<image>`."""
    hits = tree.glob(f"*/x86_64/{image}")
    return hits[0].split("/", 1)[0] if hits else ""


def _archiso(tree: Tree, ctx: ServerContext, own: list[str], initrds: list[str]) -> list[str]:
    base = [] if param_value(own, "archisobasedir") else [f"archisobasedir={_base_dir(tree, 'airootfs.*')}"]
    return base + [f"archiso_nfs_srv={ctx.server}:{ctx.nfs_path}", "copytoram=n", "ip=dhcp"]  # see archiso.py


def _miso(tree: Tree, ctx: ServerContext, own: list[str], initrds: list[str]) -> list[str]:
    base = [] if param_value(own, "misobasedir") else [f"misobasedir={_base_dir(tree, 'rootfs.sfs')}"]
    return base + [f"miso_nfs_srv={ctx.server}:{ctx.nfs_path}", "copytoram=n", "ip=dhcp"]


# An ISO's own parameters that make each initramfs copy its root into RAM (or onto a disk) although it
# can read it over NFS: casper's `toram`/`todisk=` (scripts/casper, after its NFS mount), live-boot's and
# dracut's (debian_live.py, dracut.py). archiso's and miso's copytoram is replaced by copytoram=n below.
COPY_TO_RAM_PARAMS: dict[str, frozenset[str]] = {
    "casper": frozenset({"toram", "todisk"}),
    "live-boot": LIVE_BOOT_COPY_PARAMS,
    "dracut": DRACUT_COPY_PARAMS,
}

# Each returns the parameters to add, or raises NotBootable when this initramfs cannot boot from the network.
NFS_RECIPES: dict[str, Callable[[Tree, ServerContext, list[str], list[str]], list[str]]] = {
    "casper": _casper,
    "live-boot": _live_boot,
    "dracut": _dracut,
    "archiso": _archiso,
    "miso": _miso,
}


def _find_entry(tree: Tree) -> MenuEntry | None:
    """The default entry of the usual configs, else of any other `isolinux/*.cfg`/`syslinux/*.cfg`."""
    entry = default_entry(tree, SYSLINUX_CONFIGS + GRUB_CONFIGS)
    if entry is not None:
        return entry
    patterns = ("isolinux/*.cfg", "syslinux/*.cfg", "boot/*/*.cfg")
    others = tuple(rel for pattern in patterns for rel in tree.glob(pattern))
    return default_entry(tree, others)


class GenericFallback:
    """Last in FAMILIES: anything with a Linux entry in its own boot menu and a known live initramfs."""

    name = "generic"
    proven = "guessed from the ISO's own boot menu, not booted"
    menu_group = "Other"

    def recognise(self, tree: Tree, ctx: ServerContext) -> BootEntry | None:
        """A guessed entry; every NotBootable it raises is `guessed`: nobody knows what the system is."""
        try:
            entry = _find_entry(tree)
        except BootConfigTooLarge as verdict:
            verdict.guessed = True
            raise verdict.claimed(self.name, ("its own boot menu",)) from None
        if entry is None:
            return None
        evidence = (entry.source, f"default entry {entry.title!r}")
        try:
            return self._entry(tree, ctx, entry, evidence)
        except NotBootable as verdict:
            verdict.guessed = True
            raise verdict.claimed(self.name, evidence) from None

    def _entry(self, tree: Tree, ctx: ServerContext, entry: MenuEntry, evidence: tuple[str, ...]) -> BootEntry:
        missing = [rel for rel in (entry.kernel, *entry.initrds) if not tree.is_file(rel)]
        if missing:
            raise NotBootable(f"its boot menu {entry.source} boots {', '.join(missing)}, not found in the ISO")
        checked_paths(entry.kernel, *entry.initrds)
        kind = _kind_from_params(entry.params)
        how = "its command line"
        problems = []
        for initrd in entry.initrds if not kind else ():
            contents = read_initrd(tree, initrd)
            kinds = contents.kinds()
            if kinds:
                kind, how = kinds[0], f"files inside {initrd}"
                break
            if contents.problem:
                problems.append(contents.problem)
        if not kind:
            known = ", ".join(MARKERS)
            why = "; ".join(problems) if problems else f"none of its initrds is one of: {known}"
            raise NotBootable(
                f"its default entry ({entry.source}) boots a Linux kernel, but isodrop cannot tell how its "
                f"initramfs would mount a root over NFS: {why}"
            )
        evidence = (*evidence, f"initramfs: {kind} (from {how})")
        own = [param for param in medium_free(entry.params) if param_key(param) not in COPY_TO_RAM_PARAMS.get(kind, ())]
        try:
            added = NFS_RECIPES[kind](tree, ctx, own, entry.initrds)
        except NotBootable as verdict:
            raise verdict.claimed(self.name, evidence) from None
        added_keys = {param_key(param) for item in added for param in item.split()}
        params = [param for param in own if param_key(param) not in added_keys] + [
            param for item in added for param in item.split()
        ]
        return BootEntry(
            family=self.name,
            label=default_label(tree) or posixpath.basename(entry.kernel),
            kernel=entry.kernel,
            initrds=tuple(entry.initrds),
            params=tuple(params),
            evidence=evidence,
            menu_group=self.menu_group,
            guessed=True,
            copies_to_ram_bytes=ram_copy(tree, ctx, params) if kind == "dracut" else 0,
        )


GENERIC = GenericFallback()
