"""An ISO's own Secure Boot chain, end to end (issue 19): the cells of the Secure Boot matrix that are not
in test_e2e_uefi.py and test_e2e_trixie_loaders.py (docs/booting.md "The Secure Boot matrix" lists them all).

All real: `isodrop serve`, dnsmasq from the shipped snippets (with `tftp-unique-root=mac`), ganesha, QEMU
with OVMF's Secure Boot build and the firmware's own PXE. The PC's `db` holds Microsoft's keys plus the test
CA (tests/harness/e2e/testvendor.py), the stand-in for Microsoft's third-party CA that signs vendors'
shims. The vendor ISO is Fedora 41's layout (dracut, NFS root) carrying the test vendor's shim, MokManager
and network GRUB (Debian 13's 2.12 modules: the proxy patch, as Fedora's) in `EFI/BOOT/`, its kernel signed
by the vendor (tests/harness/e2e/vendoriso.py); Debian's shim refuses that kernel.
- Proxy beside a plain router (Debian 13's shim and GRUB served): Secure Boot on, the entry says it
  restarts into the vendor's chain; chosen by keys, the PC restarts, its next network boot runs the ISO's
  own shim and GRUB from the TFTP folder isodrop wrote for that PC, and the live system comes up; the folder
  is gone once the PC took the initrd. The unsigned and the stranger-signed ISOs say "(needs Secure Boot
  off)" on that menu. Secure Boot off: the vendor ISO, and the unsigned one, boot through Debian's chain.
- isodrop's dnsmasq as the DHCP server (Debian 12's loaders): the same hand-over with Secure Boot on; with it
  off, the vendor ISO boots through Debian's chain.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator

import pytest

from isodrop.clients import mac_folder
from isodrop.state import slug_for
from tests.harness.e2e.boottimes import boot_times, report  # noqa: F401 (boot_times: autouse)
from tests.harness.e2e.handover import vendor_net_grub
from tests.harness.e2e.liveiso import LiveIso, build_iso
from tests.harness.e2e.servers import DHCP_SNIPPET, PROXY_SNIPPET
from tests.harness.e2e.stack import Stack, running_stack
from tests.harness.e2e.testvendor import VendorKit, vendor_kit
from tests.harness.e2e.trixie_debs import trixie_loaders
from tests.harness.e2e.uefi import GRUB_MENU, UEFI_FAILURES, uefi_missing
from tests.harness.e2e.vendoriso import VendorIso, build_vendor_iso
from tests.harness.e2e.vm import BOOT_FAILURES, VM
from tests.harness.e2e.vmtests import vm_test

CTRL_N, CTRL_P = "\x0e", "\x10"  # GRUB: next, previous entry
MAC = "52:54:00:12:34:56"  # the VM's
MAX_HANDOVER_SECONDS = 420  # two network boots under TCG: isodrop's menu, then the vendor's chain to the marker
# After the choice: the vendor chain must never be refused or fall to a prompt; "error: " is not a failure
# here, since GRUB prints the hand-over request's "file ... not found" as one.
DRACUT_FAILURES = ("Entering emergency mode", "Press Enter for maintenance", "Failed to download live image")
HANDOVER_FAILURES = (
    *BOOT_FAILURES,
    *DRACUT_FAILURES,
    "grub>",
    "Verification failed",
    "bad shim signature",
    "Access Denied",
)
# Fedora 41's plain squashfs root needs rd.live.overlay.overlayfs=1 with Debian's dracut 059 (Fedora's newer
# dracut does it on its own): a sidecar adds it, as in test_e2e_families.py.
FEDORA_41_SIDECAR = 'add_params = ["rd.live.overlay.overlayfs=1"]\n'


@pytest.fixture(scope="module")
def kit() -> VendorKit:
    if uefi_missing():
        pytest.skip(f"VM tests skipped: {uefi_missing()}")
    return vendor_kit()


@pytest.fixture(scope="module")
def isos(kit: VendorKit) -> tuple[VendorIso, VendorIso, LiveIso]:
    """The vendor's ISO, the same signed by a stranger (its own chain refuses the kernel), and a Debian
    live ISO whose kernel is unsigned."""
    grub = vendor_net_grub(kit)
    vendor = build_vendor_iso(kit, grub, "fedora-testvendor")
    stranger = build_vendor_iso(kit, grub, "fedora-stranger", signer="stranger")
    return vendor, stranger, build_iso("e2e-unsigned", unsigned_kernel=True)


def serve(stack: Stack, isos: tuple[VendorIso, VendorIso, LiveIso]) -> None:
    vendor, stranger, unsigned = isos
    (stack.service.drop / f"{vendor.path.name}.toml").write_text(FEDORA_41_SIDECAR)
    for path in (vendor.path, stranger.path, unsigned.path):
        stack.drop(path)
    tftp = stack.service.tftp
    stack.service.wait_for(lambda: "restarts into" in (tftp / GRUB_MENU).read_text(), 30, "the hand-over entry")


@pytest.fixture(scope="module")
def proxy_stack(kit: VendorKit, isos: tuple[VendorIso, VendorIso, LiveIso]) -> Iterator[Stack]:
    """Proxy-DHCP beside a router that names no boot server; Debian 13's shim and GRUB 2.12 (they read
    the proxy offer); dnsmasq's log followed by isodrop (the hand-over requests)."""
    settings = trixie_loaders().isodrop_settings()
    with running_stack(
        PROXY_SNIPPET, with_router=True, menu_default="first", dnsmasq_log=True, uefi_loader="grub", **settings
    ) as stack:
        print(f"[e2e] logs of the vendor-chain proxy setup: {stack.work}")
        serve(stack, isos)
        yield stack


