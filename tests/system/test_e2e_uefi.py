"""x86-64 UEFI PCs boot through Debian's signed shim + GRUB (uefi_loader = "grub"), Secure Boot on and off.

All real: `isodrop serve`, dnsmasq from contrib/dnsmasq/, rpcbind + ganesha, QEMU with OVMF (TCG here).
- Secure Boot ON (OVMF_CODE_4M.secboot.fd, a copy of OVMF_VARS_4M.ms.fd: Microsoft's keys, SB enabled):
  an ISO whose kernel had its signature removed (`sbattach --remove`) is on the menu as "(needs Secure
  Boot off)" and, chosen by keys, prints why and returns to the menu at Escape; then Debian's signed
  kernel boots to its marker through shim + GRUB; `isodrop status` and `inspect` say why and what to do.
- Secure Boot off: the non-default entry chosen by keys on the serial console (Ctrl-N, Enter) boots, here
  with OVMF's own PXE stack (a virtio NIC without option ROM) instead of QEMU's iPXE ROM.
- Proxy-DHCP beside a stand-in router that names isodrop's server as next-server (README "Proxy-DHCP and
  UEFI"), one stack with both ISOs: Secure Boot off, the default entry boots (kernel over HTTP) and so does
  the unsigned one chosen by keys; Secure Boot on, the signed default boots (kernel over TFTP); with
  nginx stopped GRUB loads kernel and initrd over TFTP instead. isodrop's dnsmasq leases nothing.
Each boot time (VM start to marker) is printed.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from isodrop.state import slug_for
from tests.harness.e2e.boottimes import boot_times, note, report  # noqa: F401 (boot_times: autouse)
from tests.harness.e2e.liveiso import LiveIso, build_iso
from tests.harness.e2e.servers import DHCP_SNIPPET, PROXY_SNIPPET, start_nginx
from tests.harness.e2e.stack import Stack, running_stack
from tests.harness.e2e.uefi import GRUB_MENU, UEFI_FAILURES, boot, boot_signed_with_secure_boot_on, uefi_missing
from tests.harness.e2e.vm import VM
from tests.harness.e2e.vmtests import vm_test


def next_server_args() -> tuple[str, ...]:
    """What README "Proxy-DHCP and UEFI" tells a user to add on a dnsmasq/OpenWrt router: only the
    next-server (siaddr), no boot file; the boot file still comes from isodrop's proxy offer."""
    return ("--dhcp-match=set:efi64,option:client-arch,7", "--dhcp-boot=tag:efi64,,,{server}")


@pytest.fixture(scope="module")
def uefi_isos() -> tuple[LiveIso, LiveIso]:
    """Debian-live ISOs: one with Debian's signed kernel, one with the same kernel unsigned (cached)."""
    if uefi_missing():
        pytest.skip(f"UEFI e2e tests skipped: {uefi_missing()}")
    return build_iso("e2e-one"), build_iso("e2e-unsigned", unsigned_kernel=True)


STRANGER = "e2e-stranger"


