"""The initramfs kinds together (isodrop/families/initramfs/__init__.py): which kind a command line or an
initrd's files name, in a fixed order."""

from __future__ import annotations

import pytest

from isodrop.families.initramfs import KINDS, found_in, named_on
from isodrop.families.initramfs.detect import InitrdContents


@pytest.mark.parametrize(
    ("params", "kind"),
    [
        (["boot=casper", "quiet"], "casper"),
        (["boot=live", "components"], "live-boot"),
        (["archisobasedir=arch", "archisolabel=ARCH"], "archiso"),
        (["misolabel=MANJARO"], "miso"),
        (["root=live:CDLABEL=Nobara", "rd.live.image"], "dracut"),
        (["archisolabel=X", "rd.live.image"], "archiso"),  # dracut is asked last
        (["quiet", "root=/dev/sda1"], None),
    ],
)
def test_a_command_line_names_its_initramfs(params: list[str], kind: str | None) -> None:
    found = named_on(params)
    assert (found.name if found else None) == kind


def test_an_initrds_files_name_every_kind_in_order() -> None:
    contents = InitrdContents(frozenset({"hooks/miso_pxe_nfs", "usr/lib/dracut/modules.txt", "scripts/casper"}))
    assert [kind.name for kind in found_in(contents)] == ["casper", "dracut", "miso"]
    assert [kind.name for kind in KINDS] == ["casper", "live-boot", "dracut", "archiso", "miso"]
