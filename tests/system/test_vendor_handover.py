"""The hand-over to an ISO's own Secure Boot chain through dnsmasq's per-client TFTP folder (issue 19).

The mechanism docs/secure-boot-vendors.md ("Hand-over to an ISO's own chain: proven") describes, run with
real dnsmasq in the test's own namespaces and OVMF (Secure Boot on, the test CA in db, its own PXE):
- dnsmasq `tftp-unique-root=mac`: the folder name (`52-54-00-12-34-56`), no fall-back to the root per
  file, symlinks and hard links followed, the MAC found by ARP for a client it gave no lease (proxy) —
  a client in a second namespace fetches with curl, no VM;
- proxy beside a stand-in router: Debian 12's shim + Debian 13's GRUB from the root read
  `efi64/handover/<slug>/$net_default_mac` (not found: dnsmasq logs it) and reboot; the test (standing in
  for isodrop) writes the per-MAC folder on seeing that line; the PC's next PXE boot runs the test
  vendor's shim, its GRUB 2.12 (Debian 13's modules: proxy patch, prefix /EFI/BOOT), its grub.cfg, and a
  vendor-signed kernel, all fetched from that folder (hard links); an unsigned kernel is refused;
- dnsmasq as the DHCP server (MAC from its lease): the per-MAC folder again, with the 2.06 vendor GRUB
  (prefix /boot/grub); a kernel signed by the stranger is refused.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.harness.e2e.handover import (
    FEDORA_CD_PREFIX,
    LogFollower,
    VendorKernels,
    client_folder_name,
    vendor_kernels,
    vendor_net_grub,
    write_client_folder,
)
from tests.harness.e2e.netns import PrivateNet
from tests.harness.e2e.procs import Proc
from tests.harness.e2e.servers import DHCP_SNIPPET, PROXY_SNIPPET, start_dnsmasq, start_router
from tests.harness.e2e.testvendor import VendorKit, vendor_kit
from tests.harness.e2e.trixie_debs import trixie_loaders
from tests.harness.e2e.vm import VM

pytestmark = [pytest.mark.vm, pytest.mark.network]
MAC = "52:54:00:12:34:56"  # the VM's default NIC address
SLUG = "vendor-live"
DEBIAN12_SHIM = Path("/usr/lib/shim/shimx64.efi.signed")
UNIQUE_ROOT = ("--tftp-unique-root=mac",)
KERNEL_MARK = "isodrop.vendor.kernel"
FAILURES = ("Verification failed", "Access Denied", "grub>", "Security Violation", "ROOT-CONFIG-READ")
# isodrop's menu entry under Secure Boot: ask for the hand-over by reading a file named by the PC's MAC.
HANDOVER_CFG = f"""\
echo "MAC-VARS default=${{net_default_mac}} interface=${{net_default_interface}} efinet0=${{net_efinet0_mac}} END"
cat /efi64/handover/{SLUG}/$net_default_mac
echo "HANDOVER-REQUESTED: restarting into {SLUG}'s own boot chain"
reboot
"""


def vendor_cfg(refused: str) -> str:
    """The vendor GRUB's config: where it read it from, a kernel it must refuse, then the vendor's kernel."""
    return f"""\
