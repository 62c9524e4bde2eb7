"""Per-PC entries (isodrop.pins): the clients file, its errors by line, the editing commands, the per-PC
menus every loader reads (read back with the loaders' own rules, tests/harness/loader_parsers.py), one-shots used
up from dnsmasq's TFTP log, and a running service picking it all up without a reload."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import re
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from isodrop import pins
from isodrop.cli import main
from isodrop.errors import IsodropError
from isodrop.loaders.grub import GrubLoader
from isodrop.loaders.ipxe import IpxeLoader
from isodrop.loaders.pxelinux import Pxelinux
from isodrop.loaders.syslinux_efi import SyslinuxEfi
from isodrop.pins import (
    HOSTNAME,
    MAC,
    NETWORK,
    Pin,
    PinBook,
    PinsError,
    Target,
    fetched_macs,
    parse,
    with_pin,
    without_pin,
)
from isodrop.render.menu import Menu, build_menu
from isodrop.render.publication import client_menus
from tests.harness.loader_parsers import (
    Boot,
    Nic,
    grub_boot,
    grub_dispatch,
    grub_timeout_entry,
    ipxe_boot,
    ipxe_dispatch,
    ipxe_timeout_target,
    parse_grub,
    parse_ipxe,
    parse_syslinux,
    pxelinux_config,
    syslinux_timeout_entry,
)
from tests.harness.menu_cases import BASE, drop_folders, entry_boot, expected_boot, same, served
from tests.harness.servicekit import ServiceRun, build_debian_live

MAC1, MAC2 = "52:54:00:aa:bb:01", "52:54:00:aa:bb:02"
PC1, PC2 = Target(MAC, MAC1), Target(MAC, MAC2)
GOOD = """\
# the lab

[pc."52:54:00:AA:BB:01"]   # teacher's PC
entry = "debian.iso"
timeout = 3
menu = ["debian.iso", "ubuntu.iso", "local"]

