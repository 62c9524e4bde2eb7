"""Secure Boot verdicts (isodrop/secureboot.py) on Debian's real signed binaries, on copies made unsigned
with sbsigntool, and on kernels signed here with openssl + sbsign by test CAs: a fake shim (a small PE
built below) trusts one of them. Nothing is mocked; one test wraps subprocess.run only to count calls."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from isodrop import secureboot
from isodrop.secureboot import Verdict, describe, read_pe, vendor_certificates, verify_kernel
from tests.harness.signing import Identity, certificate, der_of, fake_shim

SHIM = Path("/usr/lib/shim/shimx64.efi.signed")
GRUB = Path("/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed")  # a Debian-signed PE image

pytestmark = pytest.mark.skipif(
    not (SHIM.exists() and GRUB.exists() and shutil.which("sbsign") and shutil.which("openssl")),
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
    (sbverify 0.9.4 says "OK" for this image against any --cert: isodrop no longer relies on it.)"""
    verdict = verify_kernel(SHIM, SHIM)
    assert verdict is not None and not verdict.boots
    assert verdict.reason.startswith("signed by Microsoft") and "which this shim does not trust" in verdict.reason
    # a real signature by a key shim does not trust: a MOK enrolment of that signer's CA is a way in
    assert secureboot.untrusted_signer(verdict) == verdict.signer and verdict.signer.startswith("Microsoft")
    said = describe(verdict)
    assert "; to boot it: switch Secure Boot off in the PC's firmware settings, or enrol the CA" in said
    assert f"issued {verdict.signer}'s certificate as a MOK" in said and "mokutil --import" in said
    assert '"Enroll MOK"' in said and "/usr/share/doc/isodrop/booting.md" in said


def test_only_an_untrusted_but_sound_signature_is_offered_a_mok_enrolment() -> None:
    """A broken signature or an unsigned kernel stays refused whatever key is enrolled: Secure Boot off."""
    for verdict in (
        Verdict(False, "", "unsigned kernel"),
        Verdict(False, "X", "signature does not match the image (signed by X)"),
        Verdict(False, "X", "signed by Y, which this shim does not trust"),  # a signer the reason does not name
        Verdict(True, "X", "boots (signed by X, trusted through Z)"),
    ):
        assert secureboot.untrusted_signer(verdict) == ""
        assert "MOK" not in secureboot.remedy(verdict)
    refused = Verdict(False, "Fedora Secure Boot Signer", "signed by Fedora Secure Boot Signer, which this shim ...")
    assert secureboot.untrusted_signer(refused) == "Fedora Secure Boot Signer"
    notice = secureboot.menu_notice("Fedora 41 " + "x" * 200, refused, width=40)
    assert all(len(line) <= 40 for line in notice) and notice[-1] == "Press Escape to return to the menu."


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
    assert verdict == Verdict(False, "", "unsigned kernel")
    bios_only = BootEntry("memtest", "Memtest", "live/vmlinuz", (), (), firmware=("bios",))
    assert kernel_verdict(cfg, tree, bios_only) is None, "only UEFI entries get a verdict"
    state = EntryState("live", "live.iso", 1, 1, Outcome.SERVED, entry=entry, secure_boot=verdict)
    again = EntryState.from_json(state.to_json())
    assert again.secure_boot == verdict
    summary = again.summary()
    off = "switch Secure Boot off in the PC's firmware settings"
    assert summary["secure_boot"] == f"Secure Boot: does not boot: unsigned kernel; to boot it: {off}"
    doc = {"running": False, "drop_dir": "d", "config": "c", "entries": [summary], "extracting": [], "waiting": []}
    assert f"      Secure Boot: does not boot: unsigned kernel; to boot it: {off}" in format_status(doc).splitlines()


