"""What each loader boots at the timeout and from each entry, as isodrop decided it: the model against
which the menu-default and pin tests check menus read back with the loaders' own rules
(tests/harness/loader_parsers.py), and the hypothesis strategy of hostile drop folders."""

from __future__ import annotations

import dataclasses
from pathlib import Path, PurePosixPath
from urllib.parse import unquote

from hypothesis import strategies as st

from isodrop.config import local_defaults
from isodrop.loaders.grub import GrubLoader
from isodrop.loaders.ipxe import IpxeLoader
from isodrop.loaders.pxelinux import Pxelinux
from isodrop.loaders.syslinux_efi import SyslinuxEfi
from isodrop.model import BootEntry
from isodrop.render.menu import Menu, Served, build_menu
from isodrop.secureboot import Verdict
from isodrop.state import slug_for
from tests.harness.loader_parsers import (
    Boot,
    GrubItem,
    grub_boot,
    grub_entries,
    grub_notice,
    grub_timeout_entry,
    ipxe_boot,
    ipxe_timeout_target,
    parse_grub,
    parse_ipxe,
    parse_syslinux,
    syslinux_timeout_entry,
)

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
    signer: str = "",
) -> Served:
    """`signer`: refused with Secure Boot as a sound signature by that untrusted signer (a MOK could help)."""
    slug = slug_for(source)
    entry = BootEntry(family, label, "live/vmlinuz", ("live/initrd.img",), params, menu_group=family, firmware=firmware)
    verdict = None if boots_with_secure_boot is None else Verdict(boots_with_secure_boot, "", "checked")
    if signer:
        verdict = Verdict(False, signer, f"signed by {signer}, which this shim does not trust")
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
    locked = {item.id: item for item in grub_entries(parse_grub(texts["grub"], lockdown=True))}
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
            assert_secure_boot_entry(s, locked[name], config)
            assert same(ipxe_boot(scripts["ipxe-efi"], f"entry-{name}"), entry_boot(s, "ipxe-efi", config))
    assert pxe.order.count("local") == 1 and "local" not in efi.order


def assert_secure_boot_entry(s: Served, item: GrubItem, config) -> None:  # type: ignore[no-untyped-def]
    """With Secure Boot on an entry whose kernel shim refuses is shown, marked, and only prints why
    (the ISO's label and the verdict's reason) and waits for Escape; every other entry boots as without."""
    if s.secure_boot is None or s.secure_boot.boots:
        assert same(grub_boot(item), entry_boot(s, "grub", config))
        return
    assert item.title.endswith(" (needs Secure Boot off)")
    shown = " ".join(" ".join(grub_notice(item)).split())
    reason = " ".join(s.secure_boot.reason.replace("\n", " ").split())
    assert reason in shown and "Press Escape to return to the menu." in shown
    if s.secure_boot.signer:  # a MOK may make shim trust it: the entry tries the kernel before the notice
        assert same(grub_boot(item), entry_boot(s, "grub", config))
    else:
        assert not any(w[0] in ("linux", "initrd") or w[:2] == ["if", "linux"] for w in item.body)


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
            signer=draw(st.sampled_from(["", "", "Canonical Ltd. Secure Boot Signing", "it's ${x}\n'; fi {"])),
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
