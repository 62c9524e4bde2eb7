"""Per-PC entries boot for real: PCs with different MAC addresses boot different entries at the timeout,
and a one-shot boots once, then the normal default (isodrop.pins).

One stack (isodrop serve + dnsmasq from contrib/dnsmasq/ as DHCP server + ganesha), the two cached
Debian-live ISOs, menu_default = the first one; pins set with `isodrop pin` while the service runs (no
reload). No key is pressed in any boot.
- BIOS (QEMU's iPXE ROM chains pxelinux): PC A pinned to the second ISO boots it (pxelinux reads
  pxelinux.cfg/01-<mac>); PC B, not pinned, boots the normal default.
- UEFI (OVMF's own PXE stack, shim + Debian's signed GRUB 2.06, Secure Boot off): PC C pinned --once to
  the second ISO boots it (grub.cfg branches on $net_default_mac to its own menu); dnsmasq's log line
  "sent .../grub/clients/01-<mac>.cfg" uses the one-shot up, and PC C's next boot is the normal default.
  dnsmasq's log also shows that this GRUB asks for no grub.cfg-01-<mac> of its own.
- By IP network and DHCP host name: PC D gets a fixed address and host name from dnsmasq (dhcp-host).
  BIOS pxelinux: a /28 around its address boots the pinned entry (pxelinux reads pxelinux.cfg/<7 hex
  digits> after 01-<mac>). UEFI GRUB: the same network pin (regexp on $net_default_ip), then a host
  name pin (net_efinet0_hostname from DHCP option 12) each boot the pinned entry.
- iPXE's own menu (a second stack with bios_loader = "ipxe"): PC D pinned by host name, then PC A by
  MAC, boot their entry (menu-pcbios.ipxe branches on ${hostname} and ${mac} to their own scripts).
- Secure Boot on (OVMF with Microsoft's keys, shim + signed GRUB locked down): PC E pinned by MAC boots
  its entry, the kernel seeing Secure Boot on.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

import pytest

from isodrop import pins
from tests.harness.e2e.boottimes import boot_times, note, report  # noqa: F401 (boot_times: autouse)
from tests.harness.e2e.liveiso import LiveIso
from tests.harness.e2e.servers import DHCP_SNIPPET
from tests.harness.e2e.stack import Stack, running_stack
from tests.harness.e2e.vm import BOOT_FAILURES, MAX_BOOT_SECONDS
from tests.harness.e2e.vmtests import vm_test

PC_A, PC_B, PC_C = "52:54:00:00:0a:01", "52:54:00:00:0b:02", "52:54:00:00:0c:03"
PC_E = "52:54:00:00:0e:05"
PC_D, PC_D_HOST, PC_D_LAST_OCTET = "52:54:00:00:0d:04", "lab-pc-7", 150
PC_D_LEASE = f"--dhcp-host={PC_D},{{prefix}}.{PC_D_LAST_OCTET},{PC_D_HOST}"
UEFI_FAILURES = (*BOOT_FAILURES, "error: ", "grub>")


def stack_with_both_isos(live_isos: tuple[LiveIso, LiveIso], what: str, **settings: object) -> Iterator[Stack]:
    """isodrop with a clients file, dnsmasq as DHCP server leasing PC D its fixed address and host name,
    both ISOs served, the first the normal default; `settings`: more isodrop config keys."""
    with running_stack(
        DHCP_SNIPPET,
        with_router=False,
        menu_default=live_isos[0].path.name,
        clients_file="{work}/clients.toml",
        dnsmasq_args=(PC_D_LEASE,),
        **settings,
    ) as stack:
        note(f"[e2e] logs of the {what} setup: {stack.work}")
        for iso in live_isos:
            stack.drop(iso.path)
        yield stack


@pytest.fixture(scope="module")
def pins_stack(live_isos: tuple[LiveIso, LiveIso]) -> Iterator[Stack]:
    # dnsmasq logs to work/dnsmasq-facility.log, which isodrop reads (one-shots)
    yield from stack_with_both_isos(live_isos, "pins", dnsmasq_log=True)


def pin(stack: Stack, *args: str) -> None:
    result = stack.service.command("pin", *args)
    assert result.returncode == 0, result.stderr


def unpin(stack: Stack, *args: str) -> None:
    result = stack.service.command("unpin", *args)
    assert result.returncode == 0, result.stderr


def pc_d_network(stack: Stack) -> ipaddress.IPv4Network:
    """The /28 around PC D's fixed address: not on a hex digit boundary of the /24, one pxelinux file."""
    prefix = stack.net.server_ip.rsplit(".", 1)[0]
    return ipaddress.IPv4Network(f"{prefix}.{PC_D_LAST_OCTET}/28", strict=False)


