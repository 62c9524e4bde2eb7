"""Which Debian-signed network GRUB finds its configuration beside a router that names no boot server.

The set-up issue 19 describes: a stand-in home router (its own namespace) leases addresses and names no
boot server; dnsmasq from the shipped proxy snippet answers PXE only; an OVMF PC with Secure Boot on
(Microsoft's keys) network-boots with the firmware's own PXE stack. The proxy offer names
efi64/bootx64.efi (a Debian-signed shim), which fetches efi64/grubx64.efi from the same server; that GRUB
must then find (tftp,<server>)/grub/grub.cfg, here a config that prints a marker and its $prefix.
- Debian 13's signed grubnetx64 (grub 2.12, efinet proxy patch) finds it, behind Debian 12's or 13's shim;
- Debian 12's (2.06) does not: it stops after "Welcome to GRUB!" (what issue 19 reports).
Facts and sources: docs/secure-boot-vendors.md, section 3.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.debian13grub import debian13_grub
from tests.e2e.netns import PrivateNet
from tests.e2e.servers import PROXY_SNIPPET, start_dnsmasq, start_router
from tests.e2e.vm import VM

pytestmark = [pytest.mark.vm, pytest.mark.network]
MARKER = "PROXY-GRUB-CONFIG-READ"
DEBIAN12_SHIM = Path("/usr/lib/shim/shimx64.efi.signed")
DEBIAN12_NET_GRUB = Path("/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed")
# Debian 12's GRUB, given no server, stays silent after its banner; this long is plenty for the other
# to have read its config over TFTP (it takes about 10 s from VM start here, under TCG).
SILENCE_SECONDS = 45


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
    (tftp / "grub" / "grub.cfg").write_text(f"echo {MARKER} prefix=$prefix\nhalt\n")
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


def pxe_boot(net: PrivateNet, work: Path, tftp: Path, shim: Path, grub: Path, name: str) -> VM:
    shutil.copyfile(shim, tftp / "efi64" / "bootx64.efi")
    shutil.copyfile(grub, tftp / "efi64" / "grubx64.efi")
    return VM(net, work, firmware="uefi", name=name, secure_boot=True, firmware_pxe=True)


@pytest.mark.parametrize("shim_release", ["debian12", "debian13"])
def test_debian13_net_grub_reads_its_config_through_a_proxy_offer(
    proxy_network: tuple[PrivateNet, Path], work: Path, shim_release: str
) -> None:
    net, tftp = proxy_network
    fetched = debian13_grub()
    shim = DEBIAN12_SHIM if shim_release == "debian12" else fetched / "shimx64.efi"
    vm = pxe_boot(net, work, tftp, shim, fetched / "grubnetx64.efi", shim_release)
    try:
        vm.wait_for(MARKER, 180, failures=("Verification failed", "Access Denied", "grub>"))
        assert f"{MARKER} prefix=(tftp,{net.server_ip})/grub" in vm.text()
        leased = re.search(r"Station IP address is (\S+)", vm.text())
        assert leased and 50 <= int(leased[1].rsplit(".", 1)[1]) <= 90  # from the router's range, not isodrop's
    finally:
        vm.close()


def test_debian12_net_grub_does_not_read_a_proxy_offer(proxy_network: tuple[PrivateNet, Path], work: Path) -> None:
    net, tftp = proxy_network
    vm = pxe_boot(net, work, tftp, DEBIAN12_SHIM, DEBIAN12_NET_GRUB, "debian12-grub")
    try:
        banner = vm.wait_for("Welcome to GRUB!", 180, failures=("Verification failed", "Access Denied"))
        with pytest.raises(TimeoutError):
            vm.wait_for(MARKER, SILENCE_SECONDS)
        assert vm.elapsed() - banner >= SILENCE_SECONDS
    finally:
        vm.close()
