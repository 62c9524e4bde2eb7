"""`isodrop check` says per firmware whether kernels and initrds come over HTTP or TFTP, and why."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from isodrop.config import local_defaults
from isodrop.http import delivery


def lines(**settings: str) -> dict[str, str]:
    config = dataclasses.replace(local_defaults(Path("/nonexistent")), **settings)
    return {message.split()[0]: message for _level, message in delivery(config)}


def test_without_http_url_everything_is_tftp() -> None:
    said = lines(bios_loader="ipxe", uefi_loader="grub")
    assert "over TFTP: http_url is not set" in said["BIOS"]
    assert "over TFTP: http_url is not set" in said["UEFI"]


def test_ipxe_uses_http_with_tftp_fallback_and_grub_only_without_secure_boot() -> None:
    said = lines(bios_loader="ipxe", uefi_loader="grub", http_url="http://192.0.2.1/isodrop/")
    assert "over HTTP from http://192.0.2.1/isodrop/, TFTP if that fails" in said["BIOS"]
    assert "over HTTP" in said["UEFI"] and "over TFTP with Secure Boot on" in said["UEFI"]


def test_syslinux_loaders_stay_on_tftp_even_with_http_url() -> None:
    said = lines(bios_loader="pxelinux", uefi_loader="syslinux-efi", http_url="http://192.0.2.1/isodrop/")
    assert "(pxelinux) get kernel and initrd over TFTP: only iPXE and GRUB use HTTP" in said["BIOS"]
    assert "(syslinux-efi) get kernel and initrd over TFTP" in said["UEFI"]
