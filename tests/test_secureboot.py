"""Secure Boot verdicts (isodrop/secureboot.py) on Debian's real signed binaries, and copies made unsigned
with sbsigntool or signed by a key of our own: nothing here is mocked."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from isodrop.secureboot import Verdict, describe, read_pe, vendor_certificates, verify_kernel

SHIM = Path("/usr/lib/shim/shimx64.efi.signed")
GRUB = Path("/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed")  # a Debian-signed PE image

pytestmark = pytest.mark.skipif(
    not (SHIM.exists() and GRUB.exists() and shutil.which("sbverify") and shutil.which("openssl")),
    reason="needs shim-signed, grub-efi-amd64-signed, sbsigntool, openssl (tests/apt-packages.txt)",
)


def test_vendor_certificate_is_debians_ca_and_matches_objcopy(tmp_path: Path) -> None:
    (der,) = vendor_certificates(SHIM)
    subject = subprocess.run(
        ["openssl", "x509", "-inform", "der", "-noout", "-subject"], input=der, capture_output=True, check=True
    ).stdout.decode()
    assert "Debian Secure Boot CA" in subject
    section = tmp_path / "vendor_cert.bin"
    subprocess.run(["objcopy", "-O", "binary", "--only-section=.vendor_cert", str(SHIM), str(section)], check=True)
    assert der in section.read_bytes()


def test_debian_signed_image_boots() -> None:
    verdict = verify_kernel(GRUB, SHIM)
    assert verdict is not None and verdict.boots
    assert verdict.signer.startswith("Debian Secure Boot Signer")
    assert describe(verdict).startswith("Secure Boot: boots (signed by Debian Secure Boot Signer")


def test_signature_removed_is_unsigned(tmp_path: Path) -> None:
    copy = tmp_path / "vmlinuz"
    shutil.copyfile(GRUB, copy)
    subprocess.run(["sbattach", "--remove", str(copy)], check=True, capture_output=True)
    assert read_pe(copy).cert_table[1] == 0
    assert verify_kernel(copy, SHIM) == Verdict(False, "", "unsigned kernel")


def test_other_vendor_is_not_trusted(tmp_path: Path) -> None:
    """Microsoft signed the shim itself, and Debian's shim does not trust Microsoft's key for kernels.
    (sbverify 0.9.4 alone says "OK" for this image against any --cert: the chain check catches it.)"""
    verdict = verify_kernel(SHIM, SHIM)
    assert verdict is not None and not verdict.boots
    assert verdict.reason.startswith("signed by Microsoft") and "which this shim does not trust" in verdict.reason


def test_self_signed_kernel_is_not_trusted(tmp_path: Path) -> None:
    key, cert = tmp_path / "k.key", tmp_path / "k.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert)]
        + ["-subj", "/CN=Some Other Vendor Signer", "-days", "30"],
        check=True,
        capture_output=True,
    )
    copy = tmp_path / "vmlinuz"
    shutil.copyfile(GRUB, copy)
    subprocess.run(["sbattach", "--remove", str(copy)], check=True, capture_output=True)
    signed = tmp_path / "vmlinuz.signed"
    subprocess.run(
        ["sbsign", "--key", str(key), "--cert", str(cert), "--output", str(signed), str(copy)],
        check=True,
        capture_output=True,
    )
    verdict = verify_kernel(signed, SHIM)
    assert verdict == Verdict(
        False,
        "Some Other Vendor Signer",
        "signed by Some Other Vendor Signer, which this shim does not trust (it trusts Debian Secure Boot CA)",
    )


@pytest.mark.parametrize("content", [b"", b"MZ", b"not a kernel at all" * 100, b"MZ" + b"\xff" * 200])
def test_garbage_is_not_an_efi_image(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "vmlinuz"
    path.write_bytes(content)
    verdict = verify_kernel(path, SHIM)
    assert verdict is not None and not verdict.boots and "not an EFI image" in verdict.reason


def test_verdict_round_trips_through_state() -> None:
    verdict = Verdict(True, "X", "boots (signed by X)")
    assert Verdict.from_dict(verdict.to_dict()) == verdict
    assert describe(None).startswith("Secure Boot: not checked")


def test_verdict_is_recorded_and_shown_in_status(tmp_path: Path) -> None:
    """build.kernel_verdict at recognition time -> EntryState.secure_boot -> `isodrop status` text."""
    from isodrop.build import kernel_verdict
    from isodrop.config import local_defaults
    from isodrop.model import BootEntry, Outcome
    from isodrop.state import EntryState
    from isodrop.status import format_status

    tree = tmp_path / "tree"
    (tree / "live").mkdir(parents=True)
    shutil.copyfile(GRUB, tree / "live/vmlinuz")
    subprocess.run(["sbattach", "--remove", str(tree / "live/vmlinuz")], check=True, capture_output=True)
    entry = BootEntry("debian-live", "Live", "live/vmlinuz", (), ("boot=live",))
    cfg = local_defaults(tmp_path)
    verdict = kernel_verdict(cfg, tree, entry)
    assert verdict == {"boots": False, "signer": "", "reason": "unsigned kernel"}
    bios_only = BootEntry("memtest", "Memtest", "live/vmlinuz", (), (), firmware=("bios",))
    assert kernel_verdict(cfg, tree, bios_only) is None, "only UEFI entries get a verdict"
    state = EntryState("live", "live.iso", 1, 1, Outcome.SERVED, entry=entry, secure_boot=verdict)
    again = EntryState.from_json(state.to_json())
    assert again.secure_boot == verdict
    summary = again.summary()
    assert summary["secure_boot"] == "Secure Boot: does not boot: unsigned kernel"
    doc = {"running": False, "drop_dir": "d", "config": "c", "entries": [summary], "extracting": [], "waiting": []}
    assert "      Secure Boot: does not boot: unsigned kernel" in format_status(doc).splitlines()


def test_a_missing_tool_leaves_the_verdict_open_instead_of_failing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a server without openssl (only Recommended by the package) nothing is decided, nothing raises:
    the ISO is served and status says the check did not run (found by the Debian server VM test)."""
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "sbverify").symlink_to(shutil.which("sbverify") or "/usr/bin/sbverify")
    monkeypatch.setenv("PATH", str(tools))
    assert verify_kernel(GRUB, SHIM) is None
    assert "not checked" in describe(None) and "openssl" in describe(None)
