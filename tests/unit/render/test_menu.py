"""isodrop.render.menu: the menu model built from the served entries (order, labels, groups, default, URLs)."""

import dataclasses

from isodrop.render.menu import all_items, build_menu
from isodrop.secureboot import Verdict
from isodrop.vendorchain import VendorChain
from tests.harness.menu_entries import BIOS_MENU, CONFIG, render_menus, served


def test_duplicate_labels_get_file_names_and_guessed_is_marked() -> None:
    menu = build_menu([served("a", "Same"), served("b", "Same"), served("c", "Odd", guessed=True)], CONFIG)
    titles = [i.title for i in all_items(menu)]
    assert titles == ["Odd [guessed]", "Same (a.iso)", "Same (b.iso)"]


def test_position_orders_before_label_and_default_by_file_name() -> None:
    config = dataclasses.replace(CONFIG, menu_default="zeta.iso")
    menu = build_menu([served("alpha", "Alpha"), served("zeta", "Zeta", position=-1)], config)
    assert [i.name for i in all_items(menu)] == ["iso-zeta", "iso-alpha"]
    assert menu.default == "iso-zeta" and [i.is_default for i in all_items(menu)] == [True, False]


def test_many_entries_are_grouped_by_family() -> None:
    config = dataclasses.replace(CONFIG, menu_group_threshold=2)
    entries = [served("d1", "D1"), served("d2", "D2", family="casper"), served("d3", "D3")]
    menu = build_menu(entries, config)
    assert [g.title for g in menu.groups] == ["Casper", "Debian-Live"]
    text = render_menus(menu, None)[BIOS_MENU]
    assert text.count("MENU BEGIN") == 2 and text.count("MENU END") == 2 and "MENU EXIT" in text


def test_menu_items_carry_http_urls_only_when_http_is_configured() -> None:
    plain = build_menu([served("alpha", "Alpha")], CONFIG).items[0]
    assert plain.kernel_url == "" and plain.initrd_urls == () and plain.secure_boot is None
    with_url = dataclasses.replace(served("alpha", "Alpha"), http_url="http://10.0.0.1/isodrop/alpha/")
    item = build_menu([with_url], CONFIG).items[0]
    assert item.kernel_url == "http://10.0.0.1/isodrop/alpha/live/vmlinuz"
    assert item.initrd_urls == (
        "http://10.0.0.1/isodrop/alpha/live/initrd.img",
        "http://10.0.0.1/isodrop/alpha/live/extra.img",
    )
    assert item.append.endswith("console=ttyS0,115200")


def test_an_entry_is_handed_over_only_when_shim_refuses_its_kernel_and_its_chain_is_usable() -> None:
    chain = VendorChain("Fedora", "EFI/BOOT/BOOTX64.EFI", "EFI/BOOT/grubx64.efi", "", ("",), True, "has tftp")
    refused, boots = (
        Verdict(False, "Fedora", "signed by Fedora, which this shim does not trust"),
        Verdict(True, "", "ok"),
    )
    cases = {
        "refused": (refused, chain, "Fedora"),
        "boots": (boots, chain, ""),
        "unchecked": (None, chain, ""),
        "unusable": (refused, dataclasses.replace(chain, usable=False), ""),
        "none": (refused, None, ""),
    }
    entries = [
        dataclasses.replace(served(slug, slug), secure_boot=verdict, vendor_chain=vendor_chain)
        for slug, (verdict, vendor_chain, _) in cases.items()
    ]
    got = {item.name.removeprefix("iso-"): item.handover for item in all_items(build_menu(entries, CONFIG))}
    assert got == {slug: wanted for slug, (_, _, wanted) in cases.items()}
