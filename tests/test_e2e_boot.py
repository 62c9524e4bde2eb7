"""A PC network-boots a dropped ISO: `isodrop serve` + dnsmasq + nfs-ganesha + a QEMU PXE client.

Everything is real and started here: a network namespace with a bridge and a tap, dnsmasq from the
snippet in contrib/dnsmasq/ (only interface, addresses and TFTP root substituted), rpcbind + ganesha
driven by isodrop (`nfs_server = "ganesha"`), and QEMU (TCG unless real hardware virtualisation is there)
booting through the generated pxelinux (BIOS) or syslinux.efi (UEFI) menu to the live system's marker.
The live ISOs are genuine Debian-live images built from Debian's packages (tests/e2e/liveiso.py, cached).

One isodrop + dnsmasq + ganesha setup serves several boots (module and class fixtures); each boot gets a
fresh VM. Time from VM start to marker is printed for each run; over 3 minutes fails.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from isodrop.state import slug_for
from tests.e2e.liveiso import LiveIso, build_iso
from tests.e2e.netns import PrivateNet
from tests.e2e.procs import Proc
from tests.e2e.servers import DHCP_SNIPPET, PROXY_SNIPPET, start_dnsmasq, start_ganesha, start_router
from tests.e2e.vm import BOOT_FAILURES, MAX_BOOT_SECONDS, VM
from tests.servicekit import ServiceRun

pytestmark = [pytest.mark.network, pytest.mark.vm]

MEMTEST_ISO = Path("/usr/lib/memtest86+/memtest86+x64.iso")
NEEDED = {
    "qemu-system-x86_64": "qemu-system-x86",
    "dnsmasq": "dnsmasq-base",
    "ganesha.nfsd": "nfs-ganesha",
    "rpcbind": "rpcbind",
    "mkinitramfs": "initramfs-tools-core",
    "mksquashfs": "squashfs-tools",
    "xorriso": "xorriso",
}


def _missing() -> str:
    if os.geteuid() != 0:
        return "needs root (network namespaces, tap devices, private mounts)"
    absent = [pkg for tool, pkg in NEEDED.items() if shutil.which(tool) is None]
    if not Path("/usr/share/OVMF/OVMF_CODE.fd").exists():
        absent.append("ovmf")
    if absent:
        return "missing Debian packages (tests/apt-packages.txt, tests/setup.sh): " + " ".join(absent)
    return ""


if _missing():
    pytest.skip(f"e2e boot tests skipped: {_missing()}", allow_module_level=True)


def report(what: str, seconds: float) -> None:
    """Always shown, also without -s: the boot times are part of what this test measures."""
    sys.__stdout__.write(f"\n[e2e] {what}: VM start to marker {seconds:.1f} s\n")
    sys.__stdout__.flush()


@dataclass
class Stack:
    net: PrivateNet
    service: ServiceRun
    work: Path
    procs: list[Proc]

    def drop(self, source: Path, name: str | None = None) -> str:
        """Copy an ISO into the drop folder as a person would; wait until both menus and the export have it."""
        name = name or source.name
        shutil.copyfile(source, self.service.drop / name)
        slug = slug_for(name)
        self.service.wait_for(lambda: f"LABEL {slug}\n" in self.service.menu(), 180, f"menu entry {slug}")
        efi_menu = self.service.tftp / "efi64/pxelinux.cfg/default"
        assert f"LABEL {slug}\n" in efi_menu.read_text(), "UEFI menu lacks the entry the BIOS menu has"
        tree = self.service.trees / slug
        self.service.wait_for(lambda: str(tree) in self.exports(), 30, f"ganesha export of {tree}")
        return slug

    def exports(self) -> str:
        path = Path(str(self.service.settings["ganesha_exports_file"]))
        return path.read_text() if path.exists() else ""

    def vm(self, firmware: str, name: str) -> VM:
        for proc in self.procs:
            proc.check_alive()
        return VM(self.net, self.work, firmware=firmware, name=name)


def start_stack(snippet: Path, with_router: bool, menu_default: str) -> Iterator[Stack]:
    # Not under pytest's 0700 tmp dirs: dnsmasq serves TFTP as user nobody, like Debian's as user dnsmasq,
    # so the TFTP root must be reachable by others, exactly as on a user's machine.
    work = Path(tempfile.mkdtemp(prefix="isodrop-e2e-"))
    work.chmod(0o755)
    net = PrivateNet.create()
    procs: list[Proc] = []
    service: ServiceRun | None = None
    try:
        exports = work / "ganesha" / "isodrop.conf"
        procs.append(start_ganesha(net, exports, work))
        if with_router:
            procs.append(start_router(net, work))
        service = ServiceRun(
            work / "srv",
            nfs_server="ganesha",
            ganesha_exports_file=str(exports),
            ganesha_pid_file=str(work / "ganesha.pid"),
            dnsmasq_pid_file=str(work / "dnsmasq.pid"),
            server_address=net.server_ip,
            client_network=net.cidr,
            serial_console="ttyS0,115200",
            menu_default=menu_default,
            menu_timeout=30,
            settle_seconds=1.0,
        )
        service.tftp.mkdir(parents=True, exist_ok=True)
        procs.append(start_dnsmasq(net, snippet, service.tftp, work))
        service.start()
        yield Stack(net=net, service=service, work=work, procs=procs)
    finally:
        if service is not None:
            service.stop()
        for proc in reversed(procs):
            proc.stop()
        net.close()
        shutil.rmtree(work / "srv", ignore_errors=True)  # trees and ISO copies; the small logs stay
        sys.__stdout__.write(f"\n[e2e] logs (serial consoles, dnsmasq, ganesha, isodrop) in {work}\n")


@pytest.fixture(scope="module")
def live_isos() -> tuple[LiveIso, LiveIso]:
    """Two cached Debian-live ISOs with different markers (built once, ~1 min, then cached)."""
    return build_iso("e2e-one"), build_iso("e2e-two")


@pytest.fixture(scope="module")
def dhcp_stack() -> Iterator[Stack]:
    """dnsmasq as the network's DHCP server (contrib/dnsmasq/isodrop-dhcp.conf)."""
    yield from start_stack(DHCP_SNIPPET, False, "e2e-one.iso")


