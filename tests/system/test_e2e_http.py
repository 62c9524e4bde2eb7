"""PCs boot through iPXE, kernel and initrd over HTTP (nginx), the live root over NFS (ganesha).

Real parts only: dnsmasq from contrib/dnsmasq/ (its iPXE user-class rule), nginx serving the trees
folder (tests/harness/e2e/servers.py start_nginx), ganesha, `isodrop serve` with `bios_loader = "ipxe"` and
`http_url`, QEMU under TCG. QEMU's NIC ROM is iPXE itself, so under BIOS dnsmasq's user-class rule hands
it ipxe/menu.ipxe directly (as it would undionly.kpxe's second stage on a PC with a plain PXE ROM). The
UEFI test uses OVMF's own network stack (virtio-net, no ROM), which loads snponly.efi first: the whole
two-stage chain. Every boot prints its time; TFTP and HTTP delivery are both timed.

TestIpxeProxyDhcp does the BIOS part again beside a stand-in home router (a DHCP-only dnsmasq in its own
namespace), with isodrop's dnsmasq running contrib/dnsmasq/isodrop-proxy.conf: the router leases, the
proxy only names ipxe/menu.ipxe; the default entry and one chosen by key boot, kernel and initrd over HTTP.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from isodrop.state import slug_for
from tests.harness.e2e.boottimes import boot_times, note, report  # noqa: F401 (boot_times: autouse)
from tests.harness.e2e.keyboard import KeyboardVM
from tests.harness.e2e.liveiso import LiveIso
from tests.harness.e2e.servers import DHCP_SNIPPET, PROXY_SNIPPET, start_nginx
from tests.harness.e2e.stack import Stack, running_stack
from tests.harness.e2e.vmtests import IPXE_FAILURES, boot, http_gets, tftp_sent, vm_test


@pytest.fixture(scope="module")
def http_stack(live_isos: tuple[LiveIso, LiveIso]) -> Iterator[Stack]:
    """isodrop as DHCP server, BIOS and UEFI through iPXE, nginx serving the trees folder."""
    with running_stack(
        DHCP_SNIPPET,
        with_router=False,
        menu_default="e2e-one.iso",
        http=True,
        bios_loader="ipxe",
        uefi_loader="ipxe",
    ) as stack:
        for iso in live_isos:
            stack.drop(iso.path)
        yield stack


def script(stack: Stack, platform: str = "pcbios") -> str:
    return (stack.service.tftp / f"ipxe/menu-{platform}.ipxe").read_text()


@vm_test
def test_bios_ipxe_default_entry_kernel_and_initrd_over_http(
    http_stack: Stack,
    live_isos: tuple[LiveIso, LiveIso],
) -> None:
    one, two = live_isos
    text = script(http_stack)
    assert "choose --timeout 3000 --default entry-iso-e2e-one" in text
    assert f"kernel {http_stack.proc('nginx').url}/e2e-one/live/vmlinuz" in text  # type: ignore[attr-defined]
    before = len(http_gets(http_stack))
    vm = http_stack.vm("bios", name="ipxe-bios-http")
    boot(http_stack, vm, one, "BIOS iPXE, default entry, kernel+initrd over HTTP, root over NFS")
    gets = http_gets(http_stack)[before:]
    assert ("/e2e-one/live/vmlinuz", 200) in gets and ("/e2e-one/live/initrd.img", 200) in gets, gets
    assert not any("squashfs" in path for path, _ in gets), "the root must come over NFS, not HTTP"
    assert two.marker not in vm.text()


@vm_test
def test_bios_ipxe_second_entry_chosen_by_key(
    http_stack: Stack,
    live_isos: tuple[LiveIso, LiveIso],
) -> None:
    """Press the key the menu shows beside the second entry ("2") on the PC's keyboard."""
    assert "item --key 2 entry-iso-e2e-two [2] " in script(http_stack)
    boot_second_by_key(http_stack, live_isos, "ipxe-bios-key", "BIOS iPXE, second entry chosen by key, over HTTP")


