"""Hand-over to an ISO's own chain (isodrop/handover.py): requests read from real dnsmasq log lines, the
per-PC folders written in a real TFTP root (hard links into a real tree), kept, ended and left alone."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path

import pytest

from isodrop.cli import main
from isodrop.clients import DnsmasqParser
from isodrop.config import local_defaults
from isodrop.findings import OK, WARN
from isodrop.handover import (
    MARKER,
    REQUESTS_MAX,
    HandoverBook,
    desired,
    dnsmasq_findings,
    followed,
    offers,
    state_path,
    status_lines,
)
from isodrop.model import BootEntry, Outcome
from isodrop.pins import Pin, target
from isodrop.render.menu import Served, build_menu
from isodrop.rush import SystemFiles, dnsmasq_options
from isodrop.secureboot import Verdict
from isodrop.state import EntryState
from isodrop.trees import Trees
from isodrop.vendorchain import VendorChain
from tests.harness.signing import KIT_CHAIN

MAC = "52:54:00:12:34:56"
FOLDER = "52-54-00-12-34-56"
CHAIN = replace(KIT_CHAIN, vendor="Fedora Secure Boot CA", config_dirs=("", "EFI/BOOT"))
REFUSED = Verdict(
    False, "Fedora Secure Boot Signer", "signed by Fedora Secure Boot Signer, which this shim does not trust"
)


def config(tmp_path: Path, **changes: object):  # type: ignore[no-untyped-def]
    return dataclasses.replace(local_defaults(tmp_path), **changes)


def make_tree(cfg, slug: str = "fedora") -> Path:  # type: ignore[no-untyped-def]
    tree = cfg.trees_dir / slug
    for name, data in {
        "EFI/BOOT/BOOTX64.EFI": b"vendor shim",
        "EFI/BOOT/grubx64.efi": b"vendor grub",
        "EFI/BOOT/mmx64.efi": b"mok manager",
        "images/pxeboot/vmlinuz": b"kernel",
        "images/pxeboot/initrd.img": b"initrd",
    }.items():
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_bytes(data)
    return tree


def record(slug: str = "fedora", chain: VendorChain | None = CHAIN) -> EntryState:
    entry = BootEntry(
        family="dracut",
        label="Fedora 40",
        kernel="images/pxeboot/vmlinuz",
        initrds=("images/pxeboot/initrd.img",),
        params=("root=live:nfs", "rd.live.image"),
    )
    return EntryState(slug, f"{slug}.iso", 1, 1, Outcome.SERVED, entry=entry, secure_boot=REFUSED, vendor_chain=chain)


def offers_for(cfg, states: dict[str, EntryState]):  # type: ignore[no-untyped-def]
    served = [
        Served(slug, s.source, f"isodrop/{slug}", s.entry, secure_boot=s.secure_boot, vendor_chain=s.vendor_chain)
        for slug, s in states.items()
        if s.entry is not None
    ]
    menu = build_menu(served, cfg)
    return offers(menu.items, states, {slug: f"isodrop/{slug}" for slug in states})


def stamp(when: float) -> str:
    return time.strftime("%b %e %H:%M:%S", time.localtime(when))


def missing(cfg, relative: str, when: float) -> str:  # type: ignore[no-untyped-def]
    return f"{stamp(when)} dnsmasq-tftp[812]: file {cfg.tftp_root}/{relative} not found for 10.0.0.5\n"


def sent(cfg, relative: str, when: float) -> str:  # type: ignore[no-untyped-def]
    return f"{stamp(when)} dnsmasq-tftp[812]: sent {cfg.tftp_root}/{relative} to 10.0.0.5\n"


def events(lines: list[str], now: float) -> list:  # type: ignore[type-arg]
    parser = DnsmasqParser()
    return [event for line in lines if (event := parser.parse(line.rstrip("\n"), now)) is not None]


def test_only_requests_in_the_form_grub_sends_for_an_entry_with_a_usable_chain_count(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    states = {
        "fedora": record(),
        "plain": record("plain", chain=None),
        "broken": record("broken", dataclasses.replace(CHAIN, usable=False)),
    }
    now = time.time() // 1
    lines = [
        missing(cfg, f"efi64/handover/fedora/{MAC}", now - 5),
        missing(cfg, "efi64/handover/plain/52:54:00:00:00:01", now - 5),  # no chain
        missing(cfg, "efi64/handover/broken/52:54:00:00:00:02", now - 5),  # chain not usable
        missing(cfg, "efi64/handover/nosuch/52:54:00:00:00:03", now - 5),  # no such entry
        missing(cfg, "efi64/handover/fedora/52:54:00:00:00:0G", now - 5),  # not a MAC
        missing(cfg, "efi64/handover/fedora/52-54-00-00-00-04", now - 5),  # not GRUB's spelling
        missing(cfg, "efi64/handover/fedora/52:54:00:00:00:05/x", now - 5),  # one part too many
        missing(cfg, "efi64/handover/../handover/fedora/52:54:00:00:00:06", now - 5),
        missing(cfg, "efi64//handover/fedora/52:54:00:00:00:07", now - 5),
        missing(cfg, "x", now).replace(f"{cfg.tftp_root}/x", "/elsewhere/efi64/handover/fedora/52:54:00:00:00:08"),
        missing(cfg, "efi64/handover/fedora/52:54:00:00:00:09", now).replace("dnsmasq-tftp", "dnsmasq-dhcp"),
    ]
    got = followed({}, events(lines, now), offers_for(cfg, states), cfg.tftp_root, 10, now)
    assert list(got) == [MAC]
    assert (got[MAC].slug, got[MAC].since, got[MAC].expires) == ("fedora", now - 5, now - 5 + 600)


def test_a_request_ends_when_its_pc_fetched_the_last_initrd_from_its_folder_or_when_it_expires(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    available = offers_for(cfg, {"fedora": record()})
    now = time.time() // 1
    request = [missing(cfg, f"efi64/handover/fedora/{MAC}", now - 60)]
    kernel = [sent(cfg, f"{FOLDER}/isodrop/fedora/images/pxeboot/vmlinuz", now - 30)]
    initrd_elsewhere = [sent(cfg, "isodrop/fedora/images/pxeboot/initrd.img", now - 20)]  # not from its folder
    initrd = [sent(cfg, f"{FOLDER}/isodrop/fedora/images/pxeboot/initrd.img", now - 10)]
    assert list(followed({}, events(request + kernel + initrd_elsewhere, now), available, cfg.tftp_root, 10, now)) == [
        MAC
    ]
    assert followed({}, events(request + kernel + initrd, now), available, cfg.tftp_root, 10, now) == {}
    # an initrd sent before the request does not end it; a request older than handover_minutes is gone
    assert list(followed({}, events(initrd + request, now), available, cfg.tftp_root, 10, now)) == [MAC]
    assert followed({}, events(request, now), available, cfg.tftp_root, 1, now) == {}


def test_a_pin_of_one_mac_keeps_a_folder_and_wins_over_a_request(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    states = {"fedora": record(), "other": record("other")}
    available = offers_for(cfg, states)
    now = time.time() // 1
    requests = followed(
        {},
        events(
            [
                missing(cfg, f"efi64/handover/other/{MAC}", now),
                missing(cfg, "efi64/handover/other/52:54:00:00:00:01", now),
            ],
            now,
        ),
        available,
        cfg.tftp_root,
        10,
        now,
    )
    pins = [
        Pin(target(MAC), "fedora.iso"),
        Pin(target("52:54:00:00:00:02"), "fedora.iso", once=True),  # a one-shot gets its own menu instead
        Pin(target("192.168.1.0/24"), "fedora.iso"),  # a network cannot pick a per-MAC folder
        Pin(target("52:54:00:00:00:03"), "unknown.iso"),
    ]
    wanted = desired(requests, pins, available)
    assert {mac: (w.offer.slug, w.pinned, w.expires) for mac, w in wanted.items()} == {
        MAC: ("fedora", True, None),
        "52:54:00:00:00:01": ("other", False, now + 600),
    }


def write_log(cfg, *lines: str) -> None:  # type: ignore[no-untyped-def]
    cfg.dnsmasq_log.parent.mkdir(parents=True, exist_ok=True)
    with open(cfg.dnsmasq_log, "a") as log:
        log.writelines(lines)


def started_book(cfg, states: dict[str, EntryState]) -> HandoverBook:  # type: ignore[no-untyped-def]
    book = HandoverBook(cfg)
    book.update(offers_for(cfg, states), ())
    book.step()  # the first look reads the log's last bytes (clients.FIRST_TAIL): what is there now
    return book


def test_a_request_in_the_log_writes_the_pcs_folder_with_the_chain_kernel_initrd_and_menus(tmp_path: Path) -> None:
    cfg = config(tmp_path, serial_console="ttyS0,115200")
    tree = make_tree(cfg)
    write_log(cfg, "Dec  2 03:16:31 dnsmasq[812]: started\n")
    book = started_book(cfg, {"fedora": record()})
    now = time.time() // 1
    write_log(cfg, missing(cfg, f"efi64/handover/fedora/{MAC}", now))
    book.step(now)
    folder = cfg.tftp_root / FOLDER
    linked = {
        "efi64/bootx64.efi": "EFI/BOOT/BOOTX64.EFI",
        "efi64/grubx64.efi": "EFI/BOOT/grubx64.efi",
        "grubx64.efi": "EFI/BOOT/grubx64.efi",
        "efi64/mmx64.efi": "EFI/BOOT/mmx64.efi",
        "mmx64.efi": "EFI/BOOT/mmx64.efi",
        "isodrop/fedora/images/pxeboot/vmlinuz": "images/pxeboot/vmlinuz",
        "isodrop/fedora/images/pxeboot/initrd.img": "images/pxeboot/initrd.img",
    }
    for where, source in linked.items():
        assert os.stat(folder / where).st_ino == os.stat(tree / source).st_ino, where  # a hard link, not a copy
    menus = [folder / "grub.cfg", folder / "EFI/BOOT/grub.cfg"]
    assert menus[0].read_text() == menus[1].read_text()
    assert (
        "linux '/isodrop/fedora/images/pxeboot/vmlinuz' 'root=live:nfs' 'rd.live.image' 'console=ttyS0,115200'"
        in menus[0].read_text()
    )
    assert json.loads((folder / MARKER).read_text())["slug"] == "fedora"
    assert all(oct(os.stat(path).st_mode & 0o777) == "0o755" for path in [folder, *folder.rglob("*")] if path.is_dir())
    assert sorted(p.name for p in cfg.tftp_root.iterdir()) == [FOLDER, "isodrop"]  # no temporary left behind
    # a step with nothing new keeps the folder as it is (not rebuilt)
    inode = os.stat(folder / "grub.cfg").st_ino
    book.step(now + 1)
    assert os.stat(folder / "grub.cfg").st_ino == inode
    status = book.status()["folders"]
    assert [(f["mac"], f["entry"], f["pinned"], f["expires"], f["problem"]) for f in status] == [
        (MAC, "fedora", False, now + 600, "")
    ]
    assert "handing over  52:54:00:12:34:56  fedora through Fedora Secure Boot CA's chain" in "\n".join(
        status_lines(book.status())
    )
    # the PC fetched the initrd from its folder: the folder goes, its next boot gets isodrop's menu
    write_log(cfg, sent(cfg, f"{FOLDER}/isodrop/fedora/images/pxeboot/initrd.img", now + 5))
    book.step(now + 6)
    assert [p.name for p in cfg.tftp_root.iterdir()] == ["isodrop"]
    assert book.next_expiry() is None


def test_requests_survive_a_restart_and_their_folder_goes_when_they_expire(tmp_path: Path) -> None:
    cfg = config(tmp_path, handover_minutes=1)
    make_tree(cfg)
    write_log(cfg, "")
    book = started_book(cfg, {"fedora": record()})
    now = time.time() // 1
    write_log(cfg, missing(cfg, f"efi64/handover/fedora/{MAC}", now))
    book.step(now)
    assert state_path(cfg).is_file()
    again = HandoverBook(cfg)  # a restart: the requests and the log position come from state_dir
    again.update(offers_for(cfg, {"fedora": record()}), ())
    again.step(now + 30)
    assert (cfg.tftp_root / FOLDER).is_dir() and again.next_expiry() == now + 60
    again.step(now + 61)
    assert not (cfg.tftp_root / FOLDER).exists()


def test_a_pin_keeps_its_folder_until_the_pin_goes_and_a_foreign_mac_folder_is_never_touched(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    make_tree(cfg)
    foreign = cfg.tftp_root / "52-54-00-00-00-09"
    (foreign / "efi64").mkdir(parents=True)
    (foreign / "efi64/bootx64.efi").write_bytes(b"the administrator's own")
    linked = cfg.tftp_root / "52-54-00-00-00-0a"  # a link named like a MAC folder, to a folder of isodrop's
    linked.symlink_to(cfg.tftp_root / FOLDER)
    book = HandoverBook(cfg)
    available = offers_for(cfg, {"fedora": record()})
    pinned = ("52:54:00:00:00:09", "52:54:00:00:00:0a")
    book.update(available, (Pin(target(MAC), "fedora.iso"), *(Pin(target(mac), "fedora.iso") for mac in pinned)))
    book.step()
    assert linked.is_symlink() and (linked / MARKER).exists()
    assert (cfg.tftp_root / FOLDER / "efi64/bootx64.efi").read_bytes() == b"vendor shim"
    assert (foreign / "efi64/bootx64.efi").read_bytes() == b"the administrator's own"
    problems = {f["mac"]: f["problem"] for f in book.status()["folders"]}
    assert "not isodrop's" in problems["52:54:00:00:00:09"] and problems[MAC] == ""
    assert "not isodrop's" in problems["52:54:00:00:00:0a"]
    assert "vendor pin" in "\n".join(status_lines(book.status()))
    book.update(available, ())
    book.step()
    assert not (cfg.tftp_root / FOLDER).exists()
    assert (foreign / "efi64/bootx64.efi").read_bytes() == b"the administrator's own" and linked.is_symlink()


@pytest.mark.parametrize("hostile", ["outside", "folder"])
def test_a_chain_file_that_is_not_a_regular_file_in_its_tree_gives_no_folder(tmp_path: Path, hostile: str) -> None:
    cfg = config(tmp_path)
    tree = make_tree(cfg)
    shim = tree / "EFI/BOOT/BOOTX64.EFI"
    shim.unlink()
    if hostile == "outside":
        (tmp_path / "secret").write_bytes(b"not the ISO's")
        shim.symlink_to(tmp_path / "secret")
    else:
        shim.mkdir()
    book = HandoverBook(cfg)
    book.update(offers_for(cfg, {"fedora": record()}), (Pin(target(MAC), "fedora.iso"),))
    book.step()
    assert not (cfg.tftp_root / FOLDER).exists()
    assert [p.name for p in cfg.tftp_root.iterdir()] == ["isodrop"]  # the half-built folder is gone too
    assert "cannot be written" in book.status()["folders"][0]["problem"]


def test_check_says_whether_dnsmasq_serves_per_pc_folders_when_an_entry_can_be_handed_over(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    conf = Path("/etc/dnsmasq.d/isodrop.conf")
    assert dnsmasq_findings(cfg, [("enable-tftp", "", conf)], {"plain": record("plain", None)}) == []
    lacking = dnsmasq_findings(cfg, [("tftp-unique-root", "", conf), ("quiet-tftp", "", conf)], {"fedora": record()})
    assert [f.level for f in lacking] == [WARN, WARN]
    assert "no tftp-unique-root=mac" in lacking[0].message and "quiet-tftp" in lacking[1].message
    fine = dnsmasq_findings(cfg, [("tftp-unique-root", "mac", conf)], {"fedora": record()})
    assert [(f.level, str(conf) in f.message) for f in fine] == [(OK, True)]
    off = dnsmasq_findings(
        dataclasses.replace(cfg, dnsmasq_log=None), [("tftp-unique-root", "mac", conf)], {"fedora": record()}
    )
    assert [f.level for f in off] == [OK, WARN]


@pytest.mark.parametrize("snippet", ["isodrop-proxy.conf", "isodrop-dhcp.conf"])
def test_the_shipped_dnsmasq_snippets_serve_per_pc_folders(tmp_path: Path, snippet: str) -> None:
    cfg = config(tmp_path)
    files = SystemFiles(dnsmasq_conf=tmp_path / "dnsmasq.conf", dnsmasq_dir=tmp_path / "dnsmasq.d")
    files.dnsmasq_dir.mkdir()
    files.dnsmasq_conf.write_text("#tftp-unique-root=mac\n")
    shutil.copyfile(Path(__file__).parents[2] / "contrib/dnsmasq" / snippet, files.dnsmasq_dir / "isodrop.conf")
    findings = dnsmasq_findings(cfg, dnsmasq_options(files), {"fedora": record()})
    assert [f.level for f in findings] == [OK]


def test_isodrop_pin_says_which_pins_keep_a_folder_of_their_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = config(tmp_path)
    trees = Trees(cfg.trees_dir)
    trees.prepare()
    trees.save(record())
    root = ["--root", str(tmp_path)]
    assert main(["pin", MAC, "fedora.iso", *root]) == 0
    said = capsys.readouterr().out
    assert f"{MAC} boots fedora.iso through Fedora Secure Boot CA's own chain from its own TFTP folder" in said
    assert main(["pin", "192.168.1.0/24", "fedora.iso", *root]) == 0
    said = capsys.readouterr().out
    assert "a pin of a network cannot keep one, so its PCs get their own menu" in said
    assert main(["pin", "--hostname", "lab-pc-1", "fedora.iso", *root]) == 0
    assert "a pin of a host name cannot keep one" in capsys.readouterr().out
    assert main(["pin", "52:54:00:00:00:01", "fedora.iso", "--once", *root]) == 0
    assert "a one-shot pin cannot keep one" in capsys.readouterr().out
    assert main(["pin", "52:54:00:00:00:02", "other.iso", *root]) == 0
    assert "chain" not in capsys.readouterr().out


def test_isodrop_clients_lists_the_pcs_handed_over(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = config(tmp_path)
    cfg.state_dir.mkdir(parents=True)
    folder = {"mac": MAC, "entry": "fedora", "iso": "fedora.iso", "vendor": "Fedora", "pinned": False, "since": 0.0}
    folders = [folder | {"expires": 600.0, "folder": f"{cfg.tftp_root}/{FOLDER}", "problem": ""}]
    doc = {"entries": [], "stopped": True, "pid": 0, "handover": {"folders": folders}}
    (cfg.state_dir / "status.json").write_text(json.dumps(doc))
    main(["clients", "--root", str(tmp_path)])
    assert f"handing over  {MAC}  fedora through Fedora's chain" in capsys.readouterr().out
    main(["clients", "--json", "--root", str(tmp_path)])
    assert json.loads(capsys.readouterr().out)["clients"] == []  # the JSON stays the clients part


def test_a_flood_of_forged_requests_keeps_at_most_requests_max_the_newest(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    now = time.time() // 1
    macs = [f"52:54:00:00:{n // 256:02x}:{n % 256:02x}" for n in range(REQUESTS_MAX + 44)]
    lines = [missing(cfg, f"efi64/handover/fedora/{mac}", now) for mac in macs]
    got = followed({}, events(lines, now), offers_for(cfg, {"fedora": record()}), cfg.tftp_root, 10, now)
    assert list(got) == macs[-REQUESTS_MAX:]
