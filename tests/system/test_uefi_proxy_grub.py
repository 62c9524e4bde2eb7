"""Which Debian-signed network GRUB finds its configuration beside a router that names no boot server.

The set-up issue 19 describes: a stand-in home router (its own namespace) leases addresses and names no
boot server; dnsmasq from the shipped proxy snippet answers PXE only; an OVMF PC with Secure Boot on
(Microsoft's keys) network-boots with the firmware's own PXE stack. The proxy offer names
efi64/bootx64.efi (a Debian-signed shim), which fetches efi64/grubx64.efi from the same server; that GRUB
must then find (tftp,<server>)/grub/grub.cfg, here a config that prints a marker and its $prefix.
- Debian 13's signed grubnetx64 (grub 2.12, efinet proxy patch) finds it behind Debian 12's shim (a Debian 12
  server serving Debian 13's GRUB; the rest of the matrix is tests/system/test_e2e_trixie_loaders.py);
- a limit for the design: a vendor's shim that Debian's GRUB chainloads over TFTP does not find the
  network (shim looks for the PXE protocol on the device GRUB gives it, the NIC's SNP handle, and falls
  back to a file system: "Failed to find fs"), so it cannot fetch the GRUB its load option names; the
  same chain works from a disk (tests/test_testvendor.py).
Facts and sources: docs/secure-boot-vendors.md, section 3.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.e2e.netns import PrivateNet
from tests.harness.e2e.servers import PROXY_SNIPPET, start_dnsmasq, start_router
from tests.harness.e2e.testvendor import build_grub, vendor_kit
from tests.harness.e2e.trixie_debs import trixie_loaders
from tests.harness.e2e.vm import OVMF_VARS_MS, VM

pytestmark = [pytest.mark.vm, pytest.mark.network]
MARKER = "PROXY-GRUB-CONFIG-READ"
MARKER_END = "END-OF-PROXY-GRUB-LINE"  # waited for, so the whole echoed line is on the console
DEBIAN12_SHIM = Path("/usr/lib/shim/shimx64.efi.signed")


def debian13_net_grub() -> Path:
    """Debian 13's signed network GRUB, from the .debs tests/harness/e2e/trixie_debs.py fetches by name."""
    return Path(trixie_loaders().isodrop_settings()["grub_efi_file"])


@pytest.fixture()
def work() -> Iterator[Path]:
    """A folder dnsmasq can read after dropping privileges (pytest's tmp_path is private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="isodrop-proxy-grub-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture()
def proxy_network(work: Path) -> Iterator[tuple[PrivateNet, Path]]:
    """Router (leases only) + proxy dnsmasq from the shipped snippet; yields the network and TFTP root."""
    tftp = work / "tftp"
    (tftp / "efi64").mkdir(parents=True)
    (tftp / "grub").mkdir()
    (tftp / "grub" / "grub.cfg").write_text(f"echo {MARKER} prefix=$prefix {MARKER_END}\nhalt\n")
    net = PrivateNet.create()
    procs = []
    try:
        procs.append(start_router(net, work))
        procs.append(start_dnsmasq(net, PROXY_SNIPPET, tftp, work))
        yield net, tftp
    finally:
        for proc in procs:
            proc.stop()
        net.close()


def pxe_boot(
    net: PrivateNet, work: Path, tftp: Path, shim: Path, grub: Path, name: str, secure_boot_vars: Path = OVMF_VARS_MS
) -> VM:
    shutil.copyfile(shim, tftp / "efi64" / "bootx64.efi")
    shutil.copyfile(grub, tftp / "efi64" / "grubx64.efi")
    return VM(net, work, "uefi", name, secure_boot=True, firmware_pxe=True, secure_boot_vars=secure_boot_vars)


def test_debian13_net_grub_behind_debian12_shim_reads_its_config_through_a_proxy_offer(
    proxy_network: tuple[PrivateNet, Path], work: Path
) -> None:
    """What a Debian 12 server can do: serve Debian 13's signed GRUB behind its own shim (the same shim
    16.1). Debian 13's shim with it, and Debian 12's GRUB hanging, are tests/system/test_e2e_trixie_loaders.py."""
    net, tftp = proxy_network
    vm = pxe_boot(net, work, tftp, DEBIAN12_SHIM, debian13_net_grub(), "debian12-shim")
    try:
        vm.wait_for(MARKER_END, 180, failures=("Verification failed", "Access Denied", "grub>"))
        assert f"{MARKER} prefix=(tftp,{net.server_ip})/grub" in vm.text()
        leased = re.search(r"Station IP address is (\S+)", vm.text())
        assert leased and 50 <= int(leased[1].rsplit(".", 1)[1]) <= 90  # from the router's range, not isodrop's
    finally:
        vm.close()


def test_vendor_shim_chainloaded_over_tftp_does_not_find_the_network(
    proxy_network: tuple[PrivateNet, Path], work: Path
) -> None:
    net, tftp = proxy_network
    kit = vendor_kit()
    vendor = tftp / "efi64" / "testvendor"
    vendor.mkdir()
    shutil.copyfile(kit.shim, vendor / "shimx64.efi")
    early = "echo VENDOR-GRUB-OVER-TFTP\nhalt\n"
    build_grub(
        vendor / "vendor-grub.efi", ["normal", "echo", "halt"], kit.key("vendor"), kit.cert("vendor"), "/", early
    )
    chain = "chainloader /efi64/testvendor/shimx64.efi testvendor/vendor-grub.efi\nboot\necho CHAIN-FAILED\n"
    (tftp / "grub" / "grub.cfg").write_text(f"echo {MARKER} prefix=$prefix {MARKER_END}\n{chain}")
    grub = debian13_net_grub()
    vm = pxe_boot(net, work, tftp, DEBIAN12_SHIM, grub, "chain", secure_boot_vars=kit.ovmf_vars)
    try:
        vm.wait_for("CHAIN-FAILED", 180, failures=("VENDOR-GRUB-OVER-TFTP", "Verification failed"))
        console = vm.text()
        assert MARKER in console and "Failed to find fs" in console
        assert "testvendor/vendor-grub.efi: Unsupported" in console  # looked for on a file system, not TFTP
    finally:
        vm.close()
