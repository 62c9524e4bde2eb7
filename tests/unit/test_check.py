"""`isodrop check` (isodrop/check.py): per entry, the chain each kind of PC boots it through."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from isodrop.check import entry_chains
from isodrop.config import local_defaults
from isodrop.model import BootEntry, Outcome
from isodrop.secureboot import Verdict
from isodrop.state import EntryState

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
