"""A PC network-boots a dropped ISO: `isodrop serve` + dnsmasq + nfs-ganesha + a QEMU PXE client.

Everything is real and started here: a network namespace with a bridge and a tap, dnsmasq from the
snippet in contrib/dnsmasq/ (only interface, addresses and TFTP root substituted), rpcbind + ganesha
driven by isodrop (`nfs_server = "ganesha"`), and QEMU (TCG unless real hardware virtualisation is there)
booting through the generated pxelinux (BIOS) or syslinux.efi (UEFI) menu to the live system's marker.
The live ISOs are genuine Debian-live images built from Debian's packages (tests/harness/e2e/liveiso.py, cached).

One isodrop + dnsmasq + ganesha setup serves several boots (module and class fixtures); each boot gets a
fresh VM. Time from VM start to marker is printed for each run; over 3 minutes fails.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from isodrop.state import slug_for
from tests.harness.e2e.boottimes import boot_times, note, report  # noqa: F401 (boot_times: autouse)
from tests.harness.e2e.liveiso import LiveIso
from tests.harness.e2e.netns import PrivateNet
from tests.harness.e2e.servers import DHCP_SNIPPET, PROXY_SNIPPET, render_snippet
from tests.harness.e2e.stack import Stack, running_stack
from tests.harness.e2e.vm import BOOT_FAILURES, MAX_BOOT_SECONDS, VM
from tests.harness.e2e.vmtests import vm_test

MEMTEST_ISO = Path("/usr/lib/memtest86+/memtest86+x64.iso")


@pytest.fixture(scope="module")
def dhcp_stack(live_isos: tuple[LiveIso, LiveIso]) -> Iterator[Stack]:
    """dnsmasq as the network's DHCP server (contrib/dnsmasq/isodrop-dhcp.conf)."""
    with running_stack(DHCP_SNIPPET, with_router=False, menu_default="e2e-one.iso") as stack:
        note(f"[e2e] logs of the DHCP-mode setup: {stack.work}")
        yield stack


def boot_to_marker(stack: Stack, firmware: str, iso: LiveIso, what: str) -> float:
    # UEFI PCs get shim (uefi_loader = "grub"), which cannot fetch GRUB through QEMU's iPXE NIC ROM:
    # boot them from OVMF's own PXE stack, as a real PC does (tests/system/test_e2e_uefi.py, README).
    options = {"firmware_pxe": True} if firmware == "uefi" else {}
    vm = stack.vm(firmware, name=what.replace(" ", "-"), **options)
    try:
        seconds = vm.wait_for(iso.marker, MAX_BOOT_SECONDS + 10, BOOT_FAILURES)
        report(what, seconds)
        assert seconds <= MAX_BOOT_SECONDS, f"{what}: marker after {seconds:.0f} s, more than 3 minutes"
        vm.wait_exit(30)  # the live system's init powers the VM off after the marker
        return seconds
    finally:
        vm.close()


@vm_test
def test_bios_boots_dropped_iso_through_pxelinux_menu(dhcp_stack: Stack, live_isos: tuple[LiveIso, LiveIso]) -> None:
    one, _ = live_isos
    slug = dhcp_stack.drop(one.path)
    menu = dhcp_stack.service.menu()
    assert f"DEFAULT iso-{slug}" in menu and "SERIAL 0 115200" in menu
    boot_to_marker(dhcp_stack, "bios", one, "BIOS pxelinux")


@vm_test
def test_uefi_boots_through_the_default_uefi_loader(dhcp_stack: Stack, live_isos: tuple[LiveIso, LiveIso]) -> None:
    one, _ = live_isos
    slug = dhcp_stack.drop(one.path)  # already served by the BIOS test when run together; idempotent
    efi_menu = (dhcp_stack.service.tftp / "efi64/pxelinux.cfg/default").read_text()
    assert f"::isodrop/{slug}/live/vmlinuz" in efi_menu  # syslinux.efi's menu stays written
    assert f"--id 'iso-{slug}'" in (dhcp_stack.service.tftp / "grub/grub.cfg").read_text()
    boot_to_marker(dhcp_stack, "uefi", one, "UEFI shim + GRUB (default uefi_loader)")


