"""isodrop.loaders (base and active_loaders): every loader installs its boot file and renders its own menu;
templates written for older releases keep their variables."""

from __future__ import annotations

import dataclasses
from pathlib import Path, PurePosixPath

from isodrop.loaders import active_loaders
from isodrop.loaders.choice import IPXE_SCRIPT
from isodrop.render.menu import build_menu
from tests.harness.menu_entries import BIOS_MENU, CONFIG, EFI_MENU, render_menus, served


def test_every_loader_installs_its_boot_file_and_renders_its_own_menu() -> None:
    loaders = active_loaders(CONFIG)
    # ipxe's scripts first, grub (uefi_loader's default), syslinux.efi, pxelinux: the BIOS menu last
    assert [loader.name for loader in loaders] == ["ipxe", "grub", "syslinux-efi", "pxelinux"]
    menu = build_menu([served("alpha", "Alpha\nMENU HIDDEN")], CONFIG)
    paths = set()
    for loader in loaders:
        rendered = loader.render(menu)
        paths |= set(rendered)
        if loader.name == "ipxe":  # a script, not a file of its own package: dnsmasq hands it to iPXE
            assert IPXE_SCRIPT in rendered  # (its menus: tests/unit/loaders/test_ipxe.py)
            continue
        if loader.name == "grub":  # GRUB's own syntax; its escaping is tests/unit/loaders/test_grub.py
            assert all("menuentry 'Alpha MENU HIDDEN' --id 'iso-alpha'" in text for text in rendered.values())
        else:
            assert all("MENU LABEL Alpha MENU HIDDEN\n" in text for text in rendered.values())
    assert {BIOS_MENU, EFI_MENU, PurePosixPath("grub/grub.cfg")} <= paths


def test_templates_written_for_0_1_keep_their_variables(tmp_path: Path) -> None:
    """A template copied into templates_dir before entries came pre-quoted still gets what it used."""
    from isodrop.loaders.grub import GrubLoader
    from isodrop.loaders.ipxe import IpxeLoader

    (tmp_path / "pxelinux.cfg.j2").write_text(
        "{% for item in menu.items if firmware in item.firmware %}{{ path_prefix }}{{ item.kernel }} "
        "{{ quote(item.title) }}\n{% endfor %}"
    )
    (tmp_path / "grub.cfg.j2").write_text(
        "{% for item in menu.items %}{{ q(item.title) }} {{ grub_url(item) }} {{ hotkey(loop.index0) }} "
        "{{ grub_path(item.initrd_urls[0]) if item.initrd_urls else '' }}\n"
        "{% endfor %}default={{ default_id }} http={{ http }}\n"
    )
    (tmp_path / "menu.ipxe.j2").write_text(
        "{% for item in visible %}{{ keys[item.name] }} {{ q(item.title) }} {{ url('/' ~ item.kernel) }} "
        "{{ cmdline(item) }}\n{% endfor %}{{ groups | length }}\n"
    )
    hostile = dataclasses.replace(served("b", "Bee's ${x}"), http_url="http://10.0.0.1:8080/isodrop/b/")
    menu = build_menu([served("a", "Aye"), hostile], dataclasses.replace(CONFIG, menu_default="first"))
    assert render_menus(menu, tmp_path)[EFI_MENU] == (
        "::isodrop/a/live/vmlinuz Aye\n::isodrop/b/live/vmlinuz Bee's ${x}\n"
    )
    assert GrubLoader(tmp_path).render(menu)[PurePosixPath("grub/grub.cfg")] == (
        "'Aye'  1 \n'Bee'\\''s ${x}' (http,10.0.0.1:8080)/isodrop/b/live/vmlinuz 2 "
        "(http,10.0.0.1:8080)/isodrop/b/live/initrd.img\ndefault=iso-a http=True\n"
    )
    efi = IpxeLoader(tmp_path).render(menu)[PurePosixPath("ipxe/menu-efi.ipxe")]
    assert efi == (
        "1 Aye /isodrop/a/live/vmlinuz initrd=initrd0 initrd=initrd1 boot=live netboot=nfs "
        "nfsroot=10.0.0.1:/srv/tftp/isodrop/a ip=dhcp console=ttyS0,115200\n"
        "2 Bee's $ {x} /isodrop/b/live/vmlinuz initrd=initrd0 initrd=initrd1 boot=live netboot=nfs "
        "nfsroot=10.0.0.1:/srv/tftp/isodrop/b ip=dhcp console=ttyS0,115200\n0\n"
    )