[pc."52-54-00-aa-bb-02"]
entry = "local"
once = true
"""


# --- the file ---------------------------------------------------------------------------------------


def test_a_clients_file_reads_as_pins_with_macs_in_one_spelling() -> None:
    first, second = parse(GOOD, "clients.toml")
    assert first == Pin(PC1, "debian.iso", 3, ("debian.iso", "ubuntu.iso"), False, line=3)
    assert second == Pin(PC2, "local", None, (), True, line=8)
    assert parse("", "clients.toml") == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[pc."52:54:00:aa:bb:01"]\nentry = "a.iso"\nentry = "b.iso"\n', "line 3"),  # tomllib's own line
        (
            '\n\n[pc."52:54:00:aa:bb"]\nentry = "a.iso"\n',
            "line 3: [pc.'52:54:00:aa:bb']: '52:54:00:aa:bb' is not a MAC",
        ),
        (
            '[pc."52:54:00:aa:bb:01"]\nentry = "a.iso"\ncolour = 1\n',
            "line 3: pc.'52:54:00:aa:bb:01': unknown key 'colour'",
        ),
        (
            '[pc."52:54:00:aa:bb:01"]\nentry = "a.iso"\n\ntimeout = -1\n',
            "line 4: pc.'52:54:00:aa:bb:01': 'timeout' must be",
        ),
        (
            '[pc."52:54:00:aa:bb:01"]\n# x\nentry = "first"\n',
            "line 3: pc.'52:54:00:aa:bb:01': 'entry' \"first\" is for",
        ),
        (
            '[pc."52:54:00:aa:bb:01"]\nentry = "../etc/x.iso"\n',
            "line 2: pc.'52:54:00:aa:bb:01': 'entry' must be a file name",
        ),
        ('[pc."52:54:00:aa:bb:01"]\ntimeout = 3\n', "line 1: pc.'52:54:00:aa:bb:01': 'entry' is missing"),
        (
            '[pc."52:54:00:aa:bb:01"]\nentry = "a.iso"\nmenu = ["b.iso"]\n',
            "line 3: pc.'52:54:00:aa:bb:01': 'menu' must include",
        ),
        (
            '[pc."52:54:00:aa:bb:01"]\nentry = "a.iso"\nonce = "yes"\n',
            "line 3: pc.'52:54:00:aa:bb:01': 'once' must be true",
        ),
        (
            '[pc."52:54:00:aa:bb:01"]\nentry = "a"\n[pc."52-54-00-AA-BB-01"]\nentry = "b"\n',
            "line 3: 52:54:00:aa:bb:01 is pinned twice (also on line 1)",
        ),
        ('entry = "a.iso"\n', "line 1: unknown key 'entry'"),
    ],
)
def test_every_error_names_the_line(text: str, message: str) -> None:
    with pytest.raises(PinsError) as caught:
        parse(text, "clients.toml")
    assert str(caught.value).startswith("clients.toml: "), caught.value
    assert message in str(caught.value), caught.value
    assert isinstance(caught.value, IsodropError) and caught.value.reason == str(caught.value)


def test_setting_a_pin_keeps_the_other_tables_and_comments() -> None:
    changed = with_pin(GOOD, Pin(PC1, "ubuntu.iso", once=True), "c")
    assert changed.startswith("# the lab\n\n")
    assert '[pc."52:54:00:aa:bb:01"]\nentry = "ubuntu.iso"\nonce = true\n\n[pc."52-54-00-aa-bb-02"]' in changed
    assert dataclasses.replace(parse(changed, "c")[1], line=8) == parse(GOOD, "c")[1]
    added = with_pin(GOOD, Pin(Target(MAC, "52:54:00:aa:bb:03"), 'odd "name".iso', 0), "c")
    assert added.startswith(GOOD) and parse(added, "c")[2] == Pin(
        Target(MAC, "52:54:00:aa:bb:03"), 'odd "name".iso', 0, line=12
    )


def test_removing_a_pin_removes_only_its_table() -> None:
    text, removed = without_pin(GOOD, PC1, "c")
    assert removed is not None and removed.entry == "debian.iso"
    assert text == '# the lab\n\n[pc."52-54-00-aa-bb-02"]\nentry = "local"\nonce = true\n'
    assert without_pin(text, PC1, "c") == (text, None)
    assert without_pin(text, PC2, "c")[0] == "# the lab\n\n"


def test_a_layout_the_editor_cannot_follow_is_refused_not_mangled() -> None:
    inline = 'pc = { "52:54:00:aa:bb:01" = { entry = "a.iso" }, "52:54:00:aa:bb:02" = { entry = "b.iso" } }\n'
    assert [p.entry for p in parse(inline, "c")] == ["a.iso", "b.iso"]
    with pytest.raises(PinsError, match="cannot edit this file safely"):
        with_pin(inline, Pin(PC1, "c.iso"), "c")
    with pytest.raises(PinsError, match="cannot edit this file safely"):
        without_pin(inline, PC2, "c")


# --- the commands -----------------------------------------------------------------------------------


def test_pin_unpin_and_pins_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clients = tmp_path / "clients.toml"
    clients.write_text("# mine\n")
    clients.chmod(0o640)
    root = ["--root", str(tmp_path)]
    assert main(["pin", "52-54-00-AA-BB-01", "debian.iso", "--once", "--timeout", "5", *root]) == 0
    assert "warning: debian.iso is not in" in capsys.readouterr().out
    assert main(["pin", MAC2, "local", "--menu", "a.iso", *root]) == 0
    assert clients.read_text().startswith("# mine\n") and clients.stat().st_mode & 0o777 == 0o640
    assert parse(clients.read_text(), "c") == (
        Pin(PC1, "debian.iso", 5, (), True, line=3),
        Pin(PC2, "local", None, ("a.iso",), False, line=8),
    )
    capsys.readouterr()
    assert main(["pins", "--json", *root]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(p["mac"], p["entry"], p["once"], p["line"]) for p in listed["clients"]] == [
        (MAC1, "debian.iso", True, 3),
        (MAC2, "local", False, 8),
    ]
    assert main(["unpin", MAC1, *root]) == 0
    assert main(["unpin", MAC1, *root]) == 1
    assert [p.target.value for p in pins.load(clients)] == [MAC2]
    assert main(["pin", "not-a-mac", "x.iso", *root]) == 2
    assert main(["pin", MAC1, "../x.iso", *root]) == 2
    assert "must be a file name relative to the drop folder" in capsys.readouterr().err
    clients.write_text('[pc."52:54:00:aa:bb:01"]\nentry = 3\n')
    assert main(["pins", *root]) == 1
    assert "line 2: pc.'52:54:00:aa:bb:01': 'entry' must be" in capsys.readouterr().out


# --- the per-PC menus, read back with each loader's rules -------------------------------------------

VIEWS = ("pxelinux", "syslinux-efi", "grub", "grub-lockdown", "ipxe-bios", "ipxe-efi")
SHARED = {
    "pxelinux": "pxelinux.cfg/default",
    "syslinux-efi": "efi64/pxelinux.cfg/default",
    "grub": "grub/grub.cfg",
    "ipxe-bios": "ipxe/menu-pcbios.ipxe",
    "ipxe-efi": "ipxe/menu-efi.ipxe",
}


def rendered(menu: Menu, own: dict[Target, Menu]) -> dict[str, str]:
    """Every file the loaders write for the shared menu (branching to `own`) and each pin's menu, as the
    publication orders them (the most specific pin's file where two pins share one)."""
    loaders = (Pxelinux(), SyslinuxEfi(), GrubLoader(), IpxeLoader())
    shared = dataclasses.replace(menu, clients=tuple(sorted(own, key=Target.precedence)))
    files = {str(path): text for loader in loaders for path, text in loader.render(shared).items()}
    for key in sorted(own, key=Target.precedence, reverse=True):  # the most specific written last
        for loader in loaders:
            files |= {str(path): text for path, text in loader.client_files(own[key], key).items()}
    return files


def grub_branch(text: str, mac: str) -> str | None:
    """The file GRUB's shared menu hands the PC with `mac` to, else None."""
    return grub_dispatch(text, Nic(mac))


def boots_for(files: dict[str, str], pc: str | Nic) -> dict[str, Boot | None]:
    """What each loader boots at the timeout on the PC `pc` (a MAC, or all a loader knows of it),
    following its own per-PC lookup: pxelinux's config file search; GRUB's and iPXE's branches in the
    shared menu."""
    nic = pc if isinstance(pc, Nic) else Nic(pc)
    out: dict[str, Boot | None] = {}
    for view, folder in (("pxelinux", "pxelinux.cfg"), ("syslinux-efi", "efi64/pxelinux.cfg")):
        out[view] = syslinux_timeout_entry(parse_syslinux(files[pxelinux_config(files, folder, nic)]))
    grub = files[SHARED["grub"]]
    branch = grub_dispatch(grub, nic)
    for view, lockdown in (("grub", False), ("grub-lockdown", True)):
        out[view] = grub_boot(grub_timeout_entry(parse_grub(files[branch] if branch else grub, lockdown=lockdown)))
    for view in ("ipxe-bios", "ipxe-efi"):
        branch = ipxe_dispatch(files[SHARED[view]], SHARED[view], nic)
        script = parse_ipxe(files[branch] if branch else files[SHARED[view]])
        target = ipxe_timeout_target(script)
        out[view] = None if target is None else ipxe_boot(script, target)
    return out


@given(drop_folders(), st.data())
def test_a_pinned_pc_boots_its_entry_in_every_loader_and_others_the_normal_default(case, data) -> None:  # type: ignore[no-untyped-def]
    config, entries = case
    target = data.draw(st.sampled_from([*entries, None]))
    pin = Pin(PC1, target.source if target else "local", timeout=data.draw(st.sampled_from([None, 2])))
    own, warnings = client_menus(entries, config, [pin])
    files = rendered(build_menu(entries, config), own)
    normal = next((s for s in entries if s.source == config.menu_default), None)
    if config.menu_default == "first":
        normal = build_menu(entries, config).default
        normal = next((s for s in entries if f"iso-{s.slug}" == normal), None)
    pinned_boots, other_boots = boots_for(files, MAC1), boots_for(files, MAC2)
    for view in VIEWS:
        assert same(pinned_boots[view], expected_boot(target, view, config)), (view, pinned_boots[view], target)
        assert same(other_boots[view], expected_boot(normal, view, config)), (view, other_boots[view], normal)
    assert not warnings


def test_a_pcs_own_menu_has_its_timeout_and_only_its_entries() -> None:
    entries = [served("a.iso", "Alpha"), served("b.iso", "Beta"), served("c.iso", "Gamma")]
    own, _ = client_menus(entries, BASE, [Pin(PC1, "b.iso", timeout=2, menu=("b.iso", "c.iso"))])
    files = rendered(build_menu(entries, BASE), own)
    pxe = parse_syslinux(files["pxelinux.cfg/01-52-54-00-aa-bb-01"])
    assert pxe.order == ["iso-b", "iso-c", "local"] and "TIMEOUT 20" in files["pxelinux.cfg/01-52-54-00-aa-bb-01"]
    assert same(syslinux_timeout_entry(pxe), entry_boot(entries[1], "pxelinux", BASE))
    assert "set timeout=2\n" in files["grub/clients/01-52-54-00-aa-bb-01.cfg"]
    assert "choose --timeout 2000 --default entry-iso-b" in files["ipxe/clients/01-52-54-00-aa-bb-01-pcbios.ipxe"]
    assert grub_branch(files["grub/grub.cfg"], MAC1) == "grub/clients/01-52-54-00-aa-bb-01.cfg"
    assert files["ipxe/menu-efi.ipxe"].startswith("#!ipxe\n")
    assert (
        "iseq ${mac} 52:54:00:aa:bb:01 && chain --autofree clients/01-52-54-00-aa-bb-01-efi.ipxe ||"
        in files["ipxe/menu-efi.ipxe"]
    )


def test_a_pin_whose_iso_is_gone_gets_the_normal_menu_and_a_warning() -> None:
    entries = [served("a.iso", "Alpha")]
    own, warnings = client_menus(entries, BASE, [Pin(PC1, "gone.iso"), Pin(PC2, "local")])
    assert list(own) == [PC2] and "gone.iso is not served" in warnings[MAC1]
    files = rendered(build_menu(entries, BASE), own)
    assert grub_branch(files["grub/grub.cfg"], MAC1) is None and "pxelinux.cfg/01-52-54-00-aa-bb-01" not in files


def test_a_chaining_ipxe_script_leaves_per_pc_menus_to_the_loader_it_chains() -> None:
    chaining = IpxeLoader(bios_chain="/pxelinux.0")
    menu = dataclasses.replace(build_menu([served("a.iso", "A")], BASE), clients=(PC1,))
    assert "iseq" not in chaining.render(menu)[PurePosixPath("ipxe/menu-pcbios.ipxe")]
    assert list(chaining.client_files(menu, PC1)) == [PurePosixPath("ipxe/clients/01-52-54-00-aa-bb-01-efi.ipxe")]


# --- publishing and one-shots -----------------------------------------------------------------------


def test_only_sent_per_pc_menus_count_as_fetched() -> None:
    lines = [
        "dnsmasq-tftp[5]: sent /srv/tftp/pxelinux.cfg/01-52-54-00-aa-bb-01 to 10.0.0.5",
        "dnsmasq-tftp[5]: file /srv/tftp/pxelinux.cfg/01-52-54-00-aa-bb-02 not found for 10.0.0.6",
        "dnsmasq-tftp[5]: sent /srv/tftp/grub/clients/01-52-54-00-aa-bb-03.cfg to 10.0.0.7",
        "Dec  2 03:40:01 dnsmasq-tftp[5]: sent /srv/tftp/ipxe/clients/01-52-54-00-aa-bb-04-efi.ipxe to 10.0.0.8",
        "dnsmasq-tftp[5]: sent /srv/tftp/pxelinux.cfg/default to 10.0.0.9",
        "dnsmasq-tftp[5]: sent /srv/tftp/isodrop/x/pxelinux.cfg/01-52-54-00-aa-bb-05.iso to 10.0.0.9",
    ]
    assert fetched_macs(lines) == {MAC1, "52:54:00:aa:bb:03", "52:54:00:aa:bb:04"}


def test_a_one_shot_is_used_up_by_the_fetch_of_its_own_menu_after_it_was_published(tmp_path: Path) -> None:
    clients, log_file = tmp_path / "clients.toml", tmp_path / "dnsmasq.log"
    clients.write_text('# keep me\n[pc."52:54:00:aa:bb:01"]\nentry = "a.iso"\nonce = true\n')
    log_file.write_text("dnsmasq-tftp[5]: sent /t/pxelinux.cfg/01-52-54-00-aa-bb-01 to 10.0.0.5\n")  # before: not it
    book = PinBook(clients, log_file)
    book.refresh()
    assert book.consume() == [] and [p.target.value for p in book.pins] == [MAC1]
    with log_file.open("a") as handle:  # a fetch while its menu was not published yet does not count
        handle.write("dnsmasq-tftp[5]: sent /t/pxelinux.cfg/01-52-54-00-aa-bb-01 to 10.0.0.5\n")
    assert book.consume() == []
    book.published_once = {MAC1}
    with log_file.open("a") as handle:
        handle.write("dnsmasq-tftp[5]: sent /t/pxelinux.cfg/01-52-54-00-aa-bb-01 to 10.0.0.5\ndnsmasq-tftp[5]: se")
    assert [p.target.value for p in book.consume()] == [MAC1]
    assert clients.read_text() == "# keep me\n" and book.pins == ()
    book.refresh()
    assert book.pins == () and book.status()["clients"] == []


def test_a_broken_edit_keeps_the_pins_read_before(tmp_path: Path) -> None:
    clients = tmp_path / "clients.toml"
    clients.write_text('[pc."52:54:00:aa:bb:01"]\nentry = "a.iso"\n')
    book = PinBook(clients, None)
    book.refresh()
    clients.write_text('[pc."52:54:00:aa:bb:01"]\nentry = "a.iso"\ntimeout = "soon"\n')
    book.refresh()
    assert [p.entry for p in book.pins] == ["a.iso"] and "line 3" in book.error
    assert book.status()["error"] == book.error


# --- the running service ----------------------------------------------------------------------------


def test_the_service_serves_pins_without_a_reload_and_uses_up_a_one_shot(tmp_path: Path) -> None:
    log_file = tmp_path / "dnsmasq.log"
    log_file.write_text("")
    run = ServiceRun(tmp_path / "srv", clients_file=str(tmp_path / "clients.toml"), dnsmasq_log=str(log_file))
    build_debian_live(run.drop / "one.iso")
    run.start()
    try:
        run.wait_for(lambda: "LABEL iso-one\n" in run.menu(), 60, "the ISO in the menu")
        own = run.tftp / "pxelinux.cfg/01-52-54-00-aa-bb-01"
        assert run.command("pin", MAC1, "one.iso", "--once").returncode == 0
        run.wait_for(own.exists, 10, "the PC's own menu, no reload")
        assert "DEFAULT iso-one\n" in own.read_text() and "DEFAULT local\n" in run.menu()
        grub = run.tftp / "grub/grub.cfg"
        run.wait_for(lambda: "$net_default_mac" in grub.read_text(), 10, "GRUB's branch")
        assert run.command("pin", MAC2, "gone.iso").returncode == 0
        run.wait_for(lambda: len((run.status()["pins"] or {}).get("clients", [])) == 2, 10, "both pins in status")
        warned = {p["mac"]: p["warning"] for p in run.status()["pins"]["clients"]}
        assert "gone.iso is not served" in warned[MAC2] and warned[MAC1] == ""
        assert "warning: gone.iso is not served" in run.command("status").stdout
        with log_file.open("a") as handle:
            handle.write(f"dnsmasq-tftp[9]: sent {own} to 10.0.0.5\n")
        run.wait_for(lambda: not own.exists(), 10, "the one-shot used up")
        assert [p.target.value for p in pins.load(tmp_path / "clients.toml")] == [MAC2]
        assert "fetched its one-shot menu" in run.log_text()
        assert "$net_default_mac" not in grub.read_text()
    finally:
        run.stop()


def test_the_example_clients_file_reads_when_uncommented() -> None:
    example = (Path(__file__).resolve().parents[2] / "contrib" / "clients.toml").read_text()
    assert parse(example, "example") == ()  # shipped all commented out: pins nothing
    uncommented = re.sub(r"^# (\[|entry|timeout|menu|once)", r"\1", example, flags=re.M)
    assert [(p.target.value, p.once) for p in parse(uncommented, "example")] == [
        ("52:54:00:12:34:01", False),
        ("52:54:00:12:34:02", False),
        ("52:54:00:12:34:03", True),
        ("192.168.10.0/24", False),
        ("lab-teacher", False),
    ]


def test_check_reports_the_clients_file(tmp_path: Path) -> None:
    clients = tmp_path / "clients.toml"
    assert pins.check_report(clients, None) == [("ok", f"clients_file {clients}: 0 pins")]
    clients.write_text('[pc."52:54:00:aa:bb:01"]\nentry = "a.iso"\nonce = true\n')
    assert pins.check_report(clients, None)[1] == (
        "WARN",
        "one-shot pins without dnsmasq_log: they stay until `isodrop unpin`",
    )
    clients.write_text('[pc."52:54:00:aa:bb:01"]\n')
    assert pins.check_report(clients, tmp_path / "log")[0][0] == "FAIL"


# --- pins by IP network and DHCP host name ----------------------------------------------------------

BY_GROUP = """\
[network."10.0.0.0/16"]
entry = "c.iso"

[hostname."lab-1"]
entry = "b.iso"
timeout = 2

[network."10.0.5.0/24"]
entry = "d.iso"

[pc."52:54:00:aa:bb:01"]
entry = "a.iso"
"""


def test_network_and_host_name_tables_read_as_pins_in_precedence_order() -> None:
    read = parse(BY_GROUP, "clients.toml")
    assert [(p.target.kind, p.target.value, p.line) for p in sorted(read, key=lambda p: p.target.precedence())] == [
        (MAC, MAC1, 11),
        (HOSTNAME, "lab-1", 4),
        (NETWORK, "10.0.5.0/24", 8),
        (NETWORK, "10.0.0.0/16", 1),
    ]
    assert parse('[network."10.0.0.5"]\nentry = "a.iso"\n', "c")[0].target == Target(NETWORK, "10.0.0.5/32")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '\n[network."10.0.5.1/24"]\nentry = "a.iso"\n',
            "line 2: [network.'10.0.5.1/24']: '10.0.5.1/24' is not an IPv4",
        ),
        ('[network."10.0.0.0/33"]\nentry = "a.iso"\n', "line 1: [network.'10.0.0.0/33']"),
        ('[network."lab"]\nentry = "a.iso"\n', "line 1: [network.'lab']: 'lab' is not an IPv4 network"),
        ('[hostname."lab pc"]\nentry = "a.iso"\n', "line 1: [hostname.'lab pc']: 'lab pc' is not a host name"),
        ('[hostname."-lab"]\nentry = "a.iso"\n', "is not a host name"),
        ('[hostname."${mac}"]\nentry = "a.iso"\n', "is not a host name"),
        (
            '[network."10.0.0.0/8"]\nentry = "a.iso"\nonce = true\n',
            "line 3: network.'10.0.0.0/8': 'once' is for one PC",
        ),
        (
            '[network."10.0.0.5"]\nentry = "a"\n[network."10.0.0.5/32"]\nentry = "b"\n',
            "line 3: 10.0.0.5/32 is pinned twice (also on line 1)",
        ),
        ('[hostname.lab]\nentry = "a.iso"\n[hostname.lab2]\n', "line 3: hostname.'lab2': 'entry' is missing"),
        ('[printer."x"]\nentry = "a.iso"\n', "line 1: unknown key 'printer'"),
    ],
)
def test_network_and_host_name_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(PinsError) as caught:
        parse(text, "clients.toml")
    assert message in str(caught.value), caught.value


