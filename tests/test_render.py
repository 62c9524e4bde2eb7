"""Menus and exports rendered from entries: pure text, checked line by line."""

import dataclasses
from pathlib import Path, PurePosixPath

from isodrop.config import local_defaults
from isodrop.loaders import active_loaders
from isodrop.loaders.pxelinux import Pxelinux
from isodrop.loaders.syslinux_efi import SyslinuxEfi
from isodrop.model import BootEntry
from isodrop.nfs.ganesha import Ganesha
from isodrop.nfs.kernel import KernelNfs
from isodrop.render.menu import Menu, MenuItem, Served, build_menu

BIOS_MENU = Pxelinux.menu_path
EFI_MENU = SyslinuxEfi.menu_path


def render_menus(menu: Menu, templates_dir: Path | None) -> dict[PurePosixPath, str]:
    return Pxelinux(templates_dir).render(menu) | SyslinuxEfi(templates_dir).render(menu)


def all_items(menu: Menu) -> tuple[MenuItem, ...]:
    return menu.items + tuple(i for g in menu.groups for i in g.items)


def kernel_exports(trees: list[Path], client_network: str) -> str:
    return KernelNfs().render(trees, client_network)


def ganesha_exports(trees: list[Path], client_network: str) -> str:
    return Ganesha().render(trees, client_network)


def served(slug: str, label: str, family: str = "debian-live", position: int = 0, guessed: bool = False) -> Served:
    entry = BootEntry(
        family=family,
        label=label,
        kernel="live/vmlinuz",
        initrds=("live/initrd.img", "live/extra.img"),
        params=("boot=live", "netboot=nfs", f"nfsroot=10.0.0.1:/srv/tftp/isodrop/{slug}", "ip=dhcp"),
        menu_group=family.title(),
        guessed=guessed,
    )
    return Served(slug=slug, source=f"{slug}.iso", tftp_path=f"isodrop/{slug}", entry=entry, position=position)


CONFIG = dataclasses.replace(local_defaults(Path("/tmp/t")), serial_console="ttyS0,115200", menu_timeout=50)


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


def test_efi_menu_uses_root_relative_paths_and_no_localboot() -> None:
    menu = build_menu([served("alpha", "Alpha")], dataclasses.replace(CONFIG, menu_default="first"))
    text = render_menus(menu, None)[EFI_MENU]
    assert PurePosixPath("efi64/pxelinux.cfg/default") == EFI_MENU
    assert "  LINUX ::isodrop/alpha/live/vmlinuz\n" in text
    assert "::isodrop/alpha/live/initrd.img,::isodrop/alpha/live/extra.img" in text
    assert "LOCALBOOT" not in text and "DEFAULT iso-alpha" in text and "MENU DEFAULT" in text


def test_bios_only_entries_stay_out_of_the_uefi_menu() -> None:
    bios_only = served("mt32", "Memtest86+ (32-bit)")
    bios_only = dataclasses.replace(bios_only, entry=dataclasses.replace(bios_only.entry, firmware=("bios",)))
    menus = render_menus(build_menu([bios_only, served("alpha", "Alpha")], CONFIG), None)
    assert "LABEL iso-mt32" in menus[BIOS_MENU] and "LABEL iso-alpha" in menus[BIOS_MENU]
    assert "LABEL iso-mt32" not in menus[EFI_MENU] and "LABEL iso-alpha" in menus[EFI_MENU]


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


def test_templates_dir_overrides_shipped_template(tmp_path: Path) -> None:
    (tmp_path / "pxelinux.cfg.j2").write_text("custom {{ menu.title }} {{ firmware }}\n")
    rendered = render_menus(build_menu([], CONFIG), tmp_path)
    assert rendered[BIOS_MENU] == "custom isodrop network boot bios\n"


def test_kernel_exports_are_read_only_for_the_client_network() -> None:
    text = kernel_exports([Path("/srv/tftp/isodrop/b"), Path("/srv/tftp/isodrop/a")], "192.168.1.0/24")
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    assert lines == [
        "/srv/tftp/isodrop/a 192.168.1.0/24(ro,no_subtree_check,insecure,all_squash)",
        "/srv/tftp/isodrop/b 192.168.1.0/24(ro,no_subtree_check,insecure,all_squash)",
    ]