@pytest.fixture(scope="module")
def dhcp_stack(kit: VendorKit, isos: tuple[VendorIso, VendorIso, LiveIso]) -> Iterator[Stack]:
    """isodrop's dnsmasq as the DHCP server, Debian 12's shim and GRUB 2.06."""
    with running_stack(
        DHCP_SNIPPET, with_router=False, menu_default="first", dnsmasq_log=True, uefi_loader="grub"
    ) as stack:
        print(f"[e2e] logs of the vendor-chain DHCP setup: {stack.work}")
        serve(stack, isos)
        yield stack


def entries(stack: Stack) -> dict[str, dict[str, object]]:
    out = stack.service.command("status", "--json").stdout
    return {e["slug"]: e for e in json.loads(out)["entries"]}


def title_of(stack: Stack, slug: str) -> str:
    """The entry's title as isodrop's GRUB menu has it (the label isodrop made from the ISO)."""
    menu = (stack.service.tftp / GRUB_MENU).read_text()
    marks = r"(?: \((?:no Secure Boot|needs Secure Boot off|restarts into [^']*)\))?"
    found = re.search(rf"menuentry '([^']*?){marks}' --id 'iso-{re.escape(slug)}'", menu)
    assert found, f"no entry iso-{slug} in the GRUB menu"
    return found[1]


def highlight(vm: VM, title: str, key: str) -> int:
    """`key` (Ctrl-N or Ctrl-P) until GRUB marks the entry whose title starts with `title` ("*" on a
    serial terminal; GRUB cuts titles at the menu's width)."""
    if "*" + title[:60] in vm.text():  # already the default: a key there and back stops the countdown
        since = len(vm.text())
        vm.type(CTRL_N, delay=0.3)
        vm.type(CTRL_P, delay=0.3)
        vm.wait_for("*" + title[:60], 8, UEFI_FAILURES, since=since)
        return len(vm.text())
    for _ in range(6):
        since = len(vm.text())
        vm.type(key, delay=0.3)
        try:
            vm.wait_for("*" + title[:60], 8, UEFI_FAILURES, since=since)
            return len(vm.text())
        except TimeoutError:
            continue
    raise AssertionError(f"{title!r} never highlighted:\n{vm.tail()}")


def dnsmasq_lines(stack: Stack) -> list[str]:
    return (stack.work / "dnsmasq-facility.log").read_text(errors="replace").splitlines()