def test_editing_network_and_host_name_pins_keeps_the_others() -> None:
    changed = with_pin(BY_GROUP, Pin(Target(NETWORK, "10.0.5.0/24"), "e.iso"), "c")
    assert changed.replace('"e.iso"', '"d.iso"') == BY_GROUP
    text, removed = without_pin(BY_GROUP, Target(HOSTNAME, "lab-1"), "c")
    assert removed is not None and removed.timeout == 2
    assert "lab-1" not in text and len(parse(text, "c")) == 3
    added = with_pin("", Pin(Target(HOSTNAME, "lab-2"), "local"), "c")
    assert added == '[hostname."lab-2"]\nentry = "local"\n'


def test_pin_commands_take_a_network_or_a_host_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = ["--root", str(tmp_path)]
    assert main(["pin", "10.0.5.0/24", "a.iso", *root]) == 0
    assert main(["pin", "--hostname", "lab-1", "b.iso", *root]) == 0
    out = capsys.readouterr()
    assert "host name lab-1 pinned: b.iso" in out.out
    assert "pxelinux cannot tell PCs apart by host name" in out.err  # bios_loader = "pxelinux"
    assert [p.target for p in pins.load(tmp_path / "clients.toml")] == [
        Target(NETWORK, "10.0.5.0/24"),
        Target(HOSTNAME, "lab-1"),
    ]
    assert main(["pin", "10.0.5.0/24", "a.iso", "--once", *root]) == 2
    assert "--once is for one PC" in capsys.readouterr().err
    assert main(["pin", "lab-1", "a.iso", *root]) == 2
    assert "a host name needs --hostname" in capsys.readouterr().err
    assert main(["pin", "10.0.5.7/24", "a.iso", *root]) == 2
    assert "has host bits set" in capsys.readouterr().err
    assert main(["pins", "--json", *root]) == 0
    listed = json.loads(capsys.readouterr().out)["clients"]
    assert [(p["kind"], p["target"], p["mac"]) for p in listed] == [
        (NETWORK, "10.0.5.0/24", ""),
        (HOSTNAME, "lab-1", ""),
    ]
    assert listed[0]["limits"] == []  # pxelinux and GRUB both match networks
    assert listed[1]["limits"] and "syslinux" not in " ".join(listed[1]["limits"])
    assert main(["unpin", "--hostname", "lab-1", *root]) == 0
    assert main(["unpin", "10.0.5.0/24", *root]) == 0
    assert pins.load(tmp_path / "clients.toml") == ()


