"""What a PC boots at the menu's timeout is what the administrator configured, in every loader and with
Secure Boot on and off, whatever the drop folder holds: every generated menu is read back with the
loader's own rules (tests/harness/loader_parsers.py), for hostile labels, file names and sidecars (property
tests), and for the concrete attacks of issue 16 (regression tests)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given

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
from isodrop.model import BootEntry, NotBootable, ServerContext
from isodrop.render.menu import Menu, MenuItem, Served, build_menu
from isodrop.secureboot import Verdict
from isodrop.sidecar import Sidecar, SidecarError, apply
from isodrop.state import slug_for
from tests.harness.family_layouts import LAYOUTS, write_tree
from tests.harness.loader_parsers import (
    grub_entries,
    grub_notice,
    parse_grub,
    syslinux_lines,
)
from tests.harness.menu_cases import (
    BASE,
    LOCAL,
    VIEWS,
    WAITS,
    assert_defaults,
    assert_entries_read_back,
    drop_folders,
    render_all,
    served,
    timeout_boots,
)


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
    # slug_for hashes loader names too (tests/unit/test_state.py); the menus must not rely on it: here the
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


def test_a_default_shim_refuses_is_local_boot_under_lockdown_not_entry_0_nor_its_notice() -> None:
    unsigned = served("wanted.iso", "Wanted", boots_with_secure_boot=False)
    pushy = served("pushy.iso", "Pushy", position=-1000, boots_with_secure_boot=True)
    after = served("zed.iso", "Zed", boots_with_secure_boot=True)
    config = dataclasses.replace(BASE, menu_default="wanted.iso")
    got = timeout_boots(config, [unsigned, pushy, after])
    assert got["grub"].kernel == "/isodrop/wanted/live/vmlinuz"
    assert got["grub-lockdown"].local
    text = render_all(build_menu([unsigned, pushy, after], config))["grub"]
    # Secure Boot off and on: pushy 0, wanted 1 (on: the entry that says why), zed 2, local 3
    assert "set default='1'\n" in text and "then set default='3'; fi" in text
    notice = grub_entries(parse_grub(text, lockdown=True))[1]
    assert notice.title == "Wanted (needs Secure Boot off)" and notice.id == "iso-wanted"
    assert "Wanted: it cannot boot with Secure Boot on: checked." in grub_notice(notice)


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
