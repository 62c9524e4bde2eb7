"""Distribution families: one module each; FAMILIES lists them, most specific first.

To add a family, write a module with one `Family(...)` value and put it in FAMILIES.
"""

from __future__ import annotations

from isodrop.families.base import DirTree, Family, Tree
from isodrop.families.casper import CASPER
from isodrop.families.debian_live import DEBIAN_LIVE
from isodrop.model import Recognition, ServerContext

FAMILIES: tuple[Family, ...] = (
    CASPER,
    DEBIAN_LIVE,
)


def recognise(tree: Tree, ctx: ServerContext) -> Recognition:
    """The boot entry (or the reason it cannot boot) of the first family that claims the tree."""
    for family in FAMILIES:
        result = family.recognise(tree, ctx)
        if result is not None:
            return result
    return None


__all__ = ["FAMILIES", "DirTree", "Family", "Tree", "recognise"]