def test_check_warns_where_a_menu_loader_cannot_tell_the_pcs_apart(tmp_path: Path) -> None:
    clients = tmp_path / "clients.toml"
    clients.write_text(BY_GROUP)
    warnings = [f.message for f in pins.check_report(clients, None, ("pxelinux", "ipxe")) if f.level == "WARN"]
    assert warnings == [
        "clients_file line 1: ipxe cannot tell PCs apart by IP network: under ipxe the PCs in 10.0.0.0/16 get"
        " the normal menu",
        "clients_file line 4: pxelinux cannot tell PCs apart by host name: under pxelinux the PC named lab-1 gets"
        " the normal menu",
        "clients_file line 8: ipxe cannot tell PCs apart by IP network: under ipxe the PCs in 10.0.5.0/24 get"
        " the normal menu",
    ]
    assert [f for f in pins.check_report(clients, None, ("grub",)) if f.level == "WARN"] == []


def test_each_loader_boots_the_most_specific_pin_it_can_see() -> None:
    """MAC beats host name beats the smallest network; pxelinux and syslinux.efi never see the host
    name, iPXE never matches a network: there the next pin, or the normal menu, is what boots."""
    entries = [served(f"{name}.iso", name.upper()) for name in "abcde"]
    config = dataclasses.replace(BASE, menu_default="e.iso")
    own, warnings = client_menus(entries, config, parse(BY_GROUP, "c"))
    assert not warnings
    files = rendered(build_menu(entries, config), own)
    a, b, c, d, normal = entries
    syslinux, grub, ipxe = ("pxelinux", "syslinux-efi"), ("grub", "grub-lockdown"), ("ipxe-bios", "ipxe-efi")
    cases = [
        (Nic(MAC1, "10.0.5.9", "lab-1"), {a: syslinux + grub + ipxe}),
        (Nic(MAC2, "10.0.5.9", "lab-1"), {d: syslinux, b: grub + ipxe}),
        (Nic(MAC2, "10.0.5.9"), {d: syslinux + grub, normal: ipxe}),
        (Nic(MAC2, "10.0.7.9"), {c: syslinux + grub, normal: ipxe}),
        (Nic(MAC2, "10.1.5.9", "lab-2"), {normal: syslinux + grub + ipxe}),
        (Nic(MAC2, "", "lab-1"), {normal: syslinux, b: grub + ipxe}),
    ]
    for nic, wanted in cases:
        boots = boots_for(files, nic)
        for entry, views in wanted.items():
            for view in views:
                assert same(boots[view], expected_boot(entry, view, config)), (nic, view, boots[view], entry.source)


