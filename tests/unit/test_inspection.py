"""`inspect_iso` in-process: the lines `isodrop inspect` prints and whether the ISO is bootable, with
nothing written (the command's output and exit codes are in test_cli.py)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from isodrop.commands import cmd_inspect
from isodrop.config import local_defaults
from isodrop.exits import EXIT_OK, EXIT_PROBLEMS
from isodrop.extract import ExtractError
from isodrop.inspection import inspect_iso
from isodrop.site import Site
from tests.harness.isofactory import build_iso
from tests.harness.servicekit import build_debian_live, debian_live_files
from tests.harness.signing import ChainKit, certificate, der_of, fake_shim


def test_a_debian_live_iso_is_bootable_from_this_sites_nfs_export(tmp_path: Path) -> None:
    site = Site.make(local_defaults(tmp_path / "demo"), "10.9.8.7")
    iso = build_debian_live(tmp_path / "debian-live-12.iso")
    inspection = inspect_iso(site, iso)
    lines = dict(line.split(":", 1) for line in inspection.lines)
    assert inspection.bootable and lines["system"].strip() == "debian-live"
    assert lines["NFS root"].strip() == f"10.9.8.7:{site.trees.root}/debian-live-12"
    assert "boot=live" in lines["cmdline"] and "nfsroot=10.9.8.7:" in lines["cmdline"]
    assert not (tmp_path / "demo").exists(), "inspect writes nothing"


def test_an_iso_no_family_knows_is_not_bootable_and_says_why(tmp_path: Path) -> None:
    iso = build_iso(tmp_path / "notes.iso", {"README.txt": "nothing to boot"}, volume_id="NOTES")
    inspection = inspect_iso(Site.make(local_defaults(tmp_path / "demo"), "10.9.8.7"), iso)
    assert not inspection.bootable
    assert inspection.lines[-1].startswith("system:     not recognised: ")


def test_a_file_that_is_no_iso_raises_the_extract_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.iso"
    junk.write_bytes(b"not an iso" * 100)
    with pytest.raises(ExtractError):
        inspect_iso(Site.make(local_defaults(tmp_path / "demo"), "10.9.8.7"), junk)


SHIM = Path("/usr/lib/shim/shimx64.efi.signed")
GRUB = Path("/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed")  # a real PE image to sign as a "kernel"

pytestmark = pytest.mark.skipif(
    not (SHIM.exists() and GRUB.exists() and shutil.which("sbsign") and shutil.which("openssl")),
    reason="needs shim-signed, grub-efi-amd64-signed, sbsigntool, openssl (tests/apt-packages.txt)",
)


@pytest.fixture(scope="module")
def vendor(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes, bytes]:
    """(a kernel signed by "Example Secure Boot Signing" under "Example Vendor CA", that CA's DER, a shim
    carrying it): the shape of Ubuntu's or Fedora's ISO, whose own shim trusts its vendor's CA."""
    folder = tmp_path_factory.mktemp("vendor")
    ca = certificate(folder, "ca", "Example Vendor CA", None, ca=True)
    signer = certificate(folder, "signer", "Example Secure Boot Signing", ca, ca=False)
    unsigned, signed = folder / "unsigned.efi", folder / "signed.efi"
    shutil.copyfile(GRUB, unsigned)
    subprocess.run(["sbattach", "--remove", str(unsigned)], check=True, capture_output=True)
    argv = ["sbsign", "--key", str(signer.key), "--cert", str(signer.cert), "--output", str(signed), str(unsigned)]
    subprocess.run(argv, check=True, capture_output=True)
    ca_der = der_of(ca.cert)
    return signed.read_bytes(), ca_der, fake_shim(folder / "shim.efi", ca_der).read_bytes()


def inspect(tmp_path: Path, files: dict[str, bytes | str]) -> tuple[list[str], bytes]:
    iso = build_iso(tmp_path / "vendor-live.iso", {**debian_live_files(), **files}, volume_id="d-live 12")
    config = dataclasses.replace(local_defaults(tmp_path / "demo"), shim_file=SHIM)
    inspection = inspect_iso(Site.make(config, "10.0.0.1"), iso)
    return list(inspection.lines), inspection.vendor_cert


def test_a_vendor_kernel_names_the_ca_in_the_isos_own_shim(tmp_path: Path, vendor: tuple[bytes, bytes, bytes]) -> None:
    kernel, ca_der, shim = vendor
    lines, cert = inspect(tmp_path, {"live/vmlinuz": kernel, "EFI/BOOT/BOOTX64.EFI": shim})
    (uefi,) = [line for line in lines if line.startswith("UEFI:")]
    assert "does not boot: signed by Example Secure Boot Signing, which this shim does not trust" in uefi
    assert "or enrol the CA that issued Example Secure Boot Signing's certificate as a MOK" in uefi
    (mok,) = [line for line in lines if line.startswith("MOK:")]
    assert "the ISO's own shim (EFI/BOOT/BOOTX64.EFI) trusts Example Vendor CA" in mok
    assert "isodrop inspect --vendor-cert FILE.der" in mok
    assert cert == ca_der