def boot_second_by_key(stack: Stack, isos: tuple[LiveIso, LiveIso], name: str, what: str) -> None:
    """A BIOS PC (QEMU's iPXE ROM) whose keyboard presses "2", the second entry's key, once iPXE has its
    menu script; that entry boots to its marker with its kernel from nginx, the default never starts."""
    one, two = isos
    kernel_one, kernel_two = (f"/{slug_for(iso.path.name)}/live/vmlinuz" for iso in isos)
    menus = tftp_sent(stack, "ipxe/menu-pcbios.ipxe")
    before = len(http_gets(stack))
    vm = KeyboardVM(stack.net, stack.work, "bios", name=name)
    try:
        deadline = time.monotonic() + 120
        while tftp_sent(stack, "ipxe/menu-pcbios.ipxe") == menus:
            assert time.monotonic() < deadline and vm.proc.alive(), "iPXE never fetched its menu"
            time.sleep(0.2)
        # The menu shows moments after its script arrived; keys pressed before that wait in the BIOS
        # keyboard buffer. Stop once the chosen kernel is being fetched.
        while not any(p == kernel_two for p, _ in http_gets(stack)[before:]):
            assert time.monotonic() < deadline, "the chosen entry's kernel was never fetched"
            assert (kernel_one, 200) not in http_gets(stack)[before:], "the default booted"
            vm.press("2")
            time.sleep(0.3)
    except BaseException:
        vm.close()
        raise
    boot(stack, vm, two, what, failures=(*IPXE_FAILURES, one.marker))
    assert (kernel_two.replace("vmlinuz", "initrd.img"), 200) in http_gets(stack)[before:]


@vm_test
def test_uefi_snponly_from_ovmf_own_stack_entry_typed_on_serial(
    http_stack: Stack,
    live_isos: tuple[LiveIso, LiveIso],
) -> None:
    """OVMF's own PXE client (no iPXE ROM) loads efi64/bootx64.efi = snponly.efi; that iPXE asks again
    with user class iPXE and gets the script, not itself (no reload loop). Its menu is on the serial
    console; "2" typed there picks the second entry; the kernel line carries initrd=initrd0."""
    one, two = live_isos
    text = script(http_stack, "efi")
    assert "initrd=initrd0 " in text and "initrd --name initrd0 " in text
    log_start = len((http_stack.work / "dnsmasq.log").read_text(errors="replace"))
    vm = KeyboardVM(http_stack.net, http_stack.work, "uefi-own-stack", name="ipxe-uefi")
    try:
        vm.wait_for("isodrop network boot", 150, IPXE_FAILURES)
        since = len(vm.text())
        vm.type("2")
    except BaseException:
        vm.close()
        raise
    boot(
        http_stack,
        vm,
        two,
        "UEFI (OVMF PXE) snponly.efi, entry typed on serial, over HTTP",
        since=since,
        failures=(*IPXE_FAILURES, one.marker),
    )
    log = (http_stack.work / "dnsmasq.log").read_text(errors="replace")[log_start:]
    assert "bootfile-name  efi64/bootx64.efi" in log, "OVMF's PXE client is offered the UEFI loader"
    second_stage = log[log.index("user class: iPXE") :]
    assert "bootfile-name  ipxe/menu.ipxe" in second_stage
    assert "efi64/bootx64.efi" not in second_stage, "iPXE must get its script, not be loaded again"
    assert ("/e2e-two/live/initrd.img", 200) in http_gets(http_stack)


def isodrop_check(stack: Stack) -> subprocess.CompletedProcess[str]:
    """`isodrop check` inside the test namespace, where http_url is reachable."""
    argv = [*stack.net.ns_exec(), sys.executable, "-m", "isodrop", "check", "--config", str(stack.service.config)]
    return subprocess.run(argv, capture_output=True, text=True, env=stack.service.env(), timeout=60, check=False)