def hand_over(stack: Stack, kit: VendorKit, isos: tuple[VendorIso, VendorIso, LiveIso], name: str, what: str) -> None:
    """Secure Boot on: isodrop's menu offers the vendor ISO as a restart into its own chain (and the
    others as needing Secure Boot off); chosen, the PC restarts and boots the live system through the
    ISO's own shim and GRUB from its own folder, which isodrop then removes."""
    vendor, stranger, unsigned = isos
    slug = slug_for(vendor.path.name)
    chain = entries(stack)[slug]["vendor_chain"]
    assert isinstance(chain, dict) and chain["usable"] and chain["vendor"] == "isodrop test vendor", chain
    title = title_of(stack, slug)
    folder = stack.service.tftp / mac_folder(MAC)
    assert not folder.exists()
    since_log = len(dnsmasq_lines(stack))
    vm = stack.vm("uefi", name=name, secure_boot=True, firmware_pxe=True, secure_boot_vars=kit.ovmf_vars, reboot=True)
    try:
        vm.wait_for("Boot from local disk", 150, UEFI_FAILURES)  # isodrop's menu, Debian's chain
        shown = vm.text()
        # GRUB cuts a title at the menu's width (here after "(restarts into is")
        assert re.search(re.escape(title[:30]) + r"[^*>]{0,60}\(restarts into", shown), "it must say it restarts"
        for other in (stranger, unsigned):
            other_title = title_of(stack, slug_for(other.path.name))
            assert re.search(re.escape(other_title[:30]) + r"[^*>]{0,60}\(needs Secure", shown), other_title
        since = highlight(vm, title, CTRL_P)  # the default is the last entry: local disk
        vm.type("\r", delay=0.3)
        vm.wait_for(f"handover/{slug}/{MAC}", 30, UEFI_FAILURES, since=since)  # the request, on the screen
        seconds = vm.wait_for(vendor.marker, MAX_HANDOVER_SECONDS, HANDOVER_FAILURES, since=since)
        report(what, seconds)
        assert "secureboot: Secure boot enabled" in vm.text()[since:], "the kernel must see Secure Boot on"
    finally:
        vm.close()
    lines = dnsmasq_lines(stack)[since_log:]
    asked = [n for n, line in enumerate(lines) if f"handover/{slug}/{MAC} not found" in line]
    from_folder = [n for n, line in enumerate(lines) if f"sent {folder}/efi64/bootx64.efi" in line]
    assert asked and from_folder and asked[0] < from_folder[0], "the vendor's shim came from the PC's folder"
    assert any(f"sent {folder}/" in line and "initrd" in line for line in lines), "the initrd from the folder"
    deadline = time.monotonic() + 30
    while folder.exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not folder.exists(), "a one-shot hand-over ends once the PC took the initrd"


@vm_test
def test_proxy_secure_boot_on_vendor_iso_restarts_into_its_own_chain(
    proxy_stack: Stack, kit: VendorKit, isos: tuple[VendorIso, VendorIso, LiveIso]
) -> None:
    hand_over(proxy_stack, kit, isos, "vendor-proxy-sb", "UEFI Secure Boot ON, proxy, hand-over to the vendor chain")
    stranger = entries(proxy_stack)[slug_for(isos[1].path.name)]
    assert "its kernel is not signed by isodrop test vendor" in str(stranger["secure_boot"]), stranger


def boot_by_keys(stack: Stack, kit: VendorKit, iso: VendorIso | LiveIso, name: str, what: str) -> None:
    """Secure Boot off: the entry chosen by keys boots through Debian's chain, no hand-over."""
    title = title_of(stack, slug_for(iso.path.name))
    vm = stack.vm("uefi", name=name, firmware_pxe=True, secure_boot_vars=kit.ovmf_vars)
    try:
        vm.wait_for("Boot from local disk", 150, UEFI_FAILURES)
        assert "restarts into" not in vm.text(), "with Secure Boot off nothing is handed over"
        since = highlight(vm, title, CTRL_N)
        vm.type("\r", delay=0.3)
        seconds = vm.wait_for(iso.marker, 300, (*UEFI_FAILURES, *DRACUT_FAILURES), since=since)
        report(what, seconds)
    finally:
        vm.close()
    assert not (stack.service.tftp / mac_folder(MAC)).exists()


@vm_test
def test_proxy_secure_boot_off_vendor_iso_boots_through_debians_chain(
    proxy_stack: Stack, kit: VendorKit, isos: tuple[VendorIso, VendorIso, LiveIso]
) -> None:
    boot_by_keys(proxy_stack, kit, isos[0], "vendor-proxy-nosb", "UEFI Secure Boot off, proxy, vendor kernel")


@vm_test
def test_proxy_secure_boot_off_unsigned_iso_boots(
    proxy_stack: Stack, kit: VendorKit, isos: tuple[VendorIso, VendorIso, LiveIso]
) -> None:
    boot_by_keys(proxy_stack, kit, isos[2], "unsigned-proxy-nosb", "UEFI Secure Boot off, proxy, unsigned kernel")


@vm_test
def test_dhcp_secure_boot_on_vendor_iso_restarts_into_its_own_chain(
    dhcp_stack: Stack, kit: VendorKit, isos: tuple[VendorIso, VendorIso, LiveIso]
) -> None:
    hand_over(
        dhcp_stack, kit, isos, "vendor-dhcp-sb", "UEFI Secure Boot ON, DHCP server, hand-over to the vendor chain"
    )


@vm_test
def test_dhcp_secure_boot_off_vendor_iso_boots_through_debians_chain(
    dhcp_stack: Stack, kit: VendorKit, isos: tuple[VendorIso, VendorIso, LiveIso]
) -> None:
    boot_by_keys(dhcp_stack, kit, isos[0], "vendor-dhcp-nosb", "UEFI Secure Boot off, DHCP server, vendor kernel")