def test_no_ca_is_offered_when_the_isos_shim_is_missing_broken_or_of_another_vendor(
    tmp_path: Path, vendor: tuple[bytes, bytes, bytes]
) -> None:
    kernel, _ca, shim = vendor
    cases = {
        "none": ({}, "the ISO carries no shim"),
        "broken": ({"EFI/BOOT/BOOTX64.EFI": b"MZ" + b"\xff" * 300}, "cannot be read as one"),
        "truncated": ({"EFI/BOOT/BOOTX64.EFI": shim[:0x210]}, "by itself"),
        "debian": ({"efi/boot/bootx64.efi": SHIM.read_bytes()}, "does not trust this kernel's signer by itself"),
    }
    for name, (files, said) in cases.items():
        lines, cert = inspect(tmp_path / name, {"live/vmlinuz": kernel, **files})
        (mok,) = [line for line in lines if line.startswith("MOK:")]
        assert said in mok, (name, mok)
        assert cert == b"", name


def test_a_debian_signed_or_unsigned_kernel_gets_no_mok_line(tmp_path: Path) -> None:
    lines, cert = inspect(tmp_path / "debian", {"live/vmlinuz": GRUB.read_bytes()})
    assert not any(line.startswith("MOK:") for line in lines) and cert == b""
    assert any(line.startswith("UEFI:       Secure Boot: boots (signed by Debian") for line in lines)
    lines, _ = inspect(tmp_path / "plain", {})
    (uefi,) = [line for line in lines if line.startswith("UEFI:")]
    assert uefi.endswith("to boot it: switch Secure Boot off in the PC's firmware settings")
    assert not any(line.startswith("MOK:") for line in lines)


def test_inspect_vendor_cert_writes_the_ca_once_and_never_over_a_file(
    tmp_path: Path, vendor: tuple[bytes, bytes, bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    kernel, ca_der, shim = vendor
    iso = build_iso(tmp_path / "v.iso", {**debian_live_files(), "live/vmlinuz": kernel, "EFI/BOOT/BOOTX64.EFI": shim})
    config = dataclasses.replace(local_defaults(tmp_path / "demo"), shim_file=SHIM)
    out = tmp_path / "vendor-ca.der"
    args = argparse.Namespace(iso=iso, server="10.0.0.1", vendor_cert=out)
    assert cmd_inspect(config, args) == EXIT_OK
    assert out.read_bytes() == ca_der
    assert f"wrote {out}: enrol it with mokutil --import {out} on the PC" in capsys.readouterr().out
    out.write_bytes(b"mine")
    assert cmd_inspect(config, args) == EXIT_PROBLEMS and out.read_bytes() == b"mine"
    assert "not written: File exists" in capsys.readouterr().out
    plain = build_iso(tmp_path / "p.iso", debian_live_files())
    other = tmp_path / "other.der"
    assert cmd_inspect(config, argparse.Namespace(iso=plain, server="10.0.0.1", vendor_cert=other)) == EXIT_PROBLEMS
    assert not other.exists() and "no vendor CA in" in capsys.readouterr().out


def test_a_vendor_kernel_boots_through_the_isos_own_chain_or_inspect_says_why_not(
    tmp_path: Path, chain_kit: ChainKit
) -> None:
    """The ISO's EFI/BOOT files are read out of the image (bounded) and judged as a build judges them."""
    files = chain_kit.tree_files()
    files["live/vmlinuz"] = files.pop("images/pxeboot/vmlinuz")
    lines, cert = inspect(tmp_path / "net", files)
    (uefi,) = [line for line in lines if line.startswith("UEFI:")]
    assert uefi == (
        "UEFI:       Secure Boot: boots with Secure Boot on through its own chain (Test Vendor CA's shim and GRUB): "
        "chosen in the menu, the PC restarts into it (Debian's shim refuses its kernel: signed by Test Vendor "
        "Signer, which this shim does not trust (it trusts Debian Secure Boot CA))"
    )
    (mok,) = [line for line in lines if line.startswith("MOK:")]
    assert "the ISO's own shim (EFI/BOOT/BOOTX64.EFI) trusts Test Vendor CA" in mok and cert
    lines, _ = inspect(tmp_path / "cd", {**files, "EFI/BOOT/grubx64.efi": chain_kit.grub_cd.read_bytes()})
    (uefi,) = [line for line in lines if line.startswith("UEFI:")]
    assert uefi.startswith(
        "UEFI:       Secure Boot: does not boot: signed by Test Vendor Signer, which this shim does not trust "
        "(it trusts Debian Secure Boot CA); the ISO's own chain cannot boot it: its GRUB has no tftp module: it "
        "cannot read from the network (its GRUB runs an embedded configuration and carries a memdisk); "
        "to boot it: switch Secure Boot off in the PC's firmware settings, or enrol the CA"
    )


def test_pcs_handed_over_to_the_isos_own_chain_are_listed_from_the_services_status(tmp_path: Path) -> None:
    config = local_defaults(tmp_path / "demo")
    iso = build_debian_live(tmp_path / "fedora.iso")
    folder = {"mac": "52:54:00:12:34:56", "entry": "fedora", "iso": "fedora.iso", "vendor": "Fedora CA"}
    folders = [
        folder | {"pinned": True, "since": 0.0, "expires": None, "folder": "/srv/tftp/52-54-00-12-34-56"},
        folder | {"entry": "other", "pinned": True, "since": 0.0, "expires": None, "folder": "/srv/tftp/x"},
    ]
    config.state_dir.mkdir(parents=True)
    doc = {"entries": [], "stopped": True, "pid": 0, "handover": {"folders": folders}}
    (config.state_dir / "status.json").write_text(json.dumps(doc))
    lines = inspect_iso(Site.make(config, "10.9.8.7"), iso).lines
    handed = [line for line in lines if line.startswith("hand-over:")]
    assert handed == ["hand-over:  52:54:00:12:34:56: fedora through Fedora CA's chain (pinned: until `isodrop unpin`)"]
