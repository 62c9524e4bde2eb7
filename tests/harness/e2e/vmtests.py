"""What the VM test modules (tests/system/test_e2e_*.py) share: the marker that makes a test a VM test,
the Debian packages they need, and readers of the servers' logs and the live system's marker."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from tests.harness.e2e.boottimes import report
from tests.harness.e2e.liveiso import LiveIso
from tests.harness.e2e.stack import Stack
from tests.harness.e2e.vm import BOOT_FAILURES, MAX_BOOT_SECONDS, SerialVM


def vm_test(func):  # type: ignore[no-untyped-def]
    """Boots a VM on a private network: needs root, namespaces, QEMU, dnsmasq, ganesha."""
    return pytest.mark.network(pytest.mark.vm(func))


NEEDED = {
    "qemu-system-x86_64": "qemu-system-x86",
    "dnsmasq": "dnsmasq-base",
    "ganesha.nfsd": "nfs-ganesha",
    "rpcbind": "rpcbind",
    "mkinitramfs": "initramfs-tools-core",
    "mksquashfs": "squashfs-tools",
    "xorriso": "xorriso",
}


def missing() -> str:
    """Why the VM tests cannot run here (no root, a missing package or OVMF), or "" when they can."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, tap devices, private mounts)"
    absent = [pkg for tool, pkg in NEEDED.items() if shutil.which(tool) is None]
    if not Path("/usr/share/OVMF/OVMF_CODE.fd").exists():
        absent.append("ovmf")
    if absent:
        return "missing Debian packages (tests/apt-packages.txt, tests/setup.sh): " + " ".join(absent)
    return ""


IPXE_FAILURES = (*BOOT_FAILURES, "This entry did not boot", "No such file", "Connection reset")


def http_gets(stack: Stack) -> list[tuple[str, int]]:
    """(path, status) of every GET nginx logged so far."""
    log = stack.proc("nginx").access_log.read_text()  # type: ignore[attr-defined]
    return [(m[1], int(m[2])) for m in re.finditer(r'"GET (\S+) HTTP/[\d.]+" (\d+)', log)]


def boot(stack: Stack, vm: SerialVM, iso: LiveIso, what: str, since: int = 0, failures=IPXE_FAILURES) -> float:
    try:
        seconds = vm.wait_for(iso.marker, MAX_BOOT_SECONDS + 10, failures, since=since)
        report(what, seconds)
        assert seconds <= MAX_BOOT_SECONDS, f"{what}: marker after {seconds:.0f} s, more than 3 minutes"
        return seconds
    finally:
        vm.close()


def tftp_sent(stack: Stack, name: str) -> int:
    """How often dnsmasq logged sending a file whose path ends in `name` over TFTP."""
    log = (stack.work / "dnsmasq.log").read_text(errors="replace")
    return sum(1 for line in log.splitlines() if "dnsmasq-tftp" in line and line.split(" to ")[0].endswith(name))
