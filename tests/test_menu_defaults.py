"""What a PC boots at the menu's timeout is what the administrator configured, in every loader and with
Secure Boot on and off, whatever the drop folder holds: every generated menu is read back with the
loader's own rules (tests/loader_parsers.py), for hostile labels, file names and sidecars (property
tests), and for the concrete attacks of issue 16 (regression tests)."""

from __future__ import annotations

import dataclasses
from pathlib import Path, PurePosixPath
from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from isodrop.config import local_defaults
from isodrop.families import recognise
from isodrop.families.base import DirTree
from isodrop.limits import (
    CONSOLE_RESERVE,
    INITRDS_MAX,
    KERNEL_COMMAND_LINE_MAX,
    LABEL_MAX,
    LINE_MAX,
    SOURCE_SHOWN_MAX,
    TREE_PATH_MAX,
    loader_reserve,
)
from isodrop.loaders.base import MenuLineError
from isodrop.loaders.grub import GrubLoader
from isodrop.loaders.ipxe import IpxeLoader
from isodrop.loaders.pxelinux import Pxelinux
from isodrop.loaders.syslinux_efi import SyslinuxEfi
from isodrop.model import BootEntry, NotBootable, ServerContext
from isodrop.render.menu import Menu, MenuItem, Served, build_menu
from isodrop.secureboot import Verdict
from isodrop.sidecar import Sidecar, SidecarError, apply
from isodrop.state import slug_for
from tests.family_layouts import LAYOUTS
from tests.loader_parsers import (
    Boot,
    grub_boot,
    grub_entries,
    grub_timeout_entry,
    ipxe_boot,
    ipxe_timeout_target,
    parse_grub,
    parse_ipxe,
    parse_syslinux,
    syslinux_lines,
    syslinux_timeout_entry,
)
from tests.test_families import write_tree

BASE = dataclasses.replace(local_defaults(Path("/tmp/t")), serial_console="ttyS0,115200", menu_timeout=50)
VIEWS = ("pxelinux", "syslinux-efi", "grub", "grub-lockdown", "ipxe-bios", "ipxe-efi")
LOCAL = Boot(local=True)
WAITS = None  # syslinux.efi cannot boot the local disk: it waits at the menu


def served(
    source: str,
    label: str,
    *,
    position: int = 0,
    params: tuple[str, ...] = ("boot=live",),
    firmware: tuple[str, ...] = ("bios", "efi64"),
    boots_with_secure_boot: bool | None = None,
    family: str = "debian-live",
) -> Served:
    slug = slug_for(source)
    entry = BootEntry(family, label, "live/vmlinuz", ("live/initrd.img",), params, menu_group=family, firmware=firmware)
    verdict = None if boots_with_secure_boot is None else Verdict(boots_with_secure_boot, "", "checked")
    return Served(slug, source, f"isodrop/{slug}", entry, position, secure_boot=verdict)


def render_all(menu: Menu) -> dict[str, str]:
    return {
        "pxelinux": Pxelinux().render(menu)[PurePosixPath("pxelinux.cfg/default")],
        "syslinux-efi": SyslinuxEfi().render(menu)[PurePosixPath("efi64/pxelinux.cfg/default")],
        "grub": GrubLoader().render(menu)[PurePosixPath("grub/grub.cfg")],
        "ipxe-bios": IpxeLoader().render(menu)[PurePosixPath("ipxe/menu-pcbios.ipxe")],
        "ipxe-efi": IpxeLoader().render(menu)[PurePosixPath("ipxe/menu-efi.ipxe")],
    }


def timeout_boots(config, entries: list[Served]) -> dict[str, Boot | None]:  # type: ignore[no-untyped-def]
    """What each loader (GRUB with Secure Boot off and on) boots at the timeout, read back."""
    texts = render_all(build_menu(entries, config))
    out: dict[str, Boot | None] = {}
    for view in ("pxelinux", "syslinux-efi"):
        out[view] = syslinux_timeout_entry(parse_syslinux(texts[view]))
    for view, lockdown in (("grub", False), ("grub-lockdown", True)):
        out[view] = grub_boot(grub_timeout_entry(parse_grub(texts["grub"], lockdown=lockdown)))
    for view in ("ipxe-bios", "ipxe-efi"):
        script = parse_ipxe(texts[view])
        target = ipxe_timeout_target(script)
        out[view] = None if target is None else ipxe_boot(script, target)
    return out