def dnsmasq_log(stack: Stack) -> str:
    return (stack.work / "dnsmasq-facility.log").read_text(errors="replace")


def boot(
    stack: Stack, firmware: str, mac: str, iso: LiveIso, other: LiveIso, what: str, secure_boot: bool = False
) -> str:
    """A fresh PC with `mac` boots to `iso`'s marker without a key press (never to `other`'s)."""
    options = {"firmware_pxe": True, "secure_boot": secure_boot} if firmware == "uefi" else {}
    name = "".join(ch if ch.isalnum() else "-" for ch in what)  # QEMU options take no commas
    vm = stack.vm(firmware, name=name, mac=mac, **options)
    try:
        failures = (*(UEFI_FAILURES if firmware == "uefi" else BOOT_FAILURES), other.marker)
        seconds = vm.wait_for(iso.marker, MAX_BOOT_SECONDS + 10, failures)
        report(what, seconds)
        assert seconds <= MAX_BOOT_SECONDS, f"{what}: marker after {seconds:.0f} s"
        vm.wait_exit(30)
        return vm.text()
    finally:
        vm.close()


@vm_test
def test_bios_pcs_boot_their_own_default_by_mac(pins_stack: Stack, live_isos: tuple[LiveIso, LiveIso]) -> None:
    one, two = live_isos
    pin(pins_stack, PC_A, two.path.name, "--timeout", "2")
    own = pins_stack.service.tftp / "pxelinux.cfg/01-52-54-00-00-0a-01"
    pins_stack.service.wait_for(own.exists, 10, "PC A's own pxelinux menu")
    assert "TIMEOUT 20\n" in own.read_text()
    boot(pins_stack, "bios", PC_A, two, one, "BIOS PC pinned to the second ISO")
    assert f"sent {own} to " in dnsmasq_log(pins_stack)
    boot(pins_stack, "bios", PC_B, one, two, "BIOS PC without a pin, the normal default")


@vm_test
def test_uefi_grub_one_shot_boots_once_then_the_normal_default(
    pins_stack: Stack,
    live_isos: tuple[LiveIso, LiveIso],
) -> None:
    one, two = live_isos
    clients = pins_stack.work / "clients.toml"
    pin(pins_stack, PC_C, two.path.name, "--once")
    grub = pins_stack.service.tftp / "grub/grub.cfg"
    own = pins_stack.service.tftp / "grub/clients/01-52-54-00-00-0c-03.cfg"
    pins_stack.service.wait_for(lambda: own.exists() and PC_C in grub.read_text(), 10, "PC C's GRUB branch")
    boot(pins_stack, "uefi", PC_C, two, one, "UEFI GRUB PC with a one-shot pin")
    log = dnsmasq_log(pins_stack)
    assert f"sent {own} to " in log
    assert "grub.cfg-01-" not in log, "Debian's GRUB 2.06 was thought to ask for no per-MAC grub.cfg"
    pins_stack.service.wait_for(lambda: PC_C not in clients.read_text(), 15, "the one-shot used up")
    pins_stack.service.wait_for(lambda: not own.exists() and PC_C not in grub.read_text(), 10, "its menu gone")
    assert PC_C not in [p.target.value for p in pins.load(clients)]
    boot(pins_stack, "uefi", PC_C, one, two, "UEFI GRUB PC after its one-shot, the normal default")


@vm_test
def test_bios_pxelinux_pc_in_a_pinned_network_boots_its_entry(
    pins_stack: Stack, live_isos: tuple[LiveIso, LiveIso]
) -> None:
    one, two = live_isos
    network = pc_d_network(pins_stack)
    hexed = f"{int(network.network_address) >> 4:07X}"  # pxelinux's 7-digit name for a /28
    pin(pins_stack, str(network), two.path.name, "--timeout", "2")
    own = pins_stack.service.tftp / f"pxelinux.cfg/{hexed}"
    try:
        pins_stack.service.wait_for(own.exists, 10, "the network's pxelinux menu")
        boot(pins_stack, "bios", PC_D, two, one, "BIOS pxelinux PC in a pinned network")
        log = dnsmasq_log(pins_stack)
        assert f"sent {own} to " in log
        assert "pxelinux.cfg/01-52-54-00-00-0d-04 not found" in log, "pxelinux tries the MAC first"
    finally:
        unpin(pins_stack, str(network))