def test_a_missing_tool_leaves_the_verdict_open_instead_of_failing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a server without openssl (only Recommended by the package) nothing is decided, nothing raises:
    the ISO is served and status says the check did not run (found by the Debian server VM test)."""
    assert verify_kernel(GRUB, tmp_path / "no-shim.efi") is None
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "sbsign").symlink_to(shutil.which("sbsign") or "/usr/bin/sbsign")
    monkeypatch.setenv("PATH", str(tools))
    assert verify_kernel(GRUB, SHIM) is None
    assert "not checked" in describe(None) and "openssl" in describe(None)


# --- kernels signed here: a test CA that a fake shim trusts, an attacker, an unknown root ----------------


@dataclass(frozen=True)
class Pki:
    folder: Path
    vendor: Identity  # the CA the fake shim trusts, named like Debian's
    signer: Identity  # issued by it
    attacker: Identity  # the attacker's own signer, under a CA that copies the vendor CA's name
    unknown: Identity  # a signer under an intermediate under a root nobody trusts
    shim: Path
    unsigned: Path  # a real PE image (Debian's GRUB, signature removed) to sign


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    vendor = certificate(folder, "vendor-ca", "Debian Secure Boot CA", None, ca=True)
    signer = certificate(folder, "signer", "Test Secure Boot Signer", vendor, ca=False)
    fake_ca = certificate(folder, "fake-ca", "Debian Secure Boot CA", None, ca=True)
    attacker = certificate(folder, "attacker", "Debian Secure Boot Signer 2022 - linux", fake_ca, ca=False)
    root = certificate(folder, "root", "Unknown Root CA", None, ca=True)
    intermediate = certificate(folder, "intermediate", "Unknown Intermediate CA", root, ca=True)
    unknown = certificate(folder, "unknown", "Unknown Vendor Signer", intermediate, ca=False)
    unsigned = folder / "vmlinuz.unsigned"
    shutil.copyfile(GRUB, unsigned)
    subprocess.run(["sbattach", "--remove", str(unsigned)], check=True, capture_output=True)
    shim = fake_shim(folder / "shimx64.efi", der_of(vendor.cert))
    return Pki(folder, vendor, signer, attacker, unknown, shim, unsigned)


def _sign(
    pki: Pki, identity: Identity, out: Path, embedded: tuple[Path, ...] | None = None, detached: bool = False
) -> Path:
    """sbsign the unsigned image; `embedded` certificates (PEM; default: the signer's issuers) go into the
    signature beside the signer's own."""
    argv = ["sbsign", "--key", str(identity.key), "--cert", str(identity.cert), "--output", str(out)]
    embedded = identity.chain if embedded is None else embedded
    if embedded:
        bundle = out.with_suffix(".certs.pem")
        bundle.write_text("".join(p.read_text() for p in embedded))
        argv += ["--addcert", str(bundle)]
    argv += ["--detached"] if detached else []
    subprocess.run([*argv, str(pki.unsigned)], check=True, capture_output=True)
    return out


def _with_table(unsigned: Path, out: Path, entries: list[tuple[int, bytes]]) -> Path:
    """`unsigned` with a certificate table of WIN_CERTIFICATE entries (type, data) appended, 8-aligned."""
    image = bytearray(unsigned.read_bytes())
    image += b"\0" * (-len(image) % 8)
    table = b""
    for kind, data in entries:
        entry = struct.pack("<IHH", 8 + len(data), 0x0200, kind) + data
        table += entry + b"\0" * (-len(entry) % 8)
    struct.pack_into("<II", image, read_pe(unsigned).cert_entry_at, len(image), len(table))
    out.write_bytes(bytes(image) + table)
    return out


def test_fake_shim_trusts_the_test_ca(pki: Pki) -> None:
    assert vendor_certificates(pki.shim) == (der_of(pki.vendor.cert),)


def test_authenticode_digest_is_the_one_sbsign_signs(pki: Pki, tmp_path: Path) -> None:
    """The digest computed here equals what sbsigntool put in a signature: the SpcIndirectDataContent
    digest of a detached signature over the same image (both read shim's way, see secureboot.py)."""
    detached = _sign(pki, pki.signer, tmp_path / "sig.p7", detached=True)
    claimed = secureboot._parse_signature(detached.read_bytes()).digest
    image = _with_table(pki.unsigned, tmp_path / "vmlinuz", [(2, detached.read_bytes())])
    with open(image, "rb") as f:
        info = read_pe(image)
        computed = secureboot.authenticode_sha256(f, info, image.stat().st_size, secureboot.Deadline(10))
    assert computed == claimed


def test_kernel_signed_by_the_trusted_ca_boots(pki: Pki, tmp_path: Path) -> None:
    signed = _sign(pki, pki.signer, tmp_path / "vmlinuz")
    assert verify_kernel(signed, pki.shim) == Verdict(
        True,
        "Test Secure Boot Signer",
        "boots (signed by Test Secure Boot Signer, trusted through Debian Secure Boot CA)",
    )
    assert verify_kernel(signed, SHIM) is not None and not verify_kernel(signed, SHIM).boots  # type: ignore[union-attr]


@pytest.mark.parametrize("with_fake_ca", [True, False], ids=["fake-and-real-ca", "only-real-ca"])
def test_forged_chain_with_the_real_ca_certificate_embedded_does_not_boot(
    pki: Pki, tmp_path: Path, with_fake_ca: bool
) -> None:
    """The attack: the attacker's own key, under a CA named exactly like the trusted one, and the trusted
    CA's (public) certificate embedded in the signature too (with or without the look-alike CA). Embedded
    certificates are untrusted intermediates only; the signer's chain must reach the trusted key by
    signatures (openssl says "self-signed certificate in certificate chain" or "certificate signature
    failure"/"unable to get local issuer certificate")."""
    embedded = (*pki.attacker.chain, pki.vendor.cert) if with_fake_ca else (pki.vendor.cert,)
    signed = _sign(pki, pki.attacker, tmp_path / "vmlinuz", embedded=embedded)
    listed = subprocess.run(["sbverify", "--list", str(signed)], capture_output=True, text=True).stdout
    assert listed.count("subject: /CN=Debian Secure Boot CA") == len(embedded)
    assert verify_kernel(signed, pki.shim) == Verdict(
        False,
        "Debian Secure Boot Signer 2022 - linux",
        "signed by Debian Secure Boot Signer 2022 - linux, which this shim does not trust"
        " (it trusts Debian Secure Boot CA)",
    )


def test_chain_ending_at_an_unknown_root_does_not_boot(pki: Pki, tmp_path: Path) -> None:
    signed = _sign(pki, pki.unknown, tmp_path / "vmlinuz")
    verdict = verify_kernel(signed, pki.shim)
    assert verdict is not None and not verdict.boots
    assert verdict.signer == "Unknown Vendor Signer" and "which this shim does not trust" in verdict.reason


def _flip_byte_in_text(path: Path) -> None:
    offset, size = read_pe(path).sections[".text"]
    data = bytearray(path.read_bytes())
    data[offset + size // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_signed_kernel_modified_after_signing_does_not_match(pki: Pki, tmp_path: Path) -> None:
    signed = _sign(pki, pki.signer, tmp_path / "vmlinuz")
    _flip_byte_in_text(signed)
    assert verify_kernel(signed, pki.shim) == Verdict(
        False, "Test Secure Boot Signer", "signature does not match the image (signed by Test Secure Boot Signer)"
    )


def test_digest_in_the_signature_rewritten_to_match_a_modified_kernel_does_not_boot(pki: Pki, tmp_path: Path) -> None:
    """A forged blob: the kernel is modified and the digest inside the trusted signature patched to the new
    image digest. The signer's signature covers the old digest (messageDigest attribute): openssl refuses."""
    signed = _sign(pki, pki.signer, tmp_path / "vmlinuz")
    with open(signed, "rb") as f:
        before = secureboot.authenticode_sha256(f, read_pe(signed), signed.stat().st_size, secureboot.Deadline(10))
    _flip_byte_in_text(signed)
    with open(signed, "rb") as f:
        after = secureboot.authenticode_sha256(f, read_pe(signed), signed.stat().st_size, secureboot.Deadline(10))
    data = signed.read_bytes()
    assert data.count(before) == 1
    signed.write_bytes(data.replace(before, after))
    verdict = verify_kernel(signed, pki.shim)
    assert verdict == Verdict(
        False, "Test Secure Boot Signer", "signature does not match the image (signed by Test Secure Boot Signer)"
    )


def test_second_signature_trusted_boots(pki: Pki, tmp_path: Path) -> None:
    """shim tries every PKCS#7 entry of the table and accepts the image when any one verifies."""
    untrusted = _sign(pki, pki.unknown, tmp_path / "unknown.p7", detached=True).read_bytes()
    trusted = _sign(pki, pki.signer, tmp_path / "signer.p7", detached=True).read_bytes()
    both = _with_table(pki.unsigned, tmp_path / "vmlinuz", [(2, untrusted), (2, trusted)])
    verdict = verify_kernel(both, pki.shim)
    assert verdict is not None and verdict.boots and verdict.signer == "Test Secure Boot Signer"
    only_untrusted = _with_table(pki.unsigned, tmp_path / "vmlinuz.1", [(2, untrusted), (2, untrusted)])
    verdict = verify_kernel(only_untrusted, pki.shim)
    assert verdict is not None and not verdict.boots and verdict.signer == "Unknown Vendor Signer"


class _CountingRun:
    """A counter around subprocess.run (it still runs every process): not a mock of any behaviour."""

    def __init__(self) -> None:
        self.calls = 0
        self.real = subprocess.run

    def __call__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.calls += 1
        return self.real(*args, **kwargs)


@pytest.mark.parametrize(
    ("entries", "reason"),
    [
        ([(2, b"\0" * 8)] * 4000, "too many signatures: more than 8 in its certificate table"),
        ([(2, b"\0" * (1024 * 1024))], "too many signatures: a certificate table of 1048584 bytes"),
        ([(1, b"\0" * 8)] * 4000, "unsigned kernel (no Authenticode signature in its certificate table)"),
        ([(2, b"\x30\x03\x02\x01\x01")] * 8, "signature unreadable (not an Authenticode PKCS#7 signature)"),
    ],
    ids=["4000-tiny-signatures", "1MiB-table", "4000-non-signature-entries", "8-garbage-signatures"],
)
def test_hostile_certificate_tables_are_decided_fast_without_processes(
    pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entries: list[tuple[int, bytes]], reason: str
) -> None:
    kernel = _with_table(pki.unsigned, tmp_path / "vmlinuz", entries)
    counter = _CountingRun()
    monkeypatch.setattr(subprocess, "run", counter)
    started = time.monotonic()
    verdict = verify_kernel(kernel, pki.shim)
    assert time.monotonic() - started < 2.0
    assert verdict is not None and not verdict.boots and verdict.reason.startswith(reason)
    assert counter.calls == 0


def test_signatures_checked_by_openssl_are_bounded(pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Eight well-formed untrusted signatures whose digest matches: one openssl process each, no more; a
    ninth is refused before any is run."""
    untrusted = _sign(pki, pki.unknown, tmp_path / "unknown.p7", detached=True).read_bytes()
    counter = _CountingRun()
    monkeypatch.setattr(subprocess, "run", counter)
    eight = _with_table(pki.unsigned, tmp_path / "vmlinuz.8", [(2, untrusted)] * secureboot.MAX_SIGNATURES)
    verdict = verify_kernel(eight, pki.shim)
    assert verdict is not None and not verdict.boots and verdict.signer == "Unknown Vendor Signer"
    assert counter.calls == secureboot.MAX_SIGNATURES
    nine = _with_table(pki.unsigned, tmp_path / "vmlinuz.9", [(2, untrusted)] * (secureboot.MAX_SIGNATURES + 1))
    verdict = verify_kernel(nine, pki.shim)
    assert verdict is not None and verdict.reason.startswith("too many signatures")
    assert counter.calls == secureboot.MAX_SIGNATURES


def test_one_deadline_for_the_verdict_kills_a_hangingopenssl(
    pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An openssl that hangs (a script on PATH standing in for a pathological input) is killed when the
    verdict's deadline passes, and the verdict says so."""
    signed = _sign(pki, pki.signer, tmp_path / "vmlinuz")
    tools = tmp_path / "bin"
    tools.mkdir()
    pidfile = tmp_path / "openssl.pid"
    (tools / "openssl").write_text(f"#!/bin/sh\necho $$ > {pidfile}\nexec sleep 60\n")
    (tools / "openssl").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tools}:{os.environ['PATH']}")
    started = time.monotonic()
    verdict = verify_kernel(signed, pki.shim, seconds=1.5)
    assert time.monotonic() - started < 5
    assert verdict == Verdict(False, "", "signature could not be checked in time (1.5 s)")
    pid = int(pidfile.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_truncated_and_misplaced_tables_are_refused_like_shim(pki: Pki, tmp_path: Path) -> None:
    """Entries shorter than their header, or running past the table, or data after the table: shim rejects
    the image outright (verify_buffer_authenticode, generate_hash)."""
    signed = _sign(pki, pki.signer, tmp_path / "vmlinuz")
    data = bytearray(signed.read_bytes())
    at, size = read_pe(signed).cert_table
    struct.pack_into("<I", data, at, size + 8)  # the entry claims more than the table holds
    (tmp_path / "long").write_bytes(bytes(data))
    verdict = verify_kernel(tmp_path / "long", pki.shim)
    assert (
        verdict is not None
        and verdict.reason == "shim would refuse the kernel: a signature entry runs past the certificate table"
    )
    (tmp_path / "trailing").write_bytes(signed.read_bytes() + b"\0" * 8)
    verdict = verify_kernel(tmp_path / "trailing", pki.shim)
    assert verdict is not None and not verdict.boots and "certificate table" in verdict.reason


def test_a_fifo_as_kernel_does_not_block(pki: Pki, tmp_path: Path) -> None:
    fifo = tmp_path / "vmlinuz"
    os.mkfifo(fifo)
    assert verify_kernel(fifo, pki.shim) == Verdict(False, "", "kernel is not a regular file")


def _cached_debian_kernel() -> Path | None:
    """The Debian-signed kernel the e2e tests cache (tests/harness/e2e/liveiso.py), when a run has built it."""
    root = Path(os.environ.get("ISODROP_TEST_CACHE", "/var/cache/isodrop-tests"))
    kernels = sorted(p / "vmlinuz" for p in root.glob("live-base-*") if (p / ".complete").exists())
    return kernels[0] if kernels else None


@pytest.mark.skipif(_cached_debian_kernel() is None, reason="no cached Debian kernel (built by the e2e tests)")
def test_debian_signed_kernel_boots_and_not_under_thefake_shim(pki: Pki) -> None:
    kernel = _cached_debian_kernel()
    assert kernel is not None
    verdict = verify_kernel(kernel, SHIM)
    assert verdict is not None and verdict.boots
    assert verdict.reason.startswith("boots (signed by Debian Secure Boot Signer")
    assert verdict.reason.endswith("trusted through Debian Secure Boot CA)")
    other = verify_kernel(kernel, pki.shim)
    assert other is not None and not other.boots, "same CA name, another key: the name alone does not decide"
    assert "which this shim does not trust" in other.reason


def _debian_signature() -> bytes:
    """The PKCS#7 blob of Debian's signed GRUB image (its only certificate-table entry)."""
    at, size = read_pe(GRUB).cert_table
    with open(GRUB, "rb") as f:
        f.seek(at)
        return secureboot.signature_entries(f.read(size))[0]


@settings(max_examples=300)
@given(st.data())
def test_signature_reader_fails_only_in_the_ways_the_verdict_handles(data: st.DataObject) -> None:
    """Any bytes, or Debian's real signature with bytes changed or cut: the DER walk returns or raises one
    of the exceptions check_signature turns into "unreadable", never anything else, never slowly."""
    blob = bytearray(_debian_signature() if data.draw(st.booleans()) else data.draw(st.binary(max_size=512)))
    for _ in range(data.draw(st.integers(0, 4))):
        if blob:
            blob[data.draw(st.integers(0, len(blob) - 1))] = data.draw(st.integers(0, 255))
    blob = blob[: data.draw(st.integers(0, len(blob)))]
    try:
        signature = secureboot._parse_signature(bytes(blob))
    except (secureboot.Malformed, IndexError, ValueError):
        return
    assert len(signature.content) <= len(blob) and signature.digest in signature.content


@given(st.binary(max_size=2048))
def test_certificate_table_walk_fails_only_as_shim_would(table: bytes) -> None:
    try:
        blobs = secureboot.signature_entries(table)
    except (secureboot.Malformed, secureboot.TooMany):
        return
    assert len(blobs) <= secureboot.MAX_SIGNATURES and sum(map(len, blobs)) <= len(table)


@settings(max_examples=40)
@given(st.data())
def test_a_changed_byte_in_a_signed_kernel_is_always_decided(pki: Pki, data: st.DataObject) -> None:
    """One byte of a trusted signed kernel changed anywhere in its headers or certificate table: the verdict
    is always given (never an exception); "boots" only for the trusted signer (a change in what shim does
    not read, such as the entry's revision field or the table's padding, still boots, as in shim)."""
    signed = pki.folder / "mutation-base.efi"
    if not signed.exists():
        _sign(pki, pki.signer, signed)
    image = bytearray(signed.read_bytes())
    at, size = read_pe(signed).cert_table
    position = data.draw(st.one_of(st.integers(0, 1023), st.integers(at, at + size - 1)))
    image[position] = data.draw(st.integers(0, 255))
    kernel = pki.folder / "mutated.efi"
    kernel.write_bytes(bytes(image))
    verdict = verify_kernel(kernel, pki.shim)
    assert verdict is not None
    assert not verdict.boots or verdict.signer == "Test Secure Boot Signer"