ADDRESSES = st.integers(0, 2**32 - 1).map(lambda n: str(ipaddress.IPv4Address(n)))


@given(ADDRESSES, st.integers(0, 32), st.lists(ADDRESSES, max_size=5), st.data())
def test_a_network_pin_matches_exactly_its_addresses_in_pxelinux_and_grub(  # type: ignore[no-untyped-def]
    base, prefix, others, data
) -> None:
    network = ipaddress.IPv4Network(f"{base}/{prefix}", strict=False)
    inside = str(network.network_address + data.draw(st.integers(0, network.num_addresses - 1)))
    menu = build_menu([served("a.iso", "A")], BASE)
    key = Target(NETWORK, str(network))
    files = {str(path): text for path, text in Pxelinux().render(menu).items()}
    files |= {str(path): "own" for path in Pxelinux().client_paths(PurePosixPath("pxelinux.cfg/default"), key)}
    grub = GrubLoader().render(dataclasses.replace(menu, clients=(key,)))[PurePosixPath("grub/grub.cfg")]
    for address in [inside, *others]:
        member = ipaddress.IPv4Address(address) in network
        found = pxelinux_config(files, "pxelinux.cfg", Nic(MAC2, address))
        assert (files[found] == "own") == member, (address, network, found)
        assert (grub_dispatch(grub, Nic(MAC2, address)) is not None) == member, (address, network)