@vm_test
def test_uefi_grub_pcs_by_network_and_by_host_name_boot_their_entry(
    pins_stack: Stack, live_isos: tuple[LiveIso, LiveIso]
) -> None:
    one, two = live_isos
    network = str(pc_d_network(pins_stack))
    grub = pins_stack.service.tftp / "grub/grub.cfg"
    pin(pins_stack, network, two.path.name, "--timeout", "2")
    try:
        pins_stack.service.wait_for(lambda: "$net_default_ip" in grub.read_text(), 10, "GRUB's network branch")
        boot(pins_stack, "uefi", PC_D, two, one, "UEFI GRUB PC in a pinned network")
        assert f"sent {pins_stack.service.tftp}/grub/clients/net-{network.replace('/', '-')}.cfg to " in dnsmasq_log(
            pins_stack
        )
    finally:
        unpin(pins_stack, network)
    pin(pins_stack, "--hostname", PC_D_HOST, two.path.name, "--timeout", "2")
    try:
        pins_stack.service.wait_for(lambda: "$isodrop_hostname" in grub.read_text(), 10, "GRUB's host name branch")
        boot(pins_stack, "uefi", PC_D, two, one, "UEFI GRUB PC pinned by DHCP host name")
        assert f"sent {pins_stack.service.tftp}/grub/clients/host-{PC_D_HOST}.cfg to " in dnsmasq_log(pins_stack)
    finally:
        unpin(pins_stack, "--hostname", PC_D_HOST)


@pytest.fixture(scope="module")
def ipxe_stack(live_isos: tuple[LiveIso, LiveIso]) -> Iterator[Stack]:
    """A second stack whose BIOS PCs get iPXE's own menu (bios_loader = "ipxe")."""
    yield from stack_with_both_isos(live_isos, "iPXE pins", bios_loader="ipxe")


@vm_test
def test_bios_ipxe_pc_pinned_by_host_name_boots_its_entry(
    ipxe_stack: Stack, live_isos: tuple[LiveIso, LiveIso]
) -> None:
    one, two = live_isos
    pin(ipxe_stack, "--hostname", PC_D_HOST, two.path.name, "--timeout", "2")
    script = ipxe_stack.service.tftp / "ipxe/menu-pcbios.ipxe"
    own = ipxe_stack.service.tftp / f"ipxe/clients/host-{PC_D_HOST}-pcbios.ipxe"
    ipxe_stack.service.wait_for(lambda: own.exists() and "${hostname}" in script.read_text(), 10, "iPXE's branch")
    boot(ipxe_stack, "bios", PC_D, two, one, "BIOS iPXE PC pinned by DHCP host name")
    pin(ipxe_stack, PC_A, two.path.name, "--timeout", "2")
    own = ipxe_stack.service.tftp / "ipxe/clients/01-52-54-00-00-0a-01-pcbios.ipxe"
    ipxe_stack.service.wait_for(lambda: own.exists() and PC_A in script.read_text(), 10, "iPXE's MAC branch")
    boot(ipxe_stack, "bios", PC_A, two, one, "BIOS iPXE PC pinned by MAC")
    assert f"sent {own} to " in (ipxe_stack.work / "dnsmasq.log").read_text(errors="replace")


@vm_test
def test_uefi_grub_pc_pinned_by_mac_boots_its_entry_with_secure_boot_on(
    pins_stack: Stack, live_isos: tuple[LiveIso, LiveIso]
) -> None:
    """Secure Boot on (OVMF with Microsoft's keys): shim checks GRUB, GRUB's lockdown allows configfile
    of the per-PC menu (a plain file, no module), and the pinned entry's kernel passes shim's check."""
    one, two = live_isos
    pin(pins_stack, PC_E, two.path.name, "--timeout", "2")
    grub = pins_stack.service.tftp / "grub/grub.cfg"
    try:
        pins_stack.service.wait_for(lambda: PC_E in grub.read_text(), 10, "PC E's GRUB branch")
        console = boot(pins_stack, "uefi", PC_E, two, one, "UEFI GRUB PC pinned by MAC, Secure Boot on", True)
        assert "secureboot: Secure boot enabled" in console, "the kernel must see Secure Boot on"
    finally:
        unpin(pins_stack, PC_E)
