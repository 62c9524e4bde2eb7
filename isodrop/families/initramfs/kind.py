"""What an initramfs kind is: the mechanism every system built on that initramfs shares.

A live initramfs (casper, live-boot, dracut, archiso, miso) decides how a root is found: which words
of the kernel command line select it, which ones make it mount its root over NFS, which ones would make
it copy that root into RAM, and which files in an initrd show that the initrd is one. A family (policy:
one distribution's layout, labels and extra words) and the generic fallback (an ISO's own boot menu)
both take those words from here, so each kind's NFS line is written once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from isodrop.families.base import RamCopy, Tree
from isodrop.families.bootcfg import param_key, param_value
from isodrop.model import ServerContext

# (tree, ctx, the ISO's own parameters, its initrds) -> the parameters to add so the root comes from NFS;
# raises NotBootable when this initramfs cannot take its root from the network.
NfsParams = Callable[[Tree, ServerContext, list[str], list[str]], list[str]]


@dataclass(frozen=True)
class Initramfs:
    """One live initramfs kind, as data (its module writes the value, like a `Family`)."""

    name: str  # "casper", "live-boot", "dracut", "archiso", "miso"
    markers: tuple[str, ...]  # files only this initramfs ships (prefixes of cpio member names)
    named_by: Callable[[list[str]], bool]  # True when a command line selects this initramfs
    nfs_params: NfsParams  # what to add to an ISO's own command line to boot it from the NFS export
    copies_to_ram: frozenset[str] = frozenset()  # keys of an ISO's own words that would copy the root away
    ram_copy: RamCopy | None = None  # bytes a command line makes it copy into RAM; None: it always streams

    def without_copying(self, params: list[str]) -> list[str]:
        """An ISO's own parameters without those that would copy the root into RAM or onto a disk:
        isodrop serves the root over NFS so that it streams."""
        return [param for param in params if param_key(param) not in self.copies_to_ram]


def boot_is(script: str) -> Callable[[list[str]], bool]:
    """initramfs-tools runs the script named by `boot=` (casper, live-boot)."""
    return lambda params: param_value(params, "boot") == script


def any_key(*keys: str) -> Callable[[list[str]], bool]:
    """A command line that sets one of these keys."""
    return lambda params: any(param_key(param) in keys for param in params)


def words(template: str, ctx: ServerContext) -> list[str]:
    """A parameter template ({server}, {nfs_path}, ...) filled in for this tree and split into words."""
    return template.format(**ctx.to_dict()).split()


def selected_then(selector: str, nfs: str) -> NfsParams:
    """An initramfs selected by one word (`boot=casper`): that word unless the ISO's line has it, then `nfs`."""

    def nfs_params(tree: Tree, ctx: ServerContext, own: list[str], initrds: list[str]) -> list[str]:
        return ([] if selector in own else [selector]) + words(nfs, ctx)

    return nfs_params