def choose_at_boot_prompt(vm: VM, label: str) -> int:
    """Do what a person at the menu does: any key stops the countdown, Esc leaves the menu for the
    `boot:` prompt, then type the label and Enter. Returns the console position after typing."""
    vm.wait_for("isodrop network boot", 120, ("Failed to load", "PXE-E"))  # the menu title on the serial console
    vm.type("\x1b")
    vm.wait_for("boot:", 20)
    since = len(vm.text())
    vm.type(label + "\r")
    return since


@vm_test
def test_two_isos_non_default_chosen_by_keys_on_serial_console(
    dhcp_stack: Stack, live_isos: tuple[LiveIso, LiveIso]
) -> None:
    one, two = live_isos
    dhcp_stack.drop(one.path)
    slug_two = dhcp_stack.drop(two.path)
    menu = dhcp_stack.service.menu()
    assert f"DEFAULT iso-{slug_for(one.path.name)}" in menu, "the default must stay the first ISO"
    vm = dhcp_stack.vm("bios", name="choose-two")
    try:
        since = choose_at_boot_prompt(vm, f"iso-{slug_two}")
        failures = tuple(f for f in BOOT_FAILURES if f != "\nboot:") + (one.marker,)
        seconds = vm.wait_for(two.marker, MAX_BOOT_SECONDS + 10, failures, since=since)
        report("BIOS, second ISO chosen on the serial console", seconds)
        assert one.marker not in vm.text()
        assert seconds <= MAX_BOOT_SECONDS
    finally:
        vm.close()


@vm_test
def test_removed_iso_entry_export_and_boot_are_gone(dhcp_stack: Stack, live_isos: tuple[LiveIso, LiveIso]) -> None:
    _, two = live_isos
    slug = dhcp_stack.drop(two.path)
    tree = dhcp_stack.service.trees / slug
    (dhcp_stack.service.drop / two.path.name).unlink()
    dhcp_stack.service.wait_for(lambda: f"LABEL iso-{slug}\n" not in dhcp_stack.service.menu(), 60, "entry removal")
    dhcp_stack.service.wait_for(lambda: str(tree) not in dhcp_stack.exports(), 30, "export removal")
    dhcp_stack.service.wait_for(lambda: not tree.exists(), 30, "tree removal")
    efi_menu = (dhcp_stack.service.tftp / "efi64/pxelinux.cfg/default").read_text()
    assert f"LABEL iso-{slug}\n" not in efi_menu
    vm = dhcp_stack.vm("bios", name="removed")
    try:
        since = choose_at_boot_prompt(vm, f"iso-{slug}")
        # pxelinux finds no such label, tries it as a file name over TFTP and says so at once.
        vm.wait_for(f"Loading iso-{slug}... failed", 30, (two.marker, "Kernel command line"), since=since)
        assert two.marker not in vm.text()
    finally:
        vm.close()


@vm_test
def test_memtest_iso_entry_appears_and_its_kernel_starts(dhcp_stack: Stack) -> None:
    if not MEMTEST_ISO.exists():
        pytest.skip(f"{MEMTEST_ISO} missing: install memtest86+ (tests/apt-packages.txt)")
    slug = dhcp_stack.drop(MEMTEST_ISO, uefi=False)  # its kernel is a BIOS (16/32-bit) image only
    menu = dhcp_stack.service.menu()
    assert f"LABEL iso-{slug}\n" in menu
    vm = dhcp_stack.vm("bios", name="memtest")
    try:
        since = choose_at_boot_prompt(vm, f"iso-{slug}")
        seconds = vm.wait_for("Memtest86+ v", 120, ("Could not find kernel image", "Failed to load"), since=since)
        report("BIOS, memtest86+ kernel (serial output)", seconds)
    finally:
        vm.close()


