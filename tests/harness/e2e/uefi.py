"""UEFI boots shared by the VM tests: the console lines that mean a failed boot, the files a Secure Boot
boot needs, and a signed Debian kernel booted through shim + GRUB with Secure Boot on."""

from __future__ import annotations

from pathlib import Path

from isodrop.state import slug_for
from tests.harness.e2e.boottimes import report
from tests.harness.e2e.liveiso import LiveIso
from tests.harness.e2e.stack import Stack
from tests.harness.e2e.vm import BOOT_FAILURES, MAX_BOOT_SECONDS, OVMF_CODE_SECBOOT, OVMF_VARS_MS, VM
from tests.harness.e2e.vmtests import missing

GRUB_MENU = "grub/grub.cfg"

# GRUB and shim failures on the console: stop waiting at once.
UEFI_FAILURES = (*BOOT_FAILURES, "error: ", "grub>", "Verification failed", "bad shim signature")
SECURE_BOOT_FILES = (
    OVMF_CODE_SECBOOT,
    OVMF_VARS_MS,
    Path("/usr/lib/shim/shimx64.efi.signed"),
    Path("/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed"),
)


def uefi_missing() -> str:
    absent = [str(p) for p in SECURE_BOOT_FILES if not p.exists()]
    if absent:
        return "missing (ovmf, shim-signed, grub-efi-amd64-signed in tests/apt-packages.txt): " + " ".join(absent)
    return missing()


def boot(vm: VM, iso: LiveIso, what: str, failures: tuple[str, ...] = UEFI_FAILURES, since: int = 0) -> float:
    seconds = vm.wait_for(iso.marker, MAX_BOOT_SECONDS + 10, failures, since=since)
    report(what, seconds)
    assert seconds <= MAX_BOOT_SECONDS, f"{what}: marker after {seconds:.0f} s, more than 3 minutes"
    return seconds


def boot_signed_with_secure_boot_on(stack: Stack, signed: LiveIso, name: str, what: str) -> None:
    """A Secure Boot PC (OVMF's own PXE stack) sees GRUB's menu, an unsigned entry (if any) not offered
    to boot (no "(no Secure Boot)" mark: it is "(needs Secure Boot off)" there), and boots the signed
    default to its marker, kernel and initrd over TFTP, the kernel seeing Secure Boot on."""
    # OVMF's own PXE stack: QEMU's iPXE NIC ROM (2019) leaves shim's TFTP buffer size at 4 MiB, and
    # shim then refuses GRUB ("Malformed binary after Attribute Certificate Table"), see the README.
    vm = stack.vm("uefi", name=name, secure_boot=True, firmware_pxe=True)
    try:
        vm.wait_for("Boot from local disk", 150, UEFI_FAILURES)  # GRUB's menu, drawn on the serial console
        shown = vm.text()
        assert "(no Secure Boot)" not in shown, "an unsigned entry must not be offered to boot with Secure Boot on"
        boot(vm, signed, f"UEFI Secure Boot ON, {what} (signed kernel)")
        # Locked down, GRUB may not load http.mod: kernel and initrd came over TFTP.
        assert f"Loading iso-{slug_for(signed.path.name)} over TFTP" in vm.text()
    finally:
        vm.close()
    kernel_log = vm.text()
    assert "secureboot: Secure boot enabled" in kernel_log, "the kernel must see Secure Boot on"
