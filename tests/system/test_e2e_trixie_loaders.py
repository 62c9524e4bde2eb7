"""Debian 13's boot loaders boot PCs: shim 16.1 + GRUB 2.12 (Secure Boot on and off), pxelinux, iPXE.

The loaders are Debian 13's own `.deb`s, downloaded by name and checked against the archive's signed
index (tests/e2e/trixie_debs.py), unpacked into the test cache; isodrop serves them through its config
keys (shim_file, grub_efi_file, pxelinux_file, ipxe_dir, ...). Everything else is as in the other VM
tests: `isodrop serve`, dnsmasq from contrib/dnsmasq/, rpcbind + ganesha, nginx, QEMU with OVMF (TCG).

One stack for the module: isodrop's dnsmasq in **proxy mode beside a plain router** (`start_router`
without options: a DHCP server that names no boot file and only itself as next server, as home routers
do; a witness on the router's TFTP port records whatever asks it): the set-up in which Debian 12's GRUB
2.06 never finds its menu (the last test shows that, with Debian 12's loaders). Debian 12 has had the
same shim (16.1) since a point release; GRUB is what differs. What it shows
about GRUB 2.12 (docs/booting.md, "GRUB 2.06 (Debian 12) and GRUB 2.12 (Debian 13)"):
- (a) proxy-DHCP: GRUB 2.12 takes its server from the proxy offer and boots, Secure Boot on and off;
- (b) `http` is built into the signed image: `insmod http` fetches no http.mod, kernels come over HTTP,
  with Secure Boot on too when the menu tries it (a template override; isodrop's menu does not yet);
- (c) it asks for no per-client config name (grub.cfg-01-<mac>, hex IP): isodrop's branch on
  `$net_default_mac` in grub/grub.cfg is what gives a pinned PC its own menu, and its `regexp` on
  `$net_default_ip` what gives the PCs of a pinned network theirs.
Each boot time (VM start to marker) is printed.

Run: `/usr/bin/python3 -m pytest -p no:cacheprovider -q -m vm tests/test_e2e_trixie_loaders.py`
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from isodrop.state import slug_for
from tests.harness.e2e.boottimes import boot_times, note, report  # noqa: F401 (boot_times: autouse)
from tests.harness.e2e.grubimage import read_grub_image
from tests.harness.e2e.liveiso import LiveIso, build_iso
from tests.harness.e2e.procs import Proc, wait_for
from tests.harness.e2e.servers import PROXY_SNIPPET
from tests.harness.e2e.stack import Stack, running_stack
from tests.harness.e2e.trixie_debs import TrixieLoaders, trixie_loaders
from tests.harness.e2e.uefi import UEFI_FAILURES, boot_signed_with_secure_boot_on, uefi_missing
from tests.harness.e2e.vm import BOOT_FAILURES, MAX_BOOT_SECONDS, VM

pytestmark = [pytest.mark.vm, pytest.mark.network]

GRUB_MENU = "grub/grub.cfg"
DEBIAN_12_GRUB = Path("/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed")
SIGNED_GRUB = "usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed"
PINNED_PC = "52:54:00:13:00:01"
# The strings GRUB's efinet prints (grub_dprintf) when it reads a proxy offer: Fedora's patch "efinet:
# Add DHCP proxy support" (rhboot/grub2), which Debian 13's GRUB carries and Debian 12's lacks.
PROXY_PATCH = b"setting values from proxy offer"


@pytest.fixture(scope="module")
def trixie() -> TrixieLoaders:
    """Debian 13's loader packages, unpacked (downloaded once per set of versions; without network and
    without an earlier download this fails, saying so)."""
    if uefi_missing():
        pytest.skip(f"VM tests skipped: {uefi_missing()}")
    loaders = trixie_loaders()
    note("[e2e] Debian 13 loaders: " + ", ".join(f"{d.package} {d.version}" for d in loaders.debs))
    return loaders


@pytest.fixture(scope="module")
def isos() -> tuple[LiveIso, LiveIso]:
    """Two cached Debian-live ISOs (Debian 12's signed kernel), different markers."""
    return build_iso("e2e-one"), build_iso("e2e-two")


@pytest.fixture(scope="module")
def stack(trixie: TrixieLoaders, isos: tuple[LiveIso, LiveIso]) -> Iterator[Stack]:
    """Proxy mode beside a plain router, Debian 13's loaders, both ISOs, trees over HTTP (nginx)."""
    one = isos[0]
    with running_stack(
        PROXY_SNIPPET,
        with_router=True,
        menu_default=one.path.name,
        http=True,
        clients_file="{work}/clients.toml",
        **trixie.isodrop_settings(),
    ) as stack:
        note(f"[e2e] logs of the Debian 13 loaders setup: {stack.work}")
        start_router_tftp_witness(stack)
        for iso in isos:
            stack.drop(iso.path)
        tftp = stack.service.tftp
        stack.service.wait_for(lambda: (tftp / GRUB_MENU).exists(), 30, "the GRUB menu")
        # isodrop serves Debian 13's files, not the host's
        assert (tftp / "efi64/bootx64.efi").read_bytes() == (
            trixie.root / "usr/lib/shim/shimx64.efi.signed"
        ).read_bytes()
        assert (tftp / "efi64/grubx64.efi").read_bytes() == (trixie.root / SIGNED_GRUB).read_bytes()
        pxelinux = (trixie.root / "usr/lib/PXELINUX/pxelinux.0").read_bytes()
        assert (tftp / "bios.0").read_bytes() == pxelinux == (tftp / "pxelinux.0").read_bytes()
        assert (tftp / "ldlinux.c32").read_bytes() == (
            trixie.root / "usr/lib/syslinux/modules/bios/ldlinux.c32"
        ).read_bytes()
        yield stack


# Records every TFTP request that reaches the router (which, like a home router, serves no TFTP): one line
# "<client address> <requested file>" per read request. A loader that takes its server from the router's
# answer (siaddr: dnsmasq names itself) asks here.
TFTP_WITNESS = """
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 69))
while True:
    data, peer = s.recvfrom(2048)
    if data[:2] == b"\\0\\1":
        print(peer[0], data[2:].split(b"\\0")[0].decode(errors="replace"), flush=True)
"""


def start_router_tftp_witness(stack: Stack) -> Proc:
    proc = Proc(
        "router-tftp",
        [*stack.net.ns_exec(stack.net.router_ns), sys.executable, "-c", TFTP_WITNESS],
        stack.work / "router-tftp.log",
    )
    stack.procs.append(proc)  # stopped with the stack
    return proc


def router_tftp_requests(stack: Stack) -> list[str]:
    path = stack.work / "router-tftp.log"
    return path.read_text().splitlines() if path.exists() else []


def dnsmasq_log(stack: Stack) -> str:
    return (stack.work / "dnsmasq.log").read_text(errors="replace")


def tftp_asked(stack: Stack, since: int, found: bool | None = None) -> list[str]:
    """The files asked of isodrop's dnsmasq after log position `since`, relative to the TFTP root, in
    order: sent ones (`found` True), missing ones (False), or both (None)."""
    root = f"{stack.service.tftp}/"
    asked = []
    for line in dnsmasq_log(stack)[since:].splitlines():
        if "dnsmasq-tftp" not in line:
            continue
        if " sent " in line and found in (True, None):
            asked.append(line.split(" sent ", 1)[1].split(" to ", 1)[0].removeprefix(root))
        elif " file " in line and " not found for " in line and found in (False, None):
            asked.append(line.split(" file ", 1)[1].split(" not found for ", 1)[0].removeprefix(root))
    return asked


def tftp_sent(stack: Stack, since: int) -> list[str]:
    return tftp_asked(stack, since, found=True)


def assert_grub_2_12(console: str, stack: Stack) -> None:
    """The GRUB that drew the menu is Debian 13's, and it never asked the router for anything."""
    assert "GNU GRUB  version 2.12" in console, console[-2000:]
    assert router_tftp_requests(stack) == [], "a loader asked the router for files"


def assert_plain_router_and_no_lease(stack: Stack) -> None:
    """The router leased the address and named no boot file, only itself as next server (dnsmasq's
    default siaddr, as many home routers do); isodrop's dnsmasq leased nothing."""
    router = (stack.work / "router.log").read_text(errors="replace")
    assert "DHCPACK" in router, router[-2000:]
    assert f"next server: {stack.net.router_ip}" in router, router[-2000:]
    assert "option: 67 bootfile-name" not in router and stack.net.server_ip not in router, (
        "the router must name no boot server"
    )
    assert "DHCPACK" not in dnsmasq_log(stack), "proxy mode must not lease"


def boot(vm: VM, iso: LiveIso, what: str, failures: tuple[str, ...]) -> float:
    seconds = vm.wait_for(iso.marker, MAX_BOOT_SECONDS + 10, failures)
    report(what, seconds)
    assert seconds <= MAX_BOOT_SECONDS, f"{what}: marker after {seconds:.0f} s, more than 3 minutes"
    return seconds


def restart_with(stack: Stack, **settings: object) -> None:
    """Restart `isodrop serve` with changed config keys (it reads its config at start)."""
    stack.service.stop()
    stack.service.settings.update(settings)
    stack.service.start()


# isodrop's menu tries `insmod http` only when not locked down (GRUB 2.06 cannot load a module then).
LOCKDOWN_GATED_HTTP = """\
if [ "$lockdown" != "y" ]; then
  if insmod http; then set isodrop_http=y; fi
fi
"""


def test_debian_13_grub_has_http_and_the_proxy_patch_built_in(trixie: TrixieLoaders) -> None:
    """(b) without a VM: the module list in the signed network images' `mods` section."""
    new = read_grub_image(trixie.root / SIGNED_GRUB)
    assert {"http", "tftp", "efinet", "net"} <= new.modules
    assert new.prefix == "/grub" and new.config == "normal (memdisk)/grub.cfg\n"
    assert PROXY_PATCH in (trixie.root / SIGNED_GRUB).read_bytes()
    if not DEBIAN_12_GRUB.exists():
        pytest.skip(f"Debian 12's {DEBIAN_12_GRUB} is not installed: nothing to compare with")
    old = read_grub_image(DEBIAN_12_GRUB)
    assert "http" not in old.modules and {"tftp", "efinet"} <= old.modules
    assert PROXY_PATCH not in DEBIAN_12_GRUB.read_bytes()


def test_secure_boot_on_shim_16_1_and_grub_2_12_boot_beside_a_plain_router(
    stack: Stack, isos: tuple[LiveIso, LiveIso]
) -> None:
    """(a) OVMF with Microsoft's keys, Secure Boot on: shim 16.1 from the proxy offer, GRUB 2.12's menu
    from the proxy offer's server, Debian's signed kernel to its marker (over TFTP: locked down, the
    menu does not try `insmod http`)."""
    since = len(dnsmasq_log(stack))
    boot_signed_with_secure_boot_on(stack, isos[0], "trixie-secure-boot", "Debian 13 shim + GRUB 2.12, plain router")
    assert_grub_2_12((stack.work / "trixie-secure-boot-serial.log").read_text(errors="replace"), stack)
    sent = tftp_sent(stack, since)
    for name in ("efi64/bootx64.efi", "efi64/grubx64.efi", GRUB_MENU):
        assert name in sent, f"{name} not sent by isodrop's dnsmasq: {sent}"
    assert_plain_router_and_no_lease(stack)


def test_secure_boot_off_pinned_pc_boots_its_entry_over_http_without_http_mod(
    stack: Stack, isos: tuple[LiveIso, LiveIso]
) -> None:
    """(a) Secure Boot off beside the plain router; (b) `insmod http` succeeds without fetching http.mod
    (built in) and the kernel comes over HTTP; (c) a PC pinned to the second ISO boots it without a key:
    GRUB 2.12 sets $net_default_mac, grub/grub.cfg branches to grub/clients/01-<mac>.cfg, and GRUB asks
    for no per-client name of its own."""
    one, two = isos
    result = stack.service.command("pin", PINNED_PC, two.path.name)
    assert result.returncode == 0, result.stderr
    own = f"grub/clients/01-{PINNED_PC.replace(':', '-')}.cfg"
    tftp = stack.service.tftp
    stack.service.wait_for(lambda: (tftp / own).exists() and PINNED_PC in (tftp / GRUB_MENU).read_text(), 15, own)
    since = len(dnsmasq_log(stack))
    vm = stack.vm("uefi", name="trixie-pinned", firmware_pxe=True, mac=PINNED_PC)
    try:
        boot(
            vm, two, "UEFI Secure Boot off, Debian 13 GRUB 2.12, plain router, pinned PC", (*UEFI_FAILURES, one.marker)
        )
        assert f"Loading iso-{slug_for(two.path.name)} over HTTP" in vm.text()
        assert_grub_2_12(vm.text(), stack)
    finally:
        vm.close()
    sent = tftp_sent(stack, since)
    assert own in sent, sent
    # Everything GRUB asked isodrop's server for, in order: its normal mode's lists (missing: harmless),
    # the menu, the PC's own menu. No grub.cfg-01-<mac>, no hex-IP name, no x86_64-efi/grub.cfg, no
    # http.mod (built in).
    asked = [name for name in tftp_asked(stack, since) if name.startswith("grub/")]
    lists = [f"grub/x86_64-efi/{name}.lst" for name in ("command", "fs", "crypto", "terminal")]
    assert asked == [*lists, GRUB_MENU, own], asked
    http_log = (stack.work / "nginx-access.log").read_text()
    assert f"GET /{slug_for(two.path.name)}/live/vmlinuz" in http_log, http_log[-2000:]
    assert_plain_router_and_no_lease(stack)
    note(f"[e2e] GRUB 2.12 (pinned PC) fetched over TFTP: {' '.join(sent)}")


def test_secure_boot_off_pc_in_a_pinned_network_boots_its_entry_with_grub_2_12(
    stack: Stack, isos: tuple[LiveIso, LiveIso], trixie: TrixieLoaders
) -> None:
    """A network pin with GRUB 2.12: grub/grub.cfg matches $net_default_ip (the address the plain router
    leased) with `regexp`, which Debian 13's signed image carries built in as Debian 12's does."""
    one, two = isos
    assert "regexp" in read_grub_image(trixie.root / SIGNED_GRUB).modules
    network = stack.net.cidr
    result = stack.service.command("pin", network, two.path.name, "--timeout", "2")
    assert result.returncode == 0, result.stderr
    own = f"grub/clients/net-{network.replace('/', '-')}.cfg"
    tftp = stack.service.tftp
    try:
        stack.service.wait_for(lambda: "$net_default_ip" in (tftp / GRUB_MENU).read_text(), 15, "the network branch")
        since = len(dnsmasq_log(stack))
        vm = stack.vm("uefi", name="trixie-network", firmware_pxe=True, mac="52:54:00:13:00:02")
        try:
            boot(vm, two, "UEFI Debian 13 GRUB 2.12, PC in a pinned network", (*UEFI_FAILURES, one.marker))
            assert_grub_2_12(vm.text(), stack)
        finally:
            vm.close()
        assert own in tftp_sent(stack, since)
    finally:
        assert stack.service.command("unpin", network).returncode == 0


def test_bios_pxelinux_from_debian_13_boots_beside_a_plain_router(stack: Stack, isos: tuple[LiveIso, LiveIso]) -> None:
    """QEMU's iPXE NIC ROM gets ipxe/menu.ipxe, which chains pxelinux.0 (bios_loader = "pxelinux"):
    Debian 13's pxelinux.0, ldlinux.c32 and menu modules, to the default entry."""
    one, two = isos
    banner = re.search(rb"PXELINUX 6\.\d+ PXE \d{8}", (stack.service.tftp / "pxelinux.0").read_bytes())
    assert banner, "no version banner in Debian 13's pxelinux.0"
    since = len(dnsmasq_log(stack))
    vm = stack.vm("bios", name="trixie-pxelinux")
    try:
        boot(vm, one, "BIOS, Debian 13 pxelinux 6.04, plain router", (*BOOT_FAILURES, two.marker))
        assert banner.group().decode() in vm.text(), "not Debian 13's pxelinux"
    finally:
        vm.close()
    sent = tftp_sent(stack, since)
    for name in ("pxelinux.0", "ldlinux.c32", "pxelinux.cfg/default"):
        assert name in sent, f"{name} not sent: {sent}"


def test_secure_boot_on_grub_2_12_loads_kernel_and_initrd_over_http_with_its_built_in_http(
    stack: Stack, isos: tuple[LiveIso, LiveIso]
) -> None:
    """(b) with Secure Boot on: a menu that tries `insmod http` also when `$lockdown` is y (the shipped
    template without that condition, through templates_dir) loads Debian's signed kernel and its initrd
    over HTTP on GRUB 2.12, and the kernel still sees Secure Boot on: the built-in module needs no
    loading, which lockdown would refuse. isodrop's shipped menu does not do this yet: on GRUB 2.06 the
    module is a file, which a locked-down GRUB does not load."""
    one, two = isos
    shipped = (Path(__file__).parents[2] / "isodrop/templates/grub.cfg.j2").read_text()
    assert LOCKDOWN_GATED_HTTP in shipped, "isodrop's GRUB template changed: adapt this test"
    templates = stack.work / "templates-http-locked-down"
    templates.mkdir(exist_ok=True)
    (templates / "grub.cfg.j2").write_text(
        shipped.replace(LOCKDOWN_GATED_HTTP, "if insmod http; then set isodrop_http=y; fi\n")
    )
    menu = stack.service.tftp / GRUB_MENU
    try:
        restart_with(stack, templates_dir=str(templates))
        stack.service.wait_for(
            lambda: LOCKDOWN_GATED_HTTP not in menu.read_text(), 30, "the menu from the changed template"
        )
        vm = stack.vm("uefi", name="trixie-secure-boot-http", secure_boot=True, firmware_pxe=True)
        try:
            what = "UEFI Secure Boot ON, Debian 13 GRUB 2.12, kernel over HTTP (menu without the lockdown condition)"
            boot(vm, one, what, (*UEFI_FAILURES, two.marker))
            shown = vm.text()
            assert f"Loading iso-{slug_for(one.path.name)} over HTTP" in shown
            assert "HTTP failed" not in shown
            assert "secureboot: Secure boot enabled" in shown, "the kernel must see Secure Boot on"
        finally:
            vm.close()
        http_log = (stack.work / "nginx-access.log").read_text()
        since_boot = http_log.rsplit(f"GET /{slug_for(one.path.name)}/live/vmlinuz", 1)
        assert len(since_boot) == 2 and f"GET /{slug_for(one.path.name)}/live/initrd.img" in since_boot[1], http_log[
            -2000:
        ]
    finally:
        restart_with(stack, templates_dir="")
        stack.service.wait_for(lambda: LOCKDOWN_GATED_HTTP in menu.read_text(), 30, "the shipped menu again")


def test_uefi_ipxe_from_debian_13_boots_beside_a_plain_router(
    stack: Stack, isos: tuple[LiveIso, LiveIso], trixie: TrixieLoaders
) -> None:
    """uefi_loader = "ipxe" (isodrop restarted with it): OVMF's own PXE stack loads Debian 13's
    snponly.efi (iPXE 2025), which asks again as iPXE, gets ipxe/menu.ipxe and boots the default."""
    one, two = isos
    snponly = (trixie.root / "usr/lib/ipxe/snponly.efi").read_bytes()
    restart_with(stack, uefi_loader="ipxe")
    boot_file = stack.service.tftp / "efi64/bootx64.efi"
    stack.service.wait_for(lambda: boot_file.read_bytes() == snponly, 60, "Debian 13's snponly.efi as the UEFI loader")
    since = len(dnsmasq_log(stack))
    vm = stack.vm("uefi", name="trixie-ipxe", firmware_pxe=True)
    try:
        boot(vm, one, "UEFI Secure Boot off, Debian 13 iPXE snponly.efi, plain router", (*BOOT_FAILURES, two.marker))
        assert f"iPXE {trixie.version('ipxe')} -- Open Source Network Boot Firmware" in vm.text()
    finally:
        vm.close()
    sent = tftp_sent(stack, since)
    assert "efi64/bootx64.efi" in sent and "ipxe/menu.ipxe" in sent, sent


def test_debian_12_grub_2_06_beside_a_plain_router_asks_the_router_and_hangs() -> None:
    """(a), the other side: the same set-up with Debian 12's shim + GRUB 2.06 (the host's, isodrop's
    defaults). shim follows the proxy offer and loads GRUB from isodrop's server, but GRUB takes its
    server from the router's answer (next server = the router) and asks the router for its files
    ($prefix/x86_64-efi/command.lst, again and again), which no router serves: after "Welcome to GRUB!"
    the console stays silent, isodrop never sends grub.cfg."""
    with running_stack(PROXY_SNIPPET, with_router=True, menu_default="local") as old:
        note(f"[e2e] logs of the Debian 12 GRUB 2.06 beside a plain router: {old.work}")
        start_router_tftp_witness(old)
        old.service.wait_for(lambda: (old.service.tftp / GRUB_MENU).exists(), 30, "the GRUB menu")
        vm = old.vm("uefi", name="bookworm-grub-plain-router", firmware_pxe=True)
        try:
            seconds = vm.wait_for("Welcome to GRUB!", 150, ("Boot from local disk",))
            # it asks again and again (its TFTP retries), never elsewhere
            asked = wait_for(lambda: (r := router_tftp_requests(old)) and len(r) >= 3 and r, 90, "GRUB's retries")
            shown = vm.text().split("Welcome to GRUB!", 1)[1]
        finally:
            vm.close()
        note(
            f"[e2e] Debian 12 GRUB 2.06 beside a plain router: started after {seconds:.1f} s, asked the router {asked}"
        )
        client = asked[0].split()[0]
        assert all(line.startswith(client + " ") for line in asked)
        # the first file GRUB's normal mode reads from $prefix, asked of the router again and again
        assert {line.split()[1] for line in asked} == {"/grub/x86_64-efi/command.lst"}, asked
        assert shown.strip() == "", f"GRUB 2.06 printed after its welcome: {shown[:400]!r}"
        sent = tftp_sent(old, 0)
        assert "efi64/bootx64.efi" in sent and "efi64/grubx64.efi" in sent, sent
        assert GRUB_MENU not in sent, "GRUB 2.06 found its menu beside a plain router"
        assert_plain_router_and_no_lease(old)


def test_a_debian_12_server_serving_debian_13_grub_boots_secure_boot_pcs_beside_a_plain_router(
    trixie: TrixieLoaders, isos: tuple[LiveIso, LiveIso]
) -> None:
    """docs/booting.md "Debian 13's GRUB on a Debian 12 server": the host's own (Debian 12) shim, and only
    grub_efi_file set to Debian 13's signed GRUB: beside the plain router, Secure Boot on, that GRUB reads
    the proxy offer and the signed default boots to its marker (the shim verifies GRUB 2.12's signature
    and SBAT, GRUB the kernel through shim)."""
    grub = trixie.root / SIGNED_GRUB
    with running_stack(
        PROXY_SNIPPET, with_router=True, menu_default=isos[0].path.name, grub_efi_file=str(grub)
    ) as stack:
        start_router_tftp_witness(stack)
        stack.drop(isos[0].path)
        tftp = stack.service.tftp
        stack.service.wait_for(lambda: (tftp / GRUB_MENU).exists(), 30, "the GRUB menu")
        assert (tftp / "efi64/bootx64.efi").read_bytes() == Path("/usr/lib/shim/shimx64.efi.signed").read_bytes()
        assert (tftp / "efi64/grubx64.efi").read_bytes() == grub.read_bytes()
        what = "Debian 12 shim + Debian 13 GRUB 2.12, plain router"
        boot_signed_with_secure_boot_on(stack, isos[0], "bookworm-shim-trixie-grub", what)
        assert_grub_2_12((stack.work / "bookworm-shim-trixie-grub-serial.log").read_text(errors="replace"), stack)
        assert_plain_router_and_no_lease(stack)
