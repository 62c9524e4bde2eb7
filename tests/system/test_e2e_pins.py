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
"""

from __future__ import annotations

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
UEFI_FAILURES = (*BOOT_FAILURES, "error: ", "grub>")


@pytest.fixture(scope="module")
def pins_stack(live_isos: tuple[LiveIso, LiveIso]) -> Iterator[Stack]:
    one, two = live_isos
    with running_stack(
        DHCP_SNIPPET,
        with_router=False,
        menu_default=one.path.name,
        clients_file="{work}/clients.toml",
        dnsmasq_log=True,  # dnsmasq logs to work/dnsmasq-facility.log, which isodrop reads (one-shots)
    ) as stack:
        note(f"[e2e] logs of the pins setup: {stack.work}")
        for iso in live_isos:
            stack.drop(iso.path)
        yield stack


def pin(stack: Stack, *args: str) -> None:
    result = stack.service.command("pin", *args)
    assert result.returncode == 0, result.stderr


def dnsmasq_log(stack: Stack) -> str:
    return (stack.work / "dnsmasq-facility.log").read_text(errors="replace")


def boot(stack: Stack, firmware: str, mac: str, iso: LiveIso, other: LiveIso, what: str) -> str:
    """A fresh PC with `mac` boots to `iso`'s marker without a key press (never to `other`'s)."""
    options = {"firmware_pxe": True} if firmware == "uefi" else {}
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
    assert PC_C not in [p.mac for p in pins.load(clients)]
    boot(pins_stack, "uefi", PC_C, one, two, "UEFI GRUB PC after its one-shot, the normal default")