def boot_to_marker(stack: Stack, firmware: str, iso: LiveIso, what: str) -> float:
    vm = stack.vm(firmware, name=what.replace(" ", "-"))
    try:
        seconds = vm.wait_for(iso.marker, MAX_BOOT_SECONDS + 10, BOOT_FAILURES)
        report(what, seconds)
        assert seconds <= MAX_BOOT_SECONDS, f"{what}: marker after {seconds:.0f} s, more than 3 minutes"
        vm.wait_exit(30)  # the live system's init powers the VM off after the marker
        return seconds
    finally:
        vm.close()


def test_bios_boots_dropped_iso_through_pxelinux_menu(dhcp_stack: Stack, live_isos: tuple[LiveIso, LiveIso]) -> None:
    one, _ = live_isos
    slug = dhcp_stack.drop(one.path)
    menu = dhcp_stack.service.menu()
    assert f"DEFAULT {slug}" in menu and "SERIAL 0 115200" in menu
    boot_to_marker(dhcp_stack, "bios", one, "BIOS pxelinux")


def test_uefi_boots_through_syslinux_efi_menu(dhcp_stack: Stack, live_isos: tuple[LiveIso, LiveIso]) -> None:
    one, _ = live_isos
    slug = dhcp_stack.drop(one.path)  # already served by the BIOS test when run together; idempotent
    efi_menu = (dhcp_stack.service.tftp / "efi64/pxelinux.cfg/default").read_text()
    assert f"::isodrop/{slug}/live/vmlinuz" in efi_menu
    boot_to_marker(dhcp_stack, "uefi", one, "UEFI syslinux.efi")


def choose_at_boot_prompt(vm: VM, label: str) -> int:
    """Do what a person at the menu does: any key stops the countdown, Esc leaves the menu for the
    `boot:` prompt, then type the label and Enter. Returns the console position after typing."""
    vm.wait_for("isodrop network boot", 120, ("Failed to load", "PXE-E"))  # the menu title on the serial console
    vm.type("\x1b")
    vm.wait_for("boot:", 20)
    since = len(vm.text())
    vm.type(label + "\r")
    return since