@vm_test
def test_nginx_stopped_check_fails_and_ipxe_falls_back_to_tftp(
    http_stack: Stack,
    live_isos: tuple[LiveIso, LiveIso],
) -> None:
    """The documented behaviour: `isodrop check` reports FAIL for http_url, and PCs still boot because
    iPXE's script fetches each file over TFTP when HTTP fails (this boot's time is the TFTP figure)."""
    one, _ = live_isos
    good = isodrop_check(http_stack)
    assert "ok    http_url serves e2e-" in good.stdout, good.stdout
    assert "BIOS clients (ipxe) get kernel and initrd over HTTP" in good.stdout
    nginx = http_stack.proc("nginx")
    nginx.stop()
    http_stack.procs.remove(nginx)
    try:
        bad = isodrop_check(http_stack)
        assert bad.returncode == 1 and "FAIL  http_url: http://" in bad.stdout, bad.stdout
        assert "Connection refused" in bad.stdout, bad.stdout
        kernels = tftp_sent(http_stack, "e2e-one/live/vmlinuz")
        vm = http_stack.vm("bios", name="ipxe-bios-tftp-fallback")
        boot(http_stack, vm, one, "BIOS iPXE, nginx stopped: kernel+initrd over TFTP (fallback)")
        assert tftp_sent(http_stack, "e2e-one/live/vmlinuz") == kernels + 1
        assert tftp_sent(http_stack, "e2e-one/live/initrd.img") >= 1
    finally:
        http_stack.procs.append(start_nginx(http_stack.net, http_stack.service.trees, http_stack.work))


@vm_test
class TestIpxeProxyDhcp:
    """bios_loader = "ipxe" beside a stand-in home router: the router (DHCP only, its own namespace) leases
    the address, isodrop's dnsmasq runs contrib/dnsmasq/isodrop-proxy.conf unchanged but for the TFTP root,
    with the network file isodrop writes, and only names the boot file: ipxe/menu.ipxe for iPXE (QEMU's NIC ROM)."""

    @pytest.fixture(scope="class")
    def proxy_stack(self, live_isos: tuple[LiveIso, LiveIso]) -> Iterator[Stack]:
        with running_stack(
            PROXY_SNIPPET, with_router=True, menu_default="e2e-one.iso", http=True, bios_loader="ipxe"
        ) as stack:
            note(f"[e2e] logs of the iPXE proxy-DHCP setup: {stack.work}")
            for iso in live_isos:
                stack.drop(iso.path)
            yield stack

    @staticmethod
    def assert_only_the_router_leased(stack: Stack) -> None:
        assert "DHCPACK" not in (stack.work / "dnsmasq.log").read_text(errors="replace"), "proxy mode must not lease"
        assert "DHCPACK" in (stack.work / "router.log").read_text(errors="replace"), "the router leases"

    def test_default_entry_kernel_and_initrd_over_http(
        self,
        proxy_stack: Stack,
        live_isos: tuple[LiveIso, LiveIso],
    ) -> None:
        one, two = live_isos
        assert "choose --timeout 3000 --default entry-iso-e2e-one" in script(proxy_stack)
        menus = tftp_sent(proxy_stack, "ipxe/menu-pcbios.ipxe")
        before = len(http_gets(proxy_stack))
        vm = proxy_stack.vm("bios", name="ipxe-bios-proxy")
        boot(proxy_stack, vm, one, "BIOS iPXE, proxy-DHCP beside a router, default entry, kernel+initrd over HTTP")
        assert tftp_sent(proxy_stack, "ipxe/menu-pcbios.ipxe") == menus + 1, "iPXE's menu came from isodrop's TFTP"
        gets = http_gets(proxy_stack)[before:]
        assert ("/e2e-one/live/vmlinuz", 200) in gets and ("/e2e-one/live/initrd.img", 200) in gets, gets
        assert not any("squashfs" in path for path, _ in gets), "the root must come over NFS, not HTTP"
        assert two.marker not in vm.text()
        self.assert_only_the_router_leased(proxy_stack)

    def test_second_entry_chosen_by_key(
        self,
        proxy_stack: Stack,
        live_isos: tuple[LiveIso, LiveIso],
    ) -> None:
        what = "BIOS iPXE, proxy-DHCP beside a router, second entry chosen by key, over HTTP"
        boot_second_by_key(proxy_stack, live_isos, "ipxe-bios-proxy-key", what)
        self.assert_only_the_router_leased(proxy_stack)
