"""`isodrop check`'s findings, made in-process from a Site (the command's exit status is tested in
test_commands.py, its output through the command line in test_cli.py)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from isodrop.check import _folder, entry_chains, findings
from isodrop.config import load, local_defaults
from isodrop.findings import FAIL, OK, WARN
from isodrop.model import BootEntry, Outcome
from isodrop.secureboot import Verdict
from isodrop.site import Site
from isodrop.state import EntryState
from isodrop.vendorchain import VendorChain


def test_check_reports_each_part_and_local_mode_stops_before_the_servers(tmp_path: Path) -> None:
    found = list(findings(Site.make(local_defaults(tmp_path / "demo"), "192.0.2.7")))
    messages = "\n".join(f.message for f in found)
    assert "drop_dir" in messages and "boot loader files" in messages and "clients will boot from 192.0.2.7" in messages
    assert found[-1].message.startswith("local mode") and not any(f.level == FAIL for f in found)


def test_a_missing_reread_command_fails_and_a_missing_pid_file_warns(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        f'drop_dir = "{tmp_path}/d"\ntftp_root = "{tmp_path}/t"\nstate_dir = "{tmp_path}/r"\n'
        'exports_reload_command = ["no-such-exportfs"]\n'
        f'dnsmasq_pid_file = "{tmp_path}/none.pid"\n'
    )
    found = list(findings(Site.make(load(config), "192.0.2.7")))
    assert any(
        f.level == FAIL and f.message.startswith("exports re-read command no-such-exportfs missing") for f in found
    )
    assert any(f.level == WARN and "does not exist" in f.message for f in found)


def test_check_warns_that_menu_default_first_hands_the_choice_to_the_drop_folder(tmp_path: Path) -> None:
    config = local_defaults(tmp_path)
    first = [f for f in findings(Site.make(dataclasses.replace(config, menu_default="first"), "192.0.2.7"))]
    assert any(f.level == WARN and f.message.startswith('menu_default = "first": whoever can write') for f in first)
    named = findings(Site.make(dataclasses.replace(config, menu_default="a.iso"), "192.0.2.7"))
    assert not any("menu_default" in f.message for f in named)


def test_a_folder_is_fine_when_it_exists_or_can_be_made(tmp_path: Path) -> None:
    assert _folder("state_dir", tmp_path) == (OK, f"state_dir {tmp_path} exists")
    assert _folder("state_dir", tmp_path / "new" / "deeper") == (OK, f"state_dir {tmp_path}/new/deeper will be created")


CANONICAL = "Canonical Ltd. Secure Boot Signing (2021 v3)"


def state(slug: str, verdict: Verdict | None, firmware: tuple[str, ...] = ("bios", "efi64")) -> EntryState:
    entry = BootEntry("debian-live", slug.title(), "live/vmlinuz", ("live/initrd.img",), (), firmware=firmware)
    return EntryState(slug, f"{slug}.iso", 1, 1, Outcome.SERVED, entry=entry, secure_boot=verdict)


def test_each_entry_names_its_chain_per_firmware_and_secure_boot_state(tmp_path: Path) -> None:
    states = {
        "debian": state("debian", Verdict(True, "Debian Secure Boot Signer", "boots (signed by Debian ...)")),
        "ubuntu": state(
            "ubuntu", Verdict(False, CANONICAL, f"signed by {CANONICAL}, which this shim does not trust (...)")
        ),
        "unsigned": state("unsigned", Verdict(False, "", "unsigned kernel")),
        "memtest": state("memtest", None, firmware=("bios",)),
        "broken": dataclasses.replace(state("broken", None), entry=None, outcome=Outcome.FAILED),
    }
    lines = {f.message.split(":", 1)[0]: f.message for f in entry_chains(local_defaults(tmp_path), states)}
    assert sorted(lines) == ["entry debian", "entry memtest", "entry ubuntu", "entry unsigned"]
    assert lines["entry debian"] == (
        "entry debian: BIOS: pxelinux; UEFI Secure Boot off: Debian's shim + GRUB; "
        "UEFI Secure Boot on: Debian's shim + GRUB (boots (signed by Debian ...))"
    )
    ubuntu = lines["entry ubuntu"]
    assert f"UEFI Secure Boot on: needs Secure Boot off (signed by {CANONICAL}, which" in ubuntu
    assert "or enrol the CA that issued" in ubuntu and "mokutil --import" in ubuntu
    unsigned = lines["entry unsigned"]
    assert unsigned.endswith(
        "UEFI Secure Boot on: needs Secure Boot off (unsigned kernel); to boot it: switch Secure Boot off in the "
        "PC's firmware settings"
    )
    assert lines["entry memtest"] == (
        "entry memtest: BIOS: pxelinux; UEFI Secure Boot off: not offered; UEFI Secure Boot on: not offered"
    )


def test_an_unsigned_uefi_loader_boots_nothing_with_secure_boot_on(tmp_path: Path) -> None:
    config = dataclasses.replace(local_defaults(tmp_path), uefi_loader="syslinux-efi", bios_loader="ipxe")
    verdict = Verdict(True, "Debian Secure Boot Signer", "boots")
    (line,) = (f.message for f in entry_chains(config, {"d": state("d", verdict)}))
    assert line == (
        "entry d: BIOS: ipxe; UEFI Secure Boot off: syslinux-efi; "
        "UEFI Secure Boot on: does not boot (syslinux-efi, uefi_loader, is not signed)"
    )
    (unchecked,) = (f.message for f in entry_chains(local_defaults(tmp_path), {"d": state("d", None)}))
    assert unchecked.endswith(
        "UEFI Secure Boot on: Debian's shim + GRUB, kernel not checked (openssl or the shim missing)"
    )


def test_a_refused_kernel_names_the_isos_own_chain_when_it_boots_and_why_not_otherwise(tmp_path: Path) -> None:
    refused = Verdict(False, "Test Vendor Signer", "signed by Test Vendor Signer, which this shim does not trust")
    usable = VendorChain("Test Vendor CA", "EFI/BOOT/BOOTX64.EFI", "EFI/BOOT/grubx64.efi", "", ("efi64",), True, "r")
    cd = dataclasses.replace(
        usable, usable=False, reason="its GRUB has no tftp module: it cannot read from the network"
    )
    states = {
        "fedora": dataclasses.replace(state("fedora", refused), vendor_chain=usable),
        "ubuntu": dataclasses.replace(state("ubuntu", refused), vendor_chain=cd),
    }
    lines = {f.message.split(":", 1)[0]: f.message for f in entry_chains(local_defaults(tmp_path), states)}
    assert lines["entry fedora"].endswith(
        "UEFI Secure Boot on: the ISO's own chain, Test Vendor CA's shim + GRUB (Debian's shim refuses its kernel: "
        "signed by Test Vendor Signer, which this shim does not trust); chosen in the menu, the PC restarts into it"
    )
    assert (
        "UEFI Secure Boot on: needs Secure Boot off (signed by Test Vendor Signer, which this shim does not trust; "
        "the ISO's own chain cannot boot it: its GRUB has no tftp module: it cannot read from the network); "
        "to boot it: switch Secure Boot off"
    ) in lines["entry ubuntu"]