def expected_boot(s: Served | None, view: str, config) -> Boot | None:  # type: ignore[no-untyped-def]
    """What isodrop decided `view` should boot for the default `s` (None: local boot)."""
    firmware = "bios" if view in ("pxelinux", "ipxe-bios") else "efi64"
    left_out = view == "grub-lockdown" and s is not None and s.secure_boot is not None and not s.secure_boot.boots
    if s is None or firmware not in s.entry.firmware or left_out:
        return WAITS if view == "syslinux-efi" else LOCAL
    return entry_boot(s, view, config)


def entry_boot(s: Served, view: str, config) -> Boot:  # type: ignore[no-untyped-def]
    """An entry's kernel, initrds and command line as `view` must load them."""
    prefix = {"pxelinux": "", "syslinux-efi": "::"}.get(view, "/")
    console = (f"console={config.serial_console}",) if config.serial_console else ()
    names = tuple(f"initrd=initrd{n}" for n in range(len(s.entry.initrds))) if view == "ipxe-efi" else ()
    return Boot(
        f"{prefix}{s.tftp_path}/{s.entry.kernel}",
        tuple(f"{prefix}{s.tftp_path}/{i}" for i in s.entry.initrds),
        names + s.entry.params + console,
    )


def same(got: Boot | None, wanted: Boot | None) -> bool:
    if got is None or wanted is None:
        return got is wanted
    if wanted.local:
        return got.local
    decoded = Boot(unquote(got.kernel), tuple(unquote(i) for i in got.initrds), got.params)
    return (decoded.kernel, decoded.initrds, decoded.params) == (wanted.kernel, wanted.initrds, wanted.params)


def decided(entries: list[Served], menu_default: str) -> Served | None:
    """The default as the docs define it, computed here on its own: local, the first by (position,
    label, file name), or the ISO whose file name is exactly menu_default."""
    if menu_default == "first":
        return min(entries, key=lambda s: (s.position, s.entry.label.casefold(), s.source), default=None)
    return next((s for s in entries if s.source == menu_default and menu_default != "local"), None)


def assert_defaults(config, entries: list[Served]) -> None:  # type: ignore[no-untyped-def]
    wanted = decided(entries, config.menu_default)
    got = timeout_boots(config, entries)
    for view in VIEWS:
        assert same(got[view], expected_boot(wanted, view, config)), (view, got[view], wanted)


def assert_entries_read_back(config, entries: list[Served]) -> None:  # type: ignore[no-untyped-def]
    """Every entry a loader shows loads exactly the kernel, initrds and command line isodrop decided."""
    texts = render_all(build_menu(entries, config))
    pxe, efi = parse_syslinux(texts["pxelinux"]), parse_syslinux(texts["syslinux-efi"])
    grub = {item.id: grub_boot(item) for item in grub_entries(parse_grub(texts["grub"], lockdown=False))}
    scripts = {view: parse_ipxe(texts[view]) for view in ("ipxe-bios", "ipxe-efi")}
    for s in entries:
        name = f"iso-{s.slug}"
        bios, uefi = "bios" in s.entry.firmware, "efi64" in s.entry.firmware
        assert pxe.order.count(name) == bios and efi.order.count(name) == uefi
        if bios:
            assert same(pxe.labels[name], entry_boot(s, "pxelinux", config))
            assert same(ipxe_boot(scripts["ipxe-bios"], f"entry-{name}"), entry_boot(s, "ipxe-bios", config))
        if uefi:
            assert same(efi.labels[name], entry_boot(s, "syslinux-efi", config))
            assert same(grub[name], entry_boot(s, "grub", config))
            assert same(ipxe_boot(scripts["ipxe-efi"], f"entry-{name}"), entry_boot(s, "ipxe-efi", config))
    assert pxe.order.count("local") == 1 and "local" not in efi.order


