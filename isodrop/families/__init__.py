"""Distribution families: one module each; FAMILIES lists them, most specific first.

To add a family, write one `Family(...)` value (a live system in a known medium folder:
`LiveMedium(...).family(...)`; a derivative: `dataclasses.replace(parent, ...)`) in its module and put
it in FAMILIES before anything that would also claim its trees.
"""

from __future__ import annotations

from isodrop.families.archiso import ARCH, MANJARO, SYSTEMRESCUE
from isodrop.families.base import NOT_BOOTED, DirTree, Family, Recogniser, Tree
from isodrop.families.casper import ELEMENTARY, LINUX_MINT, POP_OS, UBUNTU, UBUNTU_LAYERED
from isodrop.families.debian_live import CLONEZILLA, DEBIAN_LIVE, GPARTED, KALI
from isodrop.families.dracut import FEDORA
from isodrop.families.generic import GENERIC
from isodrop.families.memtest import MEMTEST
from isodrop.families.unsupported import GRUB_ONLY, KNOPPIX, OPENSUSE_LIVE, TAILS, WINDOWS
from isodrop.model import NotBootable, Recognition, ServerContext

FAMILIES: tuple[Recogniser, ...] = (
    # recognised, and known not to boot over NFS (before the families whose files they share)
    WINDOWS,
    KNOPPIX,
    TAILS,
    # casper: derivatives before Ubuntu itself
    LINUX_MINT,
    ELEMENTARY,
    POP_OS,
    UBUNTU_LAYERED,
    UBUNTU,
    # live-boot: derivatives before Debian itself
    KALI,
    CLONEZILLA,
    GPARTED,
    DEBIAN_LIVE,
    # dracut / kiwi
    FEDORA,
    OPENSUSE_LIVE,
    # archiso and miso
    ARCH,
    SYSTEMRESCUE,
    MANJARO,
    MEMTEST,
    # no Linux at all, then anything else with a Linux entry in its own boot menu
    GRUB_ONLY,
    GENERIC,
)


def recognise(tree: Tree, ctx: ServerContext) -> Recognition:
    """The boot entry of the first family that claims the tree, or the NotBootable verdict saying why
    it cannot boot (`guessed` when no family knows what it is). Never raises NotBootable."""
    for family in FAMILIES:
        try:
            entry = family.recognise(tree, ctx)
        except NotBootable as verdict:
            return verdict
        if entry is not None:
            if problem := entry.too_long():  # an ISO's own APPEND, label or paths past the limits
                return NotBootable(problem, guessed=entry.guessed, family=entry.family, evidence=entry.evidence)
            return entry
    return NotBootable(
        f"no known live system found (volume ID {tree.volume_id!r}): no family's files were found, and the "
        "ISO's own boot menu gave nothing isodrop could turn into a network boot entry",
        guessed=True,
    )


def proof(family: str) -> str:
    """How far the named family's command line is proven (shown by `isodrop inspect`)."""
    for recogniser in FAMILIES:
        if recogniser.name == family:
            return recogniser.proven
    return NOT_BOOTED


__all__ = ["FAMILIES", "proof", "DirTree", "Family", "Recogniser", "Tree", "recognise"]
