"""isodrop.loaders.pxelinux: the BIOS SYSLINUX menu."""

from __future__ import annotations

from isodrop.render.menu import build_menu
from tests.harness.menu_entries import BIOS_MENU, CONFIG, render_menus, served


def test_bios_menu_has_sorted_entries_local_boot_and_serial() -> None:
    menu = build_menu([served("zeta", "Zeta"), served("alpha", "Alpha")], CONFIG)
    text = render_menus(menu, None)[BIOS_MENU]
    assert text.index("LABEL iso-alpha") < text.index("LABEL iso-zeta") < text.index("LABEL local")
    assert "UI vesamenu.c32" in text and "SERIAL 0 115200" in text and "TIMEOUT 50" in text
    assert "  LINUX isodrop/alpha/live/vmlinuz\n" in text
    assert "  INITRD isodrop/alpha/live/initrd.img,isodrop/alpha/live/extra.img\n" in text
    assert (
        "  APPEND boot=live netboot=nfs nfsroot=10.0.0.1:/srv/tftp/isodrop/alpha ip=dhcp console=ttyS0,115200\n" in text
    )
    assert "DEFAULT local" in text and "LOCALBOOT 0" in text