def test_two_isos_non_default_chosen_by_keys_on_serial_console(
    dhcp_stack: Stack, live_isos: tuple[LiveIso, LiveIso]
) -> None:
    one, two = live_isos
    dhcp_stack.drop(one.path)
    slug_two = dhcp_stack.drop(two.path)
    menu = dhcp_stack.service.menu()
    assert f"DEFAULT {slug_for(one.path.name)}" in menu, "the default must stay the first ISO"
    vm = dhcp_stack.vm("bios", name="choose-two")
    try:
        since = choose_at_boot_prompt(vm, slug_two)
        failures = tuple(f for f in BOOT_FAILURES if f != "\nboot:") + (one.marker,)
        seconds = vm.wait_for(two.marker, MAX_BOOT_SECONDS + 10, failures, since=since)
        report("BIOS, second ISO chosen on the serial console", seconds)
        assert one.marker not in vm.text()
        assert seconds <= MAX_BOOT_SECONDS
    finally:
        vm.close()


def test_removed_iso_entry_export_and_boot_are_gone(dhcp_stack: Stack, live_isos: tuple[LiveIso, LiveIso]) -> None:
    _, two = live_isos
    slug = dhcp_stack.drop(two.path)
    tree = dhcp_stack.service.trees / slug
    (dhcp_stack.service.drop / two.path.name).unlink()
    dhcp_stack.service.wait_for(lambda: f"LABEL {slug}\n" not in dhcp_stack.service.menu(), 60, "entry removal")
    dhcp_stack.service.wait_for(lambda: str(tree) not in dhcp_stack.exports(), 30, "export removal")
    dhcp_stack.service.wait_for(lambda: not tree.exists(), 30, "tree removal")
    efi_menu = (dhcp_stack.service.tftp / "efi64/pxelinux.cfg/default").read_text()
    assert f"LABEL {slug}\n" not in efi_menu
    vm = dhcp_stack.vm("bios", name="removed")
    try:
        since = choose_at_boot_prompt(vm, slug)
        # pxelinux looks the label up, finds nothing and says so at once: no waiting for NFS timeouts.
        vm.wait_for("Could not find kernel image", 30, (two.marker,), since=since)
        assert two.marker not in vm.text()
    finally:
        vm.close()


def test_memtest_iso_entry_appears_and_its_kernel_starts(dhcp_stack: Stack) -> None:
    if not MEMTEST_ISO.exists():
        pytest.skip(f"{MEMTEST_ISO} missing: install memtest86+ (tests/apt-packages.txt)")
    slug = dhcp_stack.drop(MEMTEST_ISO)
    menu = dhcp_stack.service.menu()
    assert f"LABEL {slug}\n" in menu
    vm = dhcp_stack.vm("bios", name="memtest")
    try:
        since = choose_at_boot_prompt(vm, slug)
        seconds = vm.wait_for("Memtest86+", 120, ("Could not find kernel image", "Failed to load"), since=since)
        report("BIOS, memtest86+ kernel (serial output)", seconds)
    finally:
        vm.close()


class TestProxyDhcp:
    """Beside a home router: a DHCP-only dnsmasq in its own namespace hands out addresses, isodrop's
    dnsmasq runs contrib/dnsmasq/isodrop-proxy.conf and only tells PXE clients where to boot from."""

    @pytest.fixture(scope="class")
    def proxy_stack(self, live_isos: tuple[LiveIso, LiveIso]) -> Iterator[Stack]:
        for stack in start_stack(PROXY_SNIPPET, True, "first"):
            stack.drop(live_isos[0].path)
            yield stack

    def test_bios_boots_in_proxy_mode(self, proxy_stack: Stack, live_isos: tuple[LiveIso, LiveIso]) -> None:
        boot_to_marker(proxy_stack, "bios", live_isos[0], "BIOS proxy-DHCP")
        leases = (proxy_stack.work / "router.log").read_text()
        assert "DHCPACK" in leases, "the router stand-in, not isodrop's dnsmasq, must lease the address"

    def test_uefi_boots_in_proxy_mode(self, proxy_stack: Stack, live_isos: tuple[LiveIso, LiveIso]) -> None:
        boot_to_marker(proxy_stack, "uefi", live_isos[0], "UEFI proxy-DHCP")
        assert "DHCPACK" not in (proxy_stack.work / "dnsmasq.log").read_text(), "proxy mode must not lease"