def test_ganesha_exports_have_stable_distinct_ids() -> None:
    trees = [Path(f"/srv/tftp/isodrop/t{i}") for i in range(20)]
    text = ganesha_exports(trees, "*")
    ids = [line.split("=")[1].strip(" ;") for line in text.splitlines() if "Export_Id" in line]
    assert len(ids) == 20 == len(set(ids))
    assert ganesha_exports(trees[:1], "*").split("Export_Id = ")[1][:5] == text.split("Export_Id = ")[1][:5]
    assert 'Path = "/srv/tftp/isodrop/t0";' in text and "Protocols = 3;" in text and "Access_Type = RO;" in text


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


def test_publication_is_computed_from_values_alone() -> None:
    """Menus and exports from records, trees present and sidecars: no file is read or written."""
    from isodrop.model import Outcome
    from isodrop.nfs import nfs_server
    from isodrop.render.publication import publication
    from isodrop.sidecar import Sidecar
    from isodrop.site import Site
    from isodrop.state import EntryState

    config = dataclasses.replace(
        CONFIG, tftp_root=Path("/nonexistent/tftp"), trees_dir=Path("/nonexistent/tftp/isodrop")
    )

    def state(slug: str, outcome: Outcome = Outcome.SERVED) -> EntryState:
        entry = served(slug, slug.title()).entry if outcome is Outcome.SERVED else None
        return EntryState(slug=slug, source=f"{slug}.iso", size=1, mtime_ns=1, outcome=outcome, entry=entry)

    states = {s: state(s) for s in ("a", "b", "gone")} | {"bad": state("bad", Outcome.FAILED)}
    site = Site.make(config, "10.0.0.1")
    contexts = {slug: site.context(slug) for slug in states}
    sidecars = {"b.iso": Sidecar(hidden=True), "a.iso": Sidecar(label="Renamed")}
    result = publication(
        states, {"a", "b", "bad"}, sidecars, contexts, config, active_loaders(config), nfs_server(config)
    )
    menus = dict(result.menus)
    assert list(menus) == [
        Path("/nonexistent/tftp/ipxe/menu-pcbios.ipxe"),
        Path("/nonexistent/tftp/ipxe/menu-efi.ipxe"),
        Path("/nonexistent/tftp/ipxe/menu.ipxe"),
        Path("/nonexistent/tftp/grub/grub.cfg"),  # uefi_loader = "grub" (the default)
        Path("/nonexistent/tftp/efi64/pxelinux.cfg/default"),
        Path("/nonexistent/tftp/pxelinux.cfg/default"),
    ]
    bios = menus[Path("/nonexistent/tftp/pxelinux.cfg/default")]
    assert "MENU LABEL Renamed" in bios and "LABEL iso-b\n" not in bios and "LABEL iso-gone" not in bios
    assert result.shown == 1 and result.exported == 2 and result.exports_file == config.exports_file
    assert "/nonexistent/tftp/isodrop/b *(ro" in result.exports and "isodrop/gone" not in result.exports

    # the next pass with equal inputs reuses the rendered menus; any change renders them again
    loaders = active_loaders(config)
    again = publication(states, {"a", "b", "bad"}, sidecars, contexts, config, loaders, nfs_server(config))
    same = publication(states, {"a", "b", "bad"}, sidecars, contexts, config, loaders, nfs_server(config))
    assert same.menus is again.menus and dict(again.menus) == menus
    relabelled = publication(
        states, {"a", "b", "bad"}, {"a.iso": Sidecar(label="Other")}, contexts, config, loaders, nfs_server(config)
    )
    bios = dict(relabelled.menus)[Path("/nonexistent/tftp/pxelinux.cfg/default")]
    assert "MENU LABEL Other" in bios and "LABEL iso-b\n" in bios  # b's sidecar no longer hides it


def test_loader_files_are_installed_and_refreshed_when_the_package_changes(tmp_path: Path) -> None:
    from isodrop.effects import install_files

    source, dest = tmp_path / "pkg/pxelinux.0", tmp_path / "tftp/pxelinux.0"
    source.parent.mkdir()
    source.write_bytes(b"version 1")
    assert [r.ok for r in install_files({dest: source})] == [True] and dest.read_bytes() == b"version 1"
    assert install_files({dest: source}) == []  # unchanged: nothing to do
    source.write_bytes(b"version 2, upgraded")
    results = install_files({dest: source})
    assert dest.read_bytes() == b"version 2, upgraded" and "refreshed" in results[0].message
    missing = install_files({tmp_path / "tftp/other.c32": tmp_path / "pkg/other.c32"})
    assert not missing[0].ok and "not found" in missing[0].message


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
            assert loader.boot_file() in rendered  # (its menus: tests/test_ipxe.py)
            continue
        if loader.name == "grub":  # GRUB's own syntax; its escaping is tests/test_grub_loader.py
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