@pytest.fixture(scope="module")
def stranger_iso(uefi_isos: tuple[LiveIso, LiveIso], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The unsigned ISO with its kernel signed by a key of our own (a sound signature by a signer Debian's
    shim does not trust: what Ubuntu's and Fedora's kernels are to it) and its own label."""
    work = tmp_path_factory.mktemp("stranger")
    unsigned = uefi_isos[1].path
    for rel in ("live/vmlinuz", "md5sum.txt"):
        extract = ["xorriso", "-osirrox", "on", "-indev", str(unsigned), "-extract", f"/{rel}", str(work / rel)]
        subprocess.run(extract, check=True, capture_output=True)
    key, cert, kernel = work / "stranger.key", work / "stranger.pem", work / "vmlinuz.signed"
    subj = "/CN=Stranger Secure Boot Signing"
    req = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", subj]
    subprocess.run([*req, "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    sign = ["sbsign", "--key", str(key), "--cert", str(cert), "--output", str(kernel), str(work / "live/vmlinuz")]
    subprocess.run(sign, check=True, capture_output=True)
    info = work / "info"
    info.write_text(f"Debian GNU/Linux 12 isodrop e2e {STRANGER} Live amd64\n")
    sums = {"./live/vmlinuz": kernel, "./.disk/info": info}
    lines = [
        f"{hashlib.md5(sums[rel].read_bytes()).hexdigest()}  {rel}" if (rel := line.split("  ", 1)[1]) in sums else line
        for line in (work / "md5sum.txt").read_text().splitlines()
    ]
    (work / "md5sum.new").write_text("\n".join(lines) + "\n")
    out = work / f"{STRANGER}.iso"
    edit = ["xorriso", "-indev", str(unsigned), "-outdev", str(out), "-map", str(kernel), "/live/vmlinuz"]
    edit += ["-map", str(info), "/.disk/info", "-map", str(work / "md5sum.new"), "/md5sum.txt", "-commit"]
    subprocess.run(edit, check=True, capture_output=True)
    return out


@pytest.fixture(scope="module")
def grub_stack(uefi_isos: tuple[LiveIso, LiveIso]) -> Iterator[Stack]:
    """isodrop's dnsmasq as the DHCP server, uefi_loader = "grub", both ISOs served, and trees_dir over
    HTTP too (nginx, as installed from the package's snippet): GRUB loads http.mod only with Secure Boot
    off, so the two boots show both paths."""
    with running_stack(DHCP_SNIPPET, with_router=False, menu_default="first", uefi_loader="grub", http=True) as stack:
        print(f"[e2e] logs of the UEFI DHCP-mode setup: {stack.work}")
        for iso in uefi_isos:
            stack.drop(iso.path)
        stack.service.wait_for(lambda: (stack.service.tftp / GRUB_MENU).exists(), 30, "the GRUB menu")
        yield stack


def status(stack: Stack) -> dict[str, dict[str, object]]:
    """`isodrop status --json` per slug, as a user would ask it."""
    out = stack.service.command("status", "--json").stdout
    return {e["slug"]: e for e in json.loads(out)["entries"]}


@vm_test
def test_secure_boot_on_boots_signed_kernel_and_unsigned_entry_says_why(
    grub_stack: Stack, uefi_isos: tuple[LiveIso, LiveIso], stranger_iso: Path
) -> None:
    """Secure Boot on: the unsigned entry is on the menu as "(needs Secure Boot off)"; chosen by keys it
    prints its reason and what to do, and Escape brings the menu back (no hang, nothing booted). The entry
    of a kernel signed by a stranger's key is tried first (a MOK could trust it): shim refuses it, GRUB
    says "bad shim signature", then the notice, Escape, the menu. Then the default boots the Debian-signed
    kernel, in the same VM boot."""
    signed, unsigned = uefi_isos
    slug_signed, slug_unsigned = slug_for(signed.path.name), slug_for(unsigned.path.name)
    grub_stack.drop(stranger_iso)
    entries = status(grub_stack)
    stranger = entries[slug_for(stranger_iso.name)]["secure_boot"]
    assert "signed by Stranger Secure Boot Signing, which this shim does not trust" in stranger, stranger
    assert "or enrol the CA that issued Stranger Secure Boot Signing's certificate as a MOK" in stranger
    refused = "Secure Boot: does not boot: unsigned kernel; to boot it: switch Secure Boot off in the PC's firmware"
    assert "Secure Boot: boots (signed by Debian Secure Boot Signer" in entries[slug_signed]["secure_boot"]
    assert entries[slug_unsigned]["secure_boot"].startswith(refused)
    text = grub_stack.service.command("status").stdout
    assert refused in text, text
    inspected = grub_stack.service.command("inspect", str(unsigned.path)).stdout
    assert f"UEFI:       {refused}" in inspected, inspected
    menu = (grub_stack.service.tftp / GRUB_MENU).read_text()
    assert f"--id 'iso-{slug_unsigned}'" in menu and "(no Secure Boot)" in menu and "(needs Secure Boot off)" in menu
    vm = grub_stack.vm("uefi", name="uefi-secure-boot", secure_boot=True, firmware_pxe=True)
    try:
        vm.wait_for("Boot from local disk", 150, UEFI_FAILURES)
        # GRUB cuts titles at the menu's width (80 columns): this one shows up to about "(needs Secure Boo"
        assert grub_title(unsigned) + " (needs Secure" in vm.text()
        assert "(no Secure Boot)" not in vm.text()
        since = highlight(vm, grub_title(unsigned))
        vm.type("\r", delay=0.3)
        vm.wait_for("Press Escape to return to the menu.", 30, UEFI_FAILURES, since=since)
        said = " ".join(vm.text()[since:].split())
        assert f"{grub_title(unsigned)}: it cannot boot with Secure Boot on: unsigned kernel." in said, said
        assert "Switch Secure Boot off in this PC's firmware settings to boot it." in said
        since = len(vm.text())
        vm.type("\x1b", delay=0.5)
        vm.wait_for("*" + grub_title(signed), 30, UEFI_FAILURES, since=since)  # the menu again
        since = highlight(vm, f"Debian GNU/Linux 12 isodrop e2e {STRANGER} Live amd64")
        vm.type("\r", delay=0.3)
        refusals = tuple(f for f in UEFI_FAILURES if f not in ("error: ", "bad shim signature"))
        vm.wait_for("Press Escape to return to the menu.", 120, (*refusals, unsigned.marker), since=since)
        tried = " ".join(vm.text()[since:].split())
        assert f"Loading iso-{slug_for(stranger_iso.name)} over TFTP" in tried, tried
        assert "bad shim signature" in tried, "shim refused the stranger's kernel"
        assert "its kernel is signed by Stranger Secure Boot Signing, which this shim does not trust" in tried
        assert "or enrol the CA of Stranger Secure Boot Signing as a MOK" in tried
        since = len(vm.text())
        vm.type("\x1b", delay=0.5)
        # GRUB printed an error in that entry: "Press any key to continue..." before the menu comes back
        vm.wait_for("Press any key to continue", 30, refusals, since=since)
        vm.type(" ", delay=0.5)  # a key that does nothing on the menu, should GRUB be back there already
        # the menu again, drawn with the default (the signed entry, the first) highlighted
        vm.wait_for("*" + grub_title(signed), 30, UEFI_FAILURES, since=since)
        vm.wait_for("Boot from local disk", 10, UEFI_FAILURES, since=since)
        report("UEFI Secure Boot ON, refused entry chosen by keys: its notice, Escape, the menu", vm.elapsed())
        since = len(vm.text())
        vm.type("\r", delay=0.3)
        boot(vm, signed, "UEFI Secure Boot ON, shim + GRUB, signed entry after the notice", since=since)
        assert f"Loading iso-{slug_signed} over TFTP" in vm.text()[since:]
        assert unsigned.marker not in vm.text()
    finally:
        vm.close()
    assert "secureboot: Secure boot enabled" in vm.text(), "the kernel must see Secure Boot on"


CTRL_N = "\x0e"  # GRUB: next entry. Arrow keys arrive as escape sequences that get split over serial.


def highlight(vm: VM, title: str) -> int:
    """Press Ctrl-N until GRUB marks the entry starting with `title` as highlighted ("*" on a serial
    terminal; under load a key can arrive while GRUB is still drawing); the console position after."""
    for _ in range(4):
        since = len(vm.text())
        vm.type(CTRL_N, delay=0.3)  # the first key also stops the countdown
        try:
            vm.wait_for("*" + title, 8, UEFI_FAILURES, since=since)
            return len(vm.text())
        except TimeoutError:
            continue
    raise AssertionError(f"{title!r} never highlighted:\n{vm.tail()}")


def grub_title(iso: LiveIso) -> str:
    """The start of the entry's title as GRUB draws it (the label from the ISO's .disk/info)."""
    return f"Debian GNU/Linux 12 isodrop e2e {iso.name} Live amd64"


@vm_test
def test_secure_boot_off_non_default_entry_chosen_by_keys_with_firmware_pxe(
    grub_stack: Stack, uefi_isos: tuple[LiveIso, LiveIso]
) -> None:
    """OVMF's own PXE stack (no NIC option ROM), Secure Boot off: the unsigned entry is offered (marked)
    and, chosen with Ctrl-N + Enter on the serial console, boots instead of the default."""
    boot_unsigned_chosen_by_keys(grub_stack, uefi_isos, "uefi-keys-firmware-pxe", "OVMF PXE")


def boot_unsigned_chosen_by_keys(
    stack: Stack, isos: tuple[LiveIso, LiveIso], name: str, what: str, **vm_options: str
) -> None:
    """Secure Boot off, OVMF's own PXE stack: the unsigned (second) entry is offered, marked, and chosen
    with Ctrl-N + Enter on the serial console boots instead of the default, kernel and initrd over HTTP."""
    signed, unsigned = isos
    slug = slug_for(unsigned.path.name)
    vm = stack.vm("uefi", name=name, firmware_pxe=True, **vm_options)
    try:
        vm.wait_for("Boot from local disk", 150, UEFI_FAILURES)
        assert "(no Secure Boot)" in vm.text(), "with Secure Boot off the unsigned entry is offered, marked"
        since = highlight(vm, grub_title(unsigned))
        vm.type("\r", delay=0.3)
        boot(
            vm,
            unsigned,
            f"UEFI Secure Boot off, {what}, second entry chosen by keys, kernel over HTTP",
            (*UEFI_FAILURES, signed.marker),
        )
        assert f"Loading iso-{slug} over HTTP" in vm.text()[since:]
        http_log = (stack.work / "nginx-access.log").read_text()
        assert f"GET /{slug}/live/vmlinuz" in http_log, http_log[-2000:]
        assert f"GET /{slug}/live/initrd.img" in http_log
        assert signed.marker not in vm.text()[since:]
    finally:
        vm.close()


@vm_test
class TestUefiProxyDhcp:
    """Beside a stand-in home router (DHCP only, its own namespace), isodrop's dnsmasq in proxy mode.

    Debian's GRUB 2.06 ignores proxy offers and takes its TFTP server from the router's answer: the
    documented recipe is that the router names isodrop's server as next-server (README "Proxy-DHCP and
    UEFI"), which is what this router does; shim itself follows the proxy offer. One stack serves both
    ISOs (signed and unsigned kernel) and trees_dir over HTTP to every boot of the class."""

    @pytest.fixture(scope="class")
    def proxy_stack(self, uefi_isos: tuple[LiveIso, LiveIso]) -> Iterator[Stack]:
        with running_stack(
            PROXY_SNIPPET, with_router=True, menu_default="first", router_args=next_server_args(), http=True
        ) as stack:
            note(f"[e2e] logs of the UEFI proxy-DHCP setup: {stack.work}")
            for iso in uefi_isos:
                stack.drop(iso.path)
            stack.service.wait_for(lambda: (stack.service.tftp / GRUB_MENU).exists(), 30, "the GRUB menu")
            yield stack

    @staticmethod
    def dnsmasq_log(stack: Stack) -> str:
        return (stack.work / "dnsmasq.log").read_text(errors="replace")

    def assert_served_by_proxy(self, stack: Stack, since: int) -> None:
        """The router leased and named no boot file; isodrop's dnsmasq leased nothing and, for the boot
        after log position `since`, sent shim and GRUB's menu over TFTP."""
        dnsmasq = self.dnsmasq_log(stack)
        assert "DHCPACK" not in dnsmasq, "proxy mode must not lease"
        router = (stack.work / "router.log").read_text(errors="replace")
        assert "DHCPACK" in router and "option: 67 bootfile-name" not in router, "the router names no boot file"
        sent = [line for line in dnsmasq[since:].splitlines() if "dnsmasq-tftp" in line and " sent " in line]
        for name in ("efi64/bootx64.efi", "efi64/grubx64.efi", GRUB_MENU):
            assert any(f"/{name} to " in line for line in sent), f"{name} not sent by isodrop's dnsmasq: {sent}"

    def test_default_entry_boots_in_proxy_mode_when_the_router_names_the_boot_server(
        self, proxy_stack: Stack, uefi_isos: tuple[LiveIso, LiveIso]
    ) -> None:
        signed, unsigned = uefi_isos
        since = len(self.dnsmasq_log(proxy_stack))
        vm = proxy_stack.vm("uefi", name="uefi-proxy", firmware_pxe=True)
        try:
            what = "UEFI Secure Boot off, proxy-DHCP beside a router, default entry"
            boot(vm, signed, what, (*UEFI_FAILURES, unsigned.marker))
            assert f"Loading iso-{slug_for(signed.path.name)} over HTTP" in vm.text(), "http.mod: Secure Boot is off"
        finally:
            vm.close()
        self.assert_served_by_proxy(proxy_stack, since)

    def test_secure_boot_on_signed_default_boots_in_proxy_mode(
        self, proxy_stack: Stack, uefi_isos: tuple[LiveIso, LiveIso]
    ) -> None:
        """OVMF's Secure Boot build with Microsoft's keys, in proxy mode: shim (Microsoft-signed) from the
        proxy offer, GRUB's menu from the router's next-server, the Debian-signed kernel to its marker."""
        since = len(self.dnsmasq_log(proxy_stack))
        what = "proxy-DHCP beside a router, default entry"
        boot_signed_with_secure_boot_on(proxy_stack, uefi_isos[0], "uefi-proxy-secure-boot", what)
        self.assert_served_by_proxy(proxy_stack, since)

    def test_secure_boot_off_non_default_entry_chosen_by_keys_in_proxy_mode(
        self, proxy_stack: Stack, uefi_isos: tuple[LiveIso, LiveIso]
    ) -> None:
        since = len(self.dnsmasq_log(proxy_stack))
        # Another PC (MAC, so address) than the default entry's boot: seen once with the same address a
        # minute after that boot, GRUB's initrd fetch over HTTP failed ("error: connection timeout"):
        # GRUB 2.06 opens its connections from fixed ports (21550, 21551, ...), so a PC booting again soon
        # reuses the last boot's ports, whose connections the server may still hold (README).
        what = "proxy-DHCP beside a router"
        boot_unsigned_chosen_by_keys(proxy_stack, uefi_isos, "uefi-proxy-keys", what, mac="52:54:00:12:34:60")
        self.assert_served_by_proxy(proxy_stack, since)

    def test_nginx_stopped_grub_loads_kernel_and_initrd_over_tftp(
        self, proxy_stack: Stack, uefi_isos: tuple[LiveIso, LiveIso]
    ) -> None:
        """Secure Boot off, http.mod loaded, nginx down: each file falls back to TFTP and the entry boots."""
        signed, unsigned = uefi_isos
        slug = slug_for(signed.path.name)
        nginx = proxy_stack.proc("nginx")
        nginx.stop()
        proxy_stack.procs.remove(nginx)
        since = len(self.dnsmasq_log(proxy_stack))
        try:
            vm = proxy_stack.vm("uefi", name="uefi-proxy-http-down", firmware_pxe=True, mac="52:54:00:12:34:61")
            try:
                what = "UEFI Secure Boot off, proxy-DHCP, nginx stopped: GRUB falls back to TFTP"
                # GRUB prints "error: connection refused." for each file, and, because it printed errors,
                # "Press any key to continue..." after the entry's commands: it boots after 10 s (or a key).
                failures = (*(f for f in UEFI_FAILURES if f != "error: "), unsigned.marker)
                boot(vm, signed, what, failures)
                shown = vm.text()
                assert f"Loading iso-{slug} over HTTP" in shown, "http.mod was loaded: HTTP was tried first"
                assert "HTTP failed: loading the kernel over TFTP" in shown
                assert "HTTP failed: loading the initrd over TFTP" in shown
                assert shown.count("error: connection refused.") == 2, shown[-2000:]
            finally:
                vm.close()
        finally:
            proxy_stack.procs.append(start_nginx(proxy_stack.net, proxy_stack.service.trees, proxy_stack.work))
        self.assert_served_by_proxy(proxy_stack, since)
        sent = self.dnsmasq_log(proxy_stack)[since:]
        assert f"/{slug}/live/vmlinuz to " in sent and f"/{slug}/live/initrd.img to " in sent, "over TFTP"
