"""Live initramfs kinds: one module each (the mechanism), used by the families (the policy) and by the
generic fallback. KINDS lists them in the order an initrd's files are matched against them.

`detect` reads an initrd's file names; `kind` says what an initramfs kind is.
"""

from __future__ import annotations

from isodrop.families.initramfs.archiso import ARCHISO
from isodrop.families.initramfs.casper import CASPER
from isodrop.families.initramfs.detect import InitrdContents
from isodrop.families.initramfs.dracut import DRACUT
from isodrop.families.initramfs.kind import Initramfs
from isodrop.families.initramfs.live_boot import LIVE_BOOT
from isodrop.families.initramfs.miso import MISO

KINDS: tuple[Initramfs, ...] = (CASPER, LIVE_BOOT, DRACUT, ARCHISO, MISO)


def named_on(params: list[str]) -> Initramfs | None:
    """The initramfs a command line selects; dracut is asked last, so a line naming archiso's or miso's
    base folder is theirs even with dracut's words on it."""
    for kind in (CASPER, LIVE_BOOT, ARCHISO, MISO, DRACUT):
        if kind.named_by(params):
            return kind
    return None


def found_in(contents: InitrdContents) -> list[Initramfs]:
    """The initramfs kinds whose marker files are in an initrd."""
    return [kind for kind in KINDS if any(contents.has(marker) for marker in kind.markers)]


__all__ = ["KINDS", "Initramfs", "found_in", "named_on"]