# --- property tests ---------------------------------------------------------------------------------

HOSTILE_WORDS = ["local", "iso-a", "first", "0", "1", "2>0", "group-1", "--id", "-", "--", "\\", "'", "a\nb", ">"]
labels = st.one_of(st.sampled_from(HOSTILE_WORDS), st.text(min_size=1, max_size=12)).filter(
    lambda text: BootEntry("x", text, "k", (), ()).label != ""
)
param_text = st.text(alphabet="abz09=-_.,:/\\'\"{}>", min_size=1, max_size=8)
names = st.one_of(
    st.sampled_from(["local.iso", "first.iso", "X.iso", "X.iso.iso", "iso-a.iso", "back.iso", "-x.iso"]),
    st.text(alphabet="abcXY.-_ ", min_size=1, max_size=8).map(lambda stem: stem + ".iso"),
)


@st.composite
def drop_folders(draw: st.DrawFn) -> tuple[object, list[Served]]:
    sources = draw(st.lists(names, min_size=1, max_size=5, unique_by=slug_for))
    entries = [
        served(
            source,
            draw(labels),
            position=draw(st.sampled_from([0, 0, -1000, 5])),
            params=tuple(draw(st.lists(param_text, min_size=1, max_size=3))),
            firmware=draw(st.sampled_from([("bios", "efi64"), ("bios",), ("efi64",)])),
            boots_with_secure_boot=draw(st.sampled_from([None, True, False])),
            family=draw(st.sampled_from(["debian-live", "casper"])),
        )
        for source in sources
    ]
    near = [s.source.removesuffix(".iso") for s in entries] + [slug_for(s.source) for s in entries]
    menu_default = draw(st.sampled_from(["local", "first", *[s.source for s in entries], *near]))
    config = dataclasses.replace(
        BASE,
        menu_default=menu_default,
        menu_group_threshold=draw(st.sampled_from([1, 20])),
        serial_console=draw(st.sampled_from(["ttyS0,115200", ""])),
    )
    return config, entries


@given(drop_folders())
def test_the_timeout_boots_what_isodrop_decided_in_every_loader_and_lockdown_state(case) -> None:  # type: ignore[no-untyped-def]
    config, entries = case
    assert_defaults(config, entries)


@given(drop_folders())
def test_every_entry_loads_what_isodrop_decided(case) -> None:  # type: ignore[no-untyped-def]
    config, entries = case
    assert_entries_read_back(config, entries)


# --- the concrete attacks ---------------------------------------------------------------------------


def test_an_iso_labelled_local_is_not_the_default() -> None:
    entries = [served("evil.iso", "local"), served("debian.iso", "Debian")]
    got = timeout_boots(BASE, entries)
    assert all(got[view] == LOCAL or got[view].local for view in VIEWS if view != "syslinux-efi")
    assert got["syslinux-efi"] is WAITS
    assert_entries_read_back(BASE, entries)


def test_an_iso_named_local_iso_gets_a_name_of_its_own() -> None:
    # slug_for hashes loader names too (tests/test_state.py); the menus must not rely on it: here the
    # slugs are the loader names themselves, as an older slug rule made them
    entries = [
        dataclasses.replace(served(f"{name}.iso", title), slug=name)
        for name, title in (("local", "Evil"), ("back", "Back"))
    ]
    texts = render_all(build_menu(entries, dataclasses.replace(BASE, menu_group_threshold=1)))
    assert "LABEL iso-local\n" in texts["pxelinux"] and texts["pxelinux"].count("LABEL local\n") == 1
    assert "--id 'iso-local'" in texts["grub"] and texts["grub"].count("--id local ") == 1
    assert ":entry-iso-local\n" in texts["ipxe-bios"] and texts["ipxe-bios"].count(":local\n") == 1
    assert_defaults(BASE, entries)