@vm_test
class TestProxyDhcp:
    """Beside a home router: a DHCP-only dnsmasq in its own namespace hands out addresses, isodrop's
    dnsmasq runs contrib/dnsmasq/isodrop-proxy.conf and only tells PXE clients where to boot from."""

    @pytest.fixture(scope="class")
    def proxy_stack(self, live_isos: tuple[LiveIso, LiveIso]) -> Iterator[Stack]:
        # The router names isodrop's server as next-server for UEFI clients: Debian's GRUB needs it in
        # proxy mode (README "Proxy-DHCP and UEFI").
        router_args = (
            "--dhcp-match=set:efi64,option:client-arch,7",
            "--dhcp-boot=tag:efi64,,,{server}",
        )
        with running_stack(PROXY_SNIPPET, with_router=True, menu_default="first", router_args=router_args) as stack:
            note(f"[e2e] logs of the proxy-DHCP setup: {stack.work}")
            stack.drop(live_isos[0].path)
            yield stack

    def test_bios_boots_in_proxy_mode(self, proxy_stack: Stack, live_isos: tuple[LiveIso, LiveIso]) -> None:
        boot_to_marker(proxy_stack, "bios", live_isos[0], "BIOS proxy-DHCP")
        leases = (proxy_stack.work / "router.log").read_text()
        assert "DHCPACK" in leases, "the router stand-in, not isodrop's dnsmasq, must lease the address"

    def test_uefi_boots_in_proxy_mode(self, proxy_stack: Stack, live_isos: tuple[LiveIso, LiveIso]) -> None:
        boot_to_marker(proxy_stack, "uefi", live_isos[0], "UEFI proxy-DHCP")
        assert "DHCPACK" not in (proxy_stack.work / "dnsmasq.log").read_text(), "proxy mode must not lease"


@pytest.mark.parametrize("snippet", [DHCP_SNIPPET, PROXY_SNIPPET], ids=["dhcp", "proxy"])
def test_dnsmasq_snippet_fits_beside_debians_default_config(snippet: Path, tmp_path: Path) -> None:
    """The snippets go to /etc/dnsmasq.d/ next to Debian's default dnsmasq (DNS on port 53, user dnsmasq):
    they must parse, must leave DNS and the user alone, and the tests change only interface and addresses
    (the proxy snippet names no network: `isodrop setup-dnsmasq` writes that part, with no hand edit)."""
    if shutil.which("dnsmasq") is None:
        pytest.skip("dnsmasq missing: install dnsmasq-base (tests/apt-packages.txt)")
    shipped = snippet.read_text()
    settings = [line.split("=", 1)[0] for line in shipped.splitlines() if line and not line.startswith("#")]
    for forbidden in ("port", "user", "group", "conf-dir", "no-resolv", "tftp-secure"):
        assert forbidden not in settings, f"{snippet.name} sets {forbidden}=, which would change Debian's dnsmasq"
    if snippet == PROXY_SNIPPET:
        assert "CHANGE ME" not in shipped and "interface" not in settings and "dhcp-range" not in settings
    else:
        assert shipped.count("CHANGE ME") >= 2, "the lines a user must adapt are marked"
    net = PrivateNet(name="unused", subnet=7)
    rendered = render_snippet(snippet, net, tmp_path)
    pairs = zip(shipped.splitlines(), rendered.splitlines()[: len(shipped.splitlines())], strict=True)
    changed = {a.split("=", 1)[0] for a, b in pairs if a != b}
    assert changed <= {"interface", "dhcp-range", "tftp-root", "dhcp-option", "log-facility"}, changed
    for text in (shipped, rendered):
        conf = tmp_path / "snippet.conf"
        conf.write_text(text)
        result = subprocess.run(["dnsmasq", "--test", f"--conf-file={conf}"], capture_output=True, text=True)
        assert result.returncode == 0 and "syntax check OK" in result.stderr, result.stderr
