"""The generic fallback: boot an ISO no family claims the way its own boot menu does, plus NFS.

It takes the kernel, initrd(s) and command line of the default entry of the ISO's own
ISOLINUX/SYSLINUX or GRUB menu, tells which live initramfs that is (from the command line, else from
marker files inside the initrd), drops what names the boot medium and adds that initramfs's NFS
parameters. The result is marked `guessed`: nobody checked this system's recipe.
"""

from __future__ import annotations

import posixpath

from isodrop.families.base import Tree, checked_paths, default_label
from isodrop.families.bootcfg import (
    GRUB_CONFIGS,
    SYSLINUX_CONFIGS,
    BootConfigTooLarge,
    MenuEntry,
    default_entry,
    medium_free,
    param_key,
)
from isodrop.families.initramfs import KINDS, Initramfs, found_in, named_on
from isodrop.families.initramfs.detect import read_initrd
from isodrop.model import BootEntry, NotBootable, ServerContext


def _find_entry(tree: Tree) -> MenuEntry | None:
    """The default entry of the usual configs, else of any other `isolinux/*.cfg`/`syslinux/*.cfg`."""
    entry = default_entry(tree, SYSLINUX_CONFIGS + GRUB_CONFIGS)
    if entry is not None:
        return entry
    patterns = ("isolinux/*.cfg", "syslinux/*.cfg", "boot/*/*.cfg")
    others = tuple(rel for pattern in patterns for rel in tree.glob(pattern))
    return default_entry(tree, others)


def _on_nfs(kind: Initramfs, tree: Tree, ctx: ServerContext, own: list[str], initrds: list[str]) -> list[str]:
    """An ISO's own (medium-free) parameters with the initramfs's NFS words: its own words that would copy
    the root away, and those the NFS words set again, are dropped; the NFS words come last."""
    own = kind.without_copying(own)
    added = kind.nfs_params(tree, ctx, own, initrds)
    added_keys = {param_key(param) for item in added for param in item.split()}
    return [param for param in own if param_key(param) not in added_keys] + [
        param for item in added for param in item.split()
    ]


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
        kind = named_on(entry.params)
        how = "its command line"
        problems = []
        for initrd in entry.initrds if kind is None else ():
            contents = read_initrd(tree, initrd)
            inside = found_in(contents)
            if inside:
                kind, how = inside[0], f"files inside {initrd}"
                break
            if contents.problem:
                problems.append(contents.problem)
        if kind is None:
            known = ", ".join(each.name for each in KINDS)
            why = "; ".join(problems) if problems else f"none of its initrds is one of: {known}"
            raise NotBootable(
                f"its default entry ({entry.source}) boots a Linux kernel, but isodrop cannot tell how its "
                f"initramfs would mount a root over NFS: {why}"
            )
        evidence = (*evidence, f"initramfs: {kind.name} (from {how})")
        try:
            params = _on_nfs(kind, tree, ctx, medium_free(entry.params), entry.initrds)
        except NotBootable as verdict:
            raise verdict.claimed(self.name, evidence) from None
        return BootEntry(
            family=self.name,
            label=default_label(tree) or posixpath.basename(entry.kernel),
            kernel=entry.kernel,
            initrds=tuple(entry.initrds),
            params=tuple(params),
            evidence=evidence,
            menu_group=self.menu_group,
            guessed=True,
            copies_to_ram_bytes=kind.ram_copy(tree, ctx, params) if kind.ram_copy else 0,
        )


GENERIC = GenericFallback()