def test_menu_default_matches_the_file_name_exactly() -> None:
    entries = [served("X.iso.iso", "Tricky")]
    for menu_default in ("X.iso", "X.iso.iso"):
        config = dataclasses.replace(BASE, menu_default=menu_default)
        got = timeout_boots(config, entries)
        assert got["pxelinux"].local is (menu_default == "X.iso")
        assert_defaults(config, entries)


def test_the_default_left_out_under_lockdown_is_local_boot_not_entry_0() -> None:
    unsigned = served("wanted.iso", "Wanted", boots_with_secure_boot=False)
    pushy = served("pushy.iso", "Pushy", position=-1000, boots_with_secure_boot=True)
    after = served("zed.iso", "Zed", boots_with_secure_boot=True)
    config = dataclasses.replace(BASE, menu_default="wanted.iso")
    got = timeout_boots(config, [unsigned, pushy, after])
    assert got["grub"].kernel == "/isodrop/wanted/live/vmlinuz"
    assert got["grub-lockdown"].local
    text = render_all(build_menu([unsigned, pushy, after], config))["grub"]
    # Secure Boot off: pushy 0, wanted 1, zed 2, local 3; on: pushy 0, zed 1, local 2
    assert "set default='1'\n" in text and "then set default='2'; fi" in text


def test_a_label_starting_with_dashes_keeps_its_entry() -> None:
    entries = [served("a.iso", "--foo"), served("b.iso", "-")]
    texts = render_all(build_menu(entries, BASE))
    titles = [item.title for item in grub_entries(parse_grub(texts["grub"], lockdown=False))]
    assert titles == ["_-", "_--foo", "Boot from local disk"]
    assert "menu isodrop" in texts["ipxe-bios"]
    assert_entries_read_back(BASE, entries)


def test_a_parameter_or_label_ending_in_a_backslash_continues_no_line() -> None:
    entries = [served("a.iso", "Ends in \\", params=("boot=live", "x=\\"))]
    texts = render_all(build_menu(entries, dataclasses.replace(BASE, serial_console="")))
    for view in ("grub", "ipxe-bios", "ipxe-efi"):
        assert not any(line.endswith("\\") for line in texts[view].splitlines()), view
    assert "[1] Ends in \\ \n" in texts["ipxe-bios"]
    assert_entries_read_back(dataclasses.replace(BASE, serial_console=""), entries)


def test_a_5000_character_disk_info_label_is_cut_to_a_menu_line(tmp_path: Path) -> None:
    layout = LAYOUTS["debian_12_live"]()
    files = layout.files | {".disk/info": "Debian " + "L" * 5000}
    tree = DirTree(write_tree(tmp_path / "d", dataclasses.replace(layout, files=files)), volume_id=layout.volume_id)
    entry = recognise(tree, ServerContext("10.0.0.1", "/srv/tftp/isodrop/d", "isodrop/d"))
    assert isinstance(entry, BootEntry) and len(entry.label) == LABEL_MAX and entry.label.startswith("Debian L")


def test_an_iso_append_over_the_kernel_limit_is_not_bootable_with_the_reason(tmp_path: Path) -> None:
    layout = LAYOUTS["clonezilla_3"]()
    long_append = " ".join(f"p{n}=" + "x" * 45 for n in range(100))  # about 5000 bytes
    files = {
        k: v.replace("union=overlay", f"union=overlay {long_append}") if isinstance(v, str) else v
        for k, v in layout.files.items()
    }
    tree = DirTree(write_tree(tmp_path / "c", dataclasses.replace(layout, files=files)), volume_id=layout.volume_id)
    result = recognise(tree, ServerContext("10.0.0.1", "/srv/tftp/isodrop/c", "isodrop/c"))
    assert isinstance(result, NotBootable) and result.family == "clonezilla"
    assert result.reason.startswith("kernel command line is ") and "over the kernel's 2047-byte limit" in result.reason