echo "VENDOR-GRUB-CONFIG prefix=$prefix root=$root cmdpath=$cmdpath END"
linux /boot/vmlinuz-{refused} console=ttyS0
echo "{refused.upper()}-KERNEL-REFUSED"
linux /boot/vmlinuz-vendor console=ttyS0 {KERNEL_MARK}
boot
"""


@pytest.fixture(scope="module")
def kit() -> VendorKit:
    return vendor_kit()


@pytest.fixture(scope="module")
def kernels(kit: VendorKit) -> VendorKernels:
    return vendor_kernels(kit)


def new_work(prefix: str) -> Path:
    """A folder dnsmasq can read after dropping privileges (pytest's tmp_path is private to root)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o755)
    return folder


def vendor_tree(tftp: Path, kit: VendorKit, grub: Path, kernels: VendorKernels) -> dict[str, Path]:
    """The extracted ISO in isodrop's tree (its EFI/BOOT chain and kernels), and the per-PC folder's
    links into it: what isodrop would write for this entry."""
    tree = tftp / "isodrop" / SLUG
    (tree / "EFI" / "BOOT").mkdir(parents=True)
    (tree / "boot").mkdir()
    shutil.copyfile(kit.shim, tree / "EFI/BOOT/BOOTX64.EFI")
    shutil.copyfile(grub, tree / "EFI/BOOT/grubx64.efi")
    for kernel in (kernels.vendor, kernels.stranger, kernels.unsigned):
        shutil.copyfile(kernel, tree / "boot" / kernel.name)
    for path in [tree, *tree.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return {
        "efi64/bootx64.efi": tree / "EFI/BOOT/BOOTX64.EFI",
        "efi64/grubx64.efi": tree / "EFI/BOOT/grubx64.efi",
        **{f"boot/{k.name}": tree / "boot" / k.name for k in (kernels.vendor, kernels.stranger, kernels.unsigned)},
    }


def tftp_lines(log: str, kind: str) -> list[str]:
    return [line.split(": ", 1)[1] for line in log.splitlines() if re.search(rf"dnsmasq-{kind}\[\d+\]: ", line)]


def not_found(log: str, folder: Path) -> list[str]:
    """The names asked for in `folder` that were not there, relative to it, in order."""
    lines = tftp_lines(log, "tftp")
    return [
        m[1] for line in lines if (m := re.fullmatch(rf"file {re.escape(str(folder))}/(\S+) not found for \S+", line))
    ]


def print_console_facts(what: str, console: str) -> None:
    """The console lines the facts in docs/secure-boot-vendors.md come from (seen with pytest -s)."""
    for line in console.splitlines():
        if re.search(r"MAC-VARS|VENDOR-GRUB-CONFIG|REFUSED|error:|HANDOVER|Kernel command line", line):
            print(f"[{what} console] {line.strip()}")


def files_sent(log: str, folder: Path) -> list[str]:
    """The files dnsmasq sent from `folder`, relative to it, each once, in the order first sent (OVMF asks
    for the boot file twice: once for its size, aborted, then whole)."""
    sent = [line.split()[1] for line in tftp_lines(log, "tftp") if line.startswith(f"sent {folder}/")]
    return list(dict.fromkeys(path.removeprefix(f"{folder}/") for path in sent))


def test_dnsmasq_serves_a_client_only_from_its_own_folder_named_by_its_mac() -> None:
    """No VM: a client in a second namespace (a MAC dnsmasq never leased: found by ARP, as in proxy mode)."""
    work = new_work("isodrop-unique-root-")
    tftp = work / "tftp"
    (tftp / "efi64").mkdir(parents=True)
    for name in ("a", "b"):
        (tftp / "efi64" / f"{name}.txt").write_text(f"root {name}\n")
    (tftp / "outside.txt").write_text("outside the client folder\n")
    net = PrivateNet.create()
    proc: Proc | None = None
    try:
        client = net.add_server(7)
        link = subprocess.run(
            ["ip", "-n", client.name, "-br", "link", "show", client.bridge], capture_output=True, text=True
        )
        mac = link.stdout.split()[2]
        log = work / "dnsmasq-file.log"
        proc = start_dnsmasq(net, PROXY_SNIPPET, tftp, work, log_file=str(log), extra=UNIQUE_ROOT)

        def get(path: str) -> str | None:
            url = f"tftp://{net.server_ip}/{path}"
            result = subprocess.run(
                [*client.ns_exec(), "curl", "-s", "--max-time", "5", url], capture_output=True, text=True
            )
            return result.stdout if result.returncode == 0 else None

        assert get("efi64/a.txt") == "root a\n"
        for wrong in (client_folder_name(mac).upper(), mac, mac.replace(":", "")):  # other spellings: ignored
            (tftp / wrong / "efi64").mkdir(parents=True)
            (tftp / wrong / "efi64" / "a.txt").write_text("wrong spelling\n")
        assert get("efi64/a.txt") == "root a\n"
        folder = tftp / client_folder_name(mac)
        (folder / "efi64").mkdir(parents=True)
        (folder / "efi64" / "a.txt").write_text("client a\n")
        (folder / "efi64" / "sym.txt").symlink_to(tftp / "outside.txt")
        (folder / "efi64" / "hard.txt").hardlink_to(tftp / "efi64" / "b.txt")
        assert get("efi64/a.txt") == "client a\n"
        assert get("/efi64/a.txt") == "client a\n"  # an absolute name is relative to the folder too
        assert get("efi64/b.txt") is None  # in the root only: no fall-back per file
        assert get("efi64/sym.txt") == "outside the client folder\n"  # symlinks followed, even out of it
        assert get("efi64/hard.txt") == "root b\n"
        assert get(f"efi64/handover/{SLUG}/{MAC}") is None
    finally:
        if proc is not None:
            proc.stop()
        net.close()
    sent = tftp_lines(log.read_text(), "tftp")
    client_ip = client.server_ip
    assert sent == [
        f"TFTP root is {tftp}  ",
        f"sent {tftp}/efi64/a.txt to {client_ip}",
        f"sent {tftp}/efi64/a.txt to {client_ip}",
        f"sent {folder}/efi64/a.txt to {client_ip}",
        f"sent {folder}/efi64/a.txt to {client_ip}",
        f"file {folder}/efi64/b.txt not found for {client_ip}",
        f"sent {folder}/efi64/sym.txt to {client_ip}",
        f"sent {folder}/efi64/hard.txt to {client_ip}",
        f"file {folder}/efi64/handover/{SLUG}/{MAC} not found for {client_ip}",
    ]
    shutil.rmtree(work, ignore_errors=True)


@dataclass
class HandoverRun:
    net: PrivateNet
    tftp: Path
    console: str
    log: str
    request: str  # the dnsmasq log line of the hand-over request
    seconds_to_dhcp: float  # from that line to the PC's next DHCP/proxy request dnsmasq logged
    seconds_to_tftp: float  # to the PC's next TFTP request (OVMF's size probe of bootx64.efi, aborted: logged)
    seconds_to_shim: float  # to bootx64.efi sent whole from the per-MAC folder
    seconds_to_write: float  # how long the stand-in for isodrop took to write the folder


@pytest.fixture(scope="module")
def proxy_handover(kit: VendorKit, kernels: VendorKernels) -> Iterator[HandoverRun]:
    """One PC beside a router that names no boot server: isodrop's Debian menu asks for the hand-over and
    reboots; the test writes the per-MAC folder on seeing the request; the next boot runs the vendor chain."""
    work = new_work("isodrop-handover-")
    tftp = work / "tftp"
    (tftp / "efi64").mkdir(parents=True)
    (tftp / "grub").mkdir()
    shutil.copyfile(DEBIAN12_SHIM, tftp / "efi64" / "bootx64.efi")
    shutil.copyfile(trixie_loaders().isodrop_settings()["grub_efi_file"], tftp / "efi64" / "grubx64.efi")
    (tftp / "grub" / "grub.cfg").write_text(HANDOVER_CFG)
    links = vendor_tree(tftp, kit, vendor_net_grub(kit), kernels)
    net = PrivateNet.create()
    procs: list[Proc] = []
    follower = vm = None
    try:
        procs.append(start_router(net, work))
        log = work / "dnsmasq-file.log"
        procs.append(start_dnsmasq(net, PROXY_SNIPPET, tftp, work, log_file=str(log), extra=UNIQUE_ROOT))
        follower = LogFollower(log)
        vm = VM(
            net,
            work,
            "uefi",
            "handover",
            secure_boot=True,
            firmware_pxe=True,
            secure_boot_vars=kit.ovmf_vars,
            reboot=True,
        )
        seen, request = follower.wait_for(r"dnsmasq-tftp\[\d+\]: (file \S+/efi64/handover/\S+ not found for \S+)", 180)
        write_client_folder(tftp, MAC, links, {f"{FEDORA_CD_PREFIX.strip('/')}/grub.cfg": vendor_cfg("unsigned")})
        written = time.monotonic()
        vm.wait_for("Kernel command line:", 240, FAILURES)
        dhcp_seen, _ = follower.wait_for(rf"dnsmasq-dhcp\[\d+\]: .*{MAC}", 5, after=seen)
        folder = tftp / client_folder_name(MAC)
        tftp_seen, _ = follower.wait_for(r"dnsmasq-tftp\[\d+\]: ", 5, after=seen)
        shim_seen, _ = follower.wait_for(rf"sent {re.escape(str(folder))}/efi64/bootx64.efi to ", 5, after=seen)
        time.sleep(0.5)
        print("\n[handover] " + "\n[handover] ".join(tftp_lines(follower.text(), "tftp")))
        print_console_facts("handover", vm.text())
        run = HandoverRun(
            net,
            tftp,
            vm.text(),
            follower.text(),
            request[1],
            *(t - seen for t in (dhcp_seen, tftp_seen, shim_seen, written)),
        )
        print(
            f"\n[handover] request line: {run.request}\n[handover] folder written {run.seconds_to_write:.2f} s"
            f" after it; the PC's next DHCP/proxy request {run.seconds_to_dhcp:.1f} s, its next TFTP request"
            f" {run.seconds_to_tftp:.1f} s, bootx64.efi sent from the per-MAC folder {run.seconds_to_shim:.1f} s"
        )
        yield run
    finally:
        if vm is not None:
            vm.close()
        if follower is not None:
            follower.close()
        for proc in procs:
            proc.stop()
        net.close()
        shutil.rmtree(work, ignore_errors=True)


def test_menu_asks_for_the_handover_with_a_file_named_by_the_mac(proxy_handover: HandoverRun) -> None:
    run = proxy_handover
    assert f"MAC-VARS default={MAC} " in run.console  # GRUB's $net_default_mac: lower-case, colons
    assert re.fullmatch(rf"file {run.tftp}/efi64/handover/{SLUG}/{MAC} not found for 10\.213\.\d+\.\d+", run.request)
    assert run.console.index("HANDOVER-REQUESTED") < run.console.index("VENDOR-GRUB-CONFIG")


def test_next_boot_runs_the_vendor_chain_from_the_per_mac_folder(proxy_handover: HandoverRun) -> None:
    run = proxy_handover
    folder = run.tftp / client_folder_name(MAC)
    assert files_sent(run.log, folder) == [
        "efi64/bootx64.efi",
        "efi64/grubx64.efi",  # shim asks in the folder of the proxy offer's boot file
        "EFI/BOOT/grub.cfg",
        "boot/vmlinuz-unsigned",
        "boot/vmlinuz-vendor",
    ]
    # Debian 13's normal.mod: the per-client names at the TFTP root (the proxy patch keeps only the boot
    # file's first character, so the boot file's folder is the root), then the same under the prefix
    mac_names = ["grub.cfg-01-52-54-00-12-34-56"]
    tried = not_found(run.log, folder)
    assert tried.index(mac_names[0]) < tried.index("grub.cfg") < tried.index(f"EFI/BOOT/{mac_names[0]}")
    # the vendor GRUB 2.12 read the proxy offer: its prefix is on isodrop's server, not the router
    assert f"VENDOR-GRUB-CONFIG prefix=(tftp,{run.net.server_ip}){FEDORA_CD_PREFIX} " in run.console
    assert KERNEL_MARK in run.console.split("Kernel command line:", 1)[1].splitlines()[0]
    assert 0 < run.seconds_to_write < run.seconds_to_dhcp < run.seconds_to_tftp <= run.seconds_to_shim


def test_vendor_chain_refuses_an_unsigned_kernel(proxy_handover: HandoverRun) -> None:
    console = proxy_handover.console.split("VENDOR-GRUB-CONFIG", 1)[1]
    refusal = console.split("UNSIGNED-KERNEL-REFUSED", 1)[0]
    assert "Linux version" not in refusal and "bad shim signature" in refusal


def test_dnsmasq_as_dhcp_server_serves_the_per_mac_folder_from_its_lease(
    kit: VendorKit, kernels: VendorKernels
) -> None:
    """dnsmasq leases the address (MAC from the lease); the 2.06 vendor GRUB reads /boot/grub/grub.cfg."""
    work = new_work("isodrop-handover-dhcp-")
    tftp = work / "tftp"
    (tftp / "efi64").mkdir(parents=True)
    (tftp / "grub").mkdir()
    shutil.copyfile(DEBIAN12_SHIM, tftp / "efi64" / "bootx64.efi")
    (tftp / "grub" / "grub.cfg").write_text("echo ROOT-CONFIG-READ\n")
    links = vendor_tree(tftp, kit, kit.grub_net, kernels)
    links["grubx64.efi"] = links["efi64/grubx64.efi"]
    write_client_folder(tftp, MAC, links, {"boot/grub/grub.cfg": vendor_cfg("stranger")})
    net = PrivateNet.create()
    proc: Proc | None = None
    vm = None
    try:
        log = work / "dnsmasq-file.log"
        proc = start_dnsmasq(net, DHCP_SNIPPET, tftp, work, log_file=str(log), extra=UNIQUE_ROOT)
        vm = VM(net, work, "uefi", "dhcp", secure_boot=True, firmware_pxe=True, secure_boot_vars=kit.ovmf_vars)
        vm.wait_for("Kernel command line:", 240, FAILURES)
        console = vm.text()
    finally:
        if vm is not None:
            vm.close()
        if proc is not None:
            proc.stop()
        net.close()
    folder = tftp / client_folder_name(MAC)
    lines = tftp_lines(log.read_text(), "tftp")
    print("\n[handover dhcp] " + "\n[handover dhcp] ".join(lines))
    assert files_sent(log.read_text(), folder) == [
        "efi64/bootx64.efi",
        "grubx64.efi",  # the DHCPACK carries the boot file as option 67, its file field is empty: shim asks at the root
        "boot/grub/grub.cfg",
        "boot/vmlinuz-stranger",
        "boot/vmlinuz-vendor",
    ]
    print_console_facts("handover dhcp", console)
    assert f"VENDOR-GRUB-CONFIG prefix=(tftp,{net.server_ip})/boot/grub " in console
    tried = not_found(log.read_text(), folder)  # 2.06: the per-client names under the prefix only
    assert "boot/grub/grub.cfg-01-52-54-00-12-34-56" in tried and "grub.cfg" not in tried
    refusal = console.split("VENDOR-GRUB-CONFIG", 1)[1].split("STRANGER-KERNEL-REFUSED", 1)[0]
    assert "Linux version" not in refusal and "bad shim signature" in refusal
    assert KERNEL_MARK in console.split("Kernel command line:", 1)[1].splitlines()[0]
    shutil.rmtree(work, ignore_errors=True)
