"""The GRUB menu (isodrop/loaders/grub.py + templates/grub.cfg.j2): structure, config mapping, and hostile
labels and parameters that must not add or change a line (the output is parsed back with GRUB's rules)."""

from __future__ import annotations

import dataclasses
from pathlib import Path, PurePosixPath

import pytest

from isodrop.config import local_defaults
from isodrop.loaders.choice import UEFI_BOOT_FILE
from isodrop.loaders.grub import GrubLoader, grub_path, grub_serial, grub_timeout
from isodrop.model import BootEntry
from isodrop.render.menu import Served, build_menu
from isodrop.secureboot import Verdict
from isodrop.vendorchain import VendorChain
from tests.harness.loader_parsers import grub_boot, grub_notice, grub_timeout_entry, parse_grub, words

MENU = PurePosixPath("grub/grub.cfg")
HOSTILE = [
    "a'b",
    "it's $x ${y} $(z)",
    "semi; echo pwned",
    "hash # not a comment",
    'dq "quoted" \\ back',
    "new\nline menuentry 'x' { reboot }",
    "cr\rlf\r\n}",
    "}\nmenuentry evil {",
    "'; reboot; echo '",
]


def config(tmp_path: Path, **changes: object):  # type: ignore[no-untyped-def]
    settings: dict[str, object] = {"serial_console": "ttyS0,115200", "menu_default": "first"} | changes
    return dataclasses.replace(local_defaults(tmp_path), **settings)


def served(slug: str, label: str, params: tuple[str, ...] = ("boot=live",), **kw: object) -> Served:
    entry = BootEntry(
        family=str(kw.pop("family", "debian-live")),
        label=label,
        kernel="live/vmlinuz",
        initrds=("live/initrd.img",),
        params=params,
        guessed=bool(kw.pop("guessed", False)),
    )
    return Served(slug=slug, source=f"{slug}.iso", tftp_path=f"isodrop/{slug}", entry=entry, **kw)  # type: ignore[arg-type]


def render(cfg, entries: list[Served]) -> str:  # type: ignore[no-untyped-def]
    return GrubLoader(cfg.templates_dir).render(build_menu(entries, cfg))[MENU]


@pytest.mark.parametrize("text", HOSTILE + ["plain", "", "$", "''", "\\"])
def test_quote_is_one_word_with_the_same_text(text: str) -> None:
    quoted = GrubLoader.quote(text)
    assert "\n" not in quoted and "\r" not in quoted
    expected = "".join(" " if ord(c) < 32 else c for c in text)
    assert words(quoted) == [expected]