def test_a_sidecar_whose_add_params_overflow_the_command_line_is_its_own_error() -> None:
    entry = served("a.iso", "A").entry
    fits = Sidecar(add_params=("x=" + "y" * 1000,))
    assert apply(entry, fits).params[-1] == "x=" + "y" * 1000
    with pytest.raises(SidecarError, match=r"add_params: with them the kernel command line is \d+ bytes"):
        apply(entry, Sidecar(add_params=tuple(f"p{n}=" + "y" * 900 for n in range(3))))


def worst_case_entries() -> list[Served]:
    """The longest every rule allows: labels of 4-byte characters, duplicate labels beside long file
    names; once the longest paths and the most initrds the command line budget leaves room for, once a
    command line at the limit of quote-heavy words (the loaders' own BOOT_IMAGE=/initrd= counted)."""
    label = "\U0001f4bf" * (LABEL_MAX + 50)
    path = "p/" + "k" * (TREE_PATH_MAX - 2)
    many = max(n for n in range(INITRDS_MAX + 1) if loader_reserve(path, (path,) * n) + CONSOLE_RESERVE < 2000)
    shapes = [(path, (path,) * many), ("live/vmlinuz", ("live/initrd.img",))]
    out = []
    for n, (kernel, initrds) in enumerate(shapes * 2):
        budget = KERNEL_COMMAND_LINE_MAX - CONSOLE_RESERVE - loader_reserve(kernel, initrds)
        params = tuple(["'"] * ((budget + 1) // 2))  # each: one byte and a blank, GRUB's longest quoting
        source = f"{n}" + "s" * 300 + ".iso"
        slug = slug_for(source)
        entry = BootEntry("debian-live", label, kernel, initrds, params, menu_group="Debian", guessed=True)
        http = f"http://10.0.0.1:8080/isodrop/{slug}/"
        verdict = Verdict(False, "", "unsigned kernel")
        out.append(Served(slug, source, f"isodrop/{slug}", entry, http_url=http, secure_boot=verdict))
    return out


@pytest.mark.parametrize("threshold", [1, 20])
def test_the_worst_entry_the_rules_allow_keeps_every_line_under_each_loaders_limit(threshold: int) -> None:
    entries = worst_case_entries()
    assert all(not s.entry.too_long() for s in entries)
    config = dataclasses.replace(BASE, menu_default=entries[0].source, menu_group_threshold=threshold)
    menu = build_menu(entries, config)
    assert len(menu.items or menu.groups) >= 1
    title = (menu.items or menu.groups[0].items)[0].title
    assert len(title) <= LABEL_MAX + SOURCE_SHOWN_MAX + len(" () [guessed]")
    limits = {"pxelinux": "syslinux", "syslinux-efi": "syslinux", "grub": "grub", "ipxe-bios": "ipxe"}
    for view, text in render_all(menu).items():
        limit = LINE_MAX[limits.get(view, "ipxe")]
        assert max(len(line.encode()) for line in text.splitlines()) < limit, view
    for view in ("pxelinux", "syslinux-efi"):  # and SYSLINUX reads each line whole
        text = render_all(menu)[view]
        assert syslinux_lines(text) == text.split("\n")
    assert_entries_read_back(config, entries)


def test_a_line_over_the_loaders_limit_is_refused_not_written() -> None:
    item = MenuItem("iso-a", "A", "isodrop/a/k", (), "x" * 5000, False, "f", True)
    menu = Menu("t", 50, "", (item,), (), "iso-a")
    with pytest.raises(MenuLineError, match="pxelinux menu line .* bytes, over 4000"):
        Pxelinux().render(menu)


@pytest.mark.parametrize("loader", [GrubLoader(), IpxeLoader()], ids=["grub", "ipxe"])
def test_a_line_ending_in_a_continuation_is_refused(loader) -> None:  # type: ignore[no-untyped-def]
    assert loader.checked("echo a\necho b\n") == "echo a\necho b\n"
    for text in ("echo a \\\necho b\n", "echo a\necho b\\"):
        with pytest.raises(MenuLineError, match=r"menu line \d ends in '\\\\'"):
            loader.checked(text)