def test_hostile_labels_and_params_cannot_add_or_change_lines(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    plain = render(cfg, [served(f"s{i}", f"label {i}", ("boot=live", f"p{i}")) for i in range(len(HOSTILE))])
    # Parameters never hold line breaks (BootEntry refuses them); labels may, and are made printable.
    params = [h.replace("\n", " ").replace("\r", " ") for h in HOSTILE]
    hostile = render(cfg, [served(f"s{i}", label, ("boot=live", params[i])) for i, label in enumerate(HOSTILE)])
    assert len(plain.splitlines()) == len(hostile.splitlines())
    # Same commands in the same amounts (entries may sort differently: their labels differ).
    assert sorted(words(x)[:1] for x in plain.splitlines()) == sorted(words(x)[:1] for x in hostile.splitlines())
    entries = 0
    current = -1
    for line in hostile.splitlines():
        w = words(line)
        if w[:1] == ["menuentry"] and w[3].startswith("iso-s"):
            current = int(w[3].removeprefix("iso-s"))
            assert w[1] == BootEntry("x", HOSTILE[current], "k", (), ()).label  # the label, made printable
            assert w[2] == "--id" and w[-1] == "{" and len(w) == 6  # title --id id --hotkey=N {
            entries += 1
        if w[:1] == ["linux"]:
            assert w[1] == f"/isodrop/s{current}/live/vmlinuz"
            assert w[2:] == ["boot=live", *params[current].split(), "console=ttyS0,115200"], "the exact command line"
    assert entries == len(HOSTILE)


def test_menu_structure_serial_timeout_default(tmp_path: Path) -> None:
    text = render(config(tmp_path, menu_timeout=35), [served("b", "Bee"), served("a", "Aye", guessed=True)])
    lines = text.splitlines()
    assert lines[1:4] == ["serial --unit=0 --speed=115200", "terminal_input console serial", "terminal_output serial"]
    assert "set timeout=4" in lines  # 3.5 s rounded up: GRUB counts whole seconds
    assert "set default='0'" in lines  # "first": the first by position, then label
    assert grub_timeout_entry(parse_grub(text, lockdown=False)).id == "iso-a"
    titles = [words(line)[1] for line in lines if line.startswith("menuentry")]
    assert titles == ["Aye [guessed]", "Bee", "Boot from local disk"]
    assert "linux '/isodrop/b/live/vmlinuz' 'boot=live' 'console=ttyS0,115200'" in text
    assert "initrd '/isodrop/b/live/initrd.img'" in text
    assert "--hotkey=1" in text and "--hotkey=2" in text
    local = text[text.index("'Boot from local disk'") :]
    assert "exit" in local


def test_first_default_and_local(tmp_path: Path) -> None:
    entries = [served("b", "Bee"), served("a", "Aye")]
    first = parse_grub(render(config(tmp_path), entries), lockdown=False)
    assert first.default == "0" and grub_timeout_entry(first).id == "iso-a"
    local = parse_grub(render(config(tmp_path, menu_default="local"), entries), lockdown=False)
    assert local.default == "2" and grub_timeout_entry(local).id == "local"
    assert "set timeout=-1" in render(config(tmp_path, menu_timeout=0), entries)


def test_grouped_menu_has_submenus_and_default_path(tmp_path: Path) -> None:
    cfg = config(tmp_path, menu_group_threshold=1)
    entries = [served("a", "Aye", family="casper"), served("b", "Bee", family="debian-live")]
    text = render(cfg, entries)
    assert "submenu 'casper' --id 'group-1'" in text and "submenu 'debian-live' --id 'group-2'" in text
    assert "set default='0>0'" in text
    assert grub_timeout_entry(parse_grub(text, lockdown=True)).id == "iso-a"


def test_a_submenu_with_nothing_for_uefi_is_left_out_and_the_default_path_follows(tmp_path: Path) -> None:
    cfg = config(tmp_path, menu_group_threshold=1, menu_default="b.iso")
    bios_only = served("a", "Aye", family="casper")
    bios_only = dataclasses.replace(bios_only, entry=dataclasses.replace(bios_only.entry, firmware=("bios",)))
    text = render(cfg, [bios_only, served("b", "Bee", family="debian-live")])
    assert "casper" not in text and "'Aye'" not in text
    assert "submenu 'debian-live' --id 'group-1' --hotkey=1 {" in text and "set default='0>0'" in text


def test_serial_off_means_no_terminal_lines(tmp_path: Path) -> None:
    text = render(config(tmp_path, serial_console=""), [served("a", "Aye")])
    assert "terminal_" not in text and "serial" not in text


def test_entry_shim_refuses_only_says_why_when_locked_down(tmp_path: Path) -> None:
    """Secure Boot off: the entry boots, marked; on: an entry of the same place and id that prints the
    label, the reason and what to do, and waits for Escape (never silently left out)."""
    bad = served("u", "Unsigned", secure_boot=Verdict(False, "", "unsigned kernel"))
    good = served("s", "Signed", secure_boot=Verdict(True, "Debian", "boots"))
    text = render(config(tmp_path), [bad, good])
    off, on = parse_grub(text, lockdown=False), parse_grub(text, lockdown=True)
    assert [(i.title, i.id) for i in off.items] == [
        ("Signed", "iso-s"),
        ("Unsigned (no Secure Boot)", "iso-u"),
        ("Boot from local disk", "local"),
    ]
    assert [(i.title, i.id) for i in on.items] == [
        ("Signed", "iso-s"),
        ("Unsigned (needs Secure Boot off)", "iso-u"),
        ("Boot from local disk", "local"),
    ]
    assert grub_boot(off.items[1]).kernel == "/isodrop/u/live/vmlinuz"
    assert grub_notice(on.items[1]) == [
        "Unsigned: it cannot boot with Secure Boot on: unsigned kernel.",
        "",
        "Switch Secure Boot off in this PC's firmware settings to boot it.",
        "",
        "Press Escape to return to the menu.",
    ]
    assert grub_boot(on.items[0]) == grub_boot(off.items[0])
    assert not any(w[0] in ("linux", "initrd", "if") for w in on.items[1].body), "an unsigned kernel is not tried"
    assert "--hotkey=2" in next(line for line in text.splitlines() if "(needs Secure Boot off)" in line)


def test_an_untrusted_signer_gets_the_mok_way_in_its_notice(tmp_path: Path) -> None:
    reason = "signed by Canonical Ltd. Secure Boot Signing, which this shim does not trust (it trusts Debian CA)"
    verdict = Verdict(False, "Canonical Ltd. Secure Boot Signing", reason)
    text = render(config(tmp_path), [served("u", "Ubuntu 24.04", secure_boot=verdict)])
    locked = parse_grub(text, lockdown=True).items[0]
    notice = grub_notice(locked)
    assert all(len(line) <= 76 for line in notice)
    # a PC that enrolled the signer's CA as a MOK boots it: the kernel is tried first, the notice on failure
    assert grub_boot(locked) == grub_boot(parse_grub(text, lockdown=False).items[0])
    lines = [line.strip() for line in text.splitlines()]
    tried = lines.index("if linux '/isodrop/u/live/vmlinuz' 'boot=live' 'console=ttyS0,115200'; then")
    assert lines[tried + 1 : tried + 3] == ["initrd '/isodrop/u/live/initrd.img'", "else"]
    said = " ".join(" ".join(notice).split())
    assert said.startswith(f"Ubuntu 24.04: its kernel is {reason}.")
    assert "or enrol the CA of Canonical Ltd. Secure Boot Signing as a MOK (mokutil --import" in said
    assert "/usr/share/doc/isodrop/booting.md" in said


def test_a_refused_default_is_local_boot_with_secure_boot_on(tmp_path: Path) -> None:
    bad = served("u", "Unsigned", secure_boot=Verdict(False, "", "unsigned kernel"))
    good = served("s", "Signed", secure_boot=Verdict(True, "Debian", "boots"))
    text = render(config(tmp_path, menu_default="u.iso"), [bad, good])
    assert grub_timeout_entry(parse_grub(text, lockdown=False)).id == "iso-u"
    assert grub_timeout_entry(parse_grub(text, lockdown=True)).id == "local"


def test_http_entries_fall_back_to_tftp(tmp_path: Path) -> None:
    cfg = config(tmp_path, http_url="http://10.0.0.1:8080/isodrop/")
    entry = served("a", "Aye", http_url="http://10.0.0.1:8080/isodrop/a/")
    text = render(cfg, [entry])
    assert "if insmod http; then set isodrop_http=y; fi" in text
    assert "linux '(http,10.0.0.1:8080)/isodrop/a/live/vmlinuz'" in text
    assert "initrd '(http,10.0.0.1:8080)/isodrop/a/live/initrd.img'" in text
    assert "linux '/isodrop/a/live/vmlinuz'" in text  # the TFTP branch
    # Per file, a failed HTTP fetch falls back to TFTP (as iPXE's script does).
    lines = [line.strip() for line in text.splitlines()]
    kernel = lines.index(
        "if linux '(http,10.0.0.1:8080)/isodrop/a/live/vmlinuz' 'boot=live' 'console=ttyS0,115200'; "
        "then set isodrop_kernel=http; else"
    )
    assert lines[kernel + 1 : kernel + 4] == [
        "echo 'HTTP failed: loading the kernel over TFTP ...'",
        "linux '/isodrop/a/live/vmlinuz' 'boot=live' 'console=ttyS0,115200'",
        "fi",
    ]
    initrd = lines.index(
        "if initrd '(http,10.0.0.1:8080)/isodrop/a/live/initrd.img'; then set isodrop_initrd=http; else"
    )
    assert lines[initrd + 1 : initrd + 4] == [
        "echo 'HTTP failed: loading the initrd over TFTP ...'",
        "initrd '/isodrop/a/live/initrd.img'",
        "fi",
    ]
    files = GrubLoader().files(cfg)
    assert files[PurePosixPath("grub/x86_64-efi/http.mod")] == Path("/usr/lib/grub/x86_64-efi/http.mod")
    assert PurePosixPath("grub/x86_64-efi/http.mod") not in GrubLoader().files(config(tmp_path))


def test_helpers() -> None:
    assert grub_timeout(100) == 10 and grub_timeout(1) == 1 and grub_timeout(0) == -1
    assert grub_serial("1 9600") == "--unit=1 --speed=9600" and grub_serial("") == ""
    assert grub_path("http://h/x") == "(http,h)/x" and grub_path("https://h/x") == "" and grub_path("") == ""


def test_loader_files_and_boot_file(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    loader = GrubLoader()
    files = loader.files(cfg)
    # the boot file dnsmasq hands UEFI PCs is shim
    assert PurePosixPath("efi64/bootx64.efi") == UEFI_BOOT_FILE
    assert files[UEFI_BOOT_FILE] == Path("/usr/lib/shim/shimx64.efi.signed")
    assert files[PurePosixPath("efi64/grubx64.efi")] == Path("/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed")


def test_hostile_signer_name_in_the_verdict_stays_in_its_comment(tmp_path: Path) -> None:
    """The reason names the signer, read from a certificate in the ISO's kernel: untrusted too."""
    evil = Verdict(False, "x", "signed by x\nmenuentry 'evil' { reboot }\n, which this shim does not trust")
    text = render(config(tmp_path), [served("u", "Unsigned", secure_boot=evil)])
    plain = render(config(tmp_path), [served("u", "Unsigned", secure_boot=Verdict(False, "", "unsigned kernel"))])
    assert sum(line.startswith("menuentry") for line in text.splitlines()) == 3  # the entry, its notice, local
    assert sum(line.startswith("menuentry") for line in plain.splitlines()) == 3
    on = parse_grub(text, lockdown=True)
    assert [i.id for i in on.items] == ["iso-u", "local"]
    said = " ".join(" ".join(grub_notice(on.items[0])).split())
    assert "signed by x menuentry 'evil' { reboot } , which this shim does not trust" in said


FEDORA = Verdict(
    False, "Fedora Secure Boot Signer", "signed by Fedora Secure Boot Signer, which this shim does not trust"
)
CHAIN = VendorChain("Fedora", "EFI/BOOT/BOOTX64.EFI", "EFI/BOOT/grubx64.efi", "", ("", "EFI/BOOT"), True, "has tftp")


def test_an_entry_with_its_own_chain_asks_for_the_hand_over_and_restarts_with_secure_boot_on(tmp_path: Path) -> None:
    menu = build_menu([served("f", "Fedora 40", secure_boot=FEDORA, vendor_chain=CHAIN)], config(tmp_path))
    text = GrubLoader().render(menu)[MENU]
    locked, free = parse_grub(text, lockdown=True).items[0], parse_grub(text, lockdown=False).items[0]
    assert locked.title == "Fedora 40 (restarts into Fedora's chain)"
    body = [line for line in locked.body if line[0] != "echo"]
    assert body == [
        ["if", "cat", "/efi64/handover/f/$net_default_mac", ";", "then", "true", ";", "fi"],
        ["sleep", "5"],
        ["reboot"],
    ]
    said = " ".join(" ".join(line[1] for line in locked.body if line[0] == "echo" and len(line) > 1).split())
    assert said.startswith("Fedora 40: its kernel is signed by Fedora Secure Boot Signer, which this shim does not")
    assert "restarts and boots it through Fedora's own shim and GRUB" in said
    # Secure Boot off: the entry boots as any other; the timeout never picks it with Secure Boot on
    assert grub_boot(free).kernel == "/isodrop/f/live/vmlinuz"
    chosen = dataclasses.replace(menu, default="iso-f")
    assert grub_timeout_entry(parse_grub(GrubLoader().render(chosen)[MENU], lockdown=True)).id == "local"


def test_a_refused_entry_without_a_usable_chain_still_says_why(tmp_path: Path) -> None:
    unusable = dataclasses.replace(CHAIN, usable=False, reason="its GRUB cannot read from the network")
    text = render(config(tmp_path), [served("f", "Fedora 40", secure_boot=FEDORA, vendor_chain=unusable)])
    assert "handover" not in text
    assert parse_grub(text, lockdown=True).items[0].title == "Fedora 40 (needs Secure Boot off)"


@pytest.mark.parametrize("label", HOSTILE)
def test_the_per_pc_menu_boots_the_entry_then_explains_the_way_back(tmp_path: Path, label: str) -> None:
    cfg = config(tmp_path)
    item = build_menu([served("f", label, params=("root=live:nfs", "rd.live.image"), secure_boot=FEDORA)], cfg).items[0]
    text = GrubLoader().handover_menu(item, "Fedora", "0 115200", 10)
    menu = parse_grub(text, lockdown=True)
    assert [entry.id for entry in menu.items] == ["iso-f", "back"]
    assert grub_timeout_entry(menu).id == "iso-f"
    boot = grub_boot(menu.items[0])
    assert (boot.kernel, boot.initrds) == ("/isodrop/f/live/vmlinuz", ("/isodrop/f/live/initrd.img",))
    assert boot.params == ("root=live:nfs", "rd.live.image", "console=ttyS0,115200")
    assert "set timeout=3" in text and "serial --unit=0 --speed=115200" in text
    back = " ".join(" ".join(w[1] for w in menu.items[1].body if w[0] == "echo" and len(w) > 1).split())
    assert "through Fedora's own shim and GRUB" in back and "for 10 minutes" in back
    assert "Restart the PC after that to get isodrop's menu again." in back


@pytest.mark.parametrize("vendor", [*HOSTILE, "x" * 20000])
def test_a_hostile_vendor_name_stays_inside_its_title_and_notice(tmp_path: Path, vendor: str) -> None:
    chain = dataclasses.replace(CHAIN, vendor=vendor)
    others = [served("a", "Aye"), served("f", "Fedora 40", secure_boot=FEDORA, vendor_chain=chain)]
    text = render(config(tmp_path), others)
    locked = parse_grub(text, lockdown=True)
    assert [item.id for item in locked.items] == ["iso-a", "iso-f", "local"]
    title = locked.items[1].title
    assert title.startswith("Fedora 40 (restarts into ") and title.endswith("'s chain)")
    assert len(title) <= len("Fedora 40 (restarts into 's chain)") + 100  # the name is cut like a label
    assert [w[0] for w in locked.items[1].body if w[0] != "echo"] == ["if", "sleep", "reboot"]
