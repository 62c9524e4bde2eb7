"""The test vendor's Secure Boot chain (tests/e2e/testvendor.py), the first block of issue 19's matrix.

Signatures are checked with sbverify, the shim's built-in certificate and OVMF's db are read back, then
OVMF's Secure Boot build (TCG) boots from a disk (QEMU's FAT view of a folder), one VM at a time:
- test shim (signed by the test CA) + vendor-signed GRUB: GRUB runs and lists its built-in modules; the
  network image has tftp and http, the CD image has neither (Debian's and Ubuntu's CD GRUB shape);
- the same shim + GRUB signed by a stranger: shim refuses it ("Security Violation"), GRUB never runs;
- the test shim with Debian's stock Microsoft-only variables: the firmware refuses the shim;
- Debian's real shim + GRUB with the test variables: Microsoft's keys are still there, GRUB starts;
- Debian's GRUB chainloads the test shim with a load option naming another file, and the test shim runs
  that vendor-signed GRUB (how one menu can hand over to a vendor's own chain, docs/secure-boot-vendors.md);
- kernels: the vendor GRUB under the test shim starts Debian's kernel re-signed by the vendor key and
  refuses Debian's own signature ("bad shim signature"); chained from Debian's shim and GRUB, the test
  shim's keys (not Debian's) decide, so the vendor-signed kernel starts there too.
The kit needs the Debian archive's shim source and takes about a minute to build once; it serves only VM
tests, so the whole module is marked vm.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.e2e.liveiso import base_dir
from tests.harness.e2e.netns import PrivateNet
from tests.harness.e2e.testvendor import VendorKit, build_grub, disk_boot_args, sign_kernel, vendor_kit, virt_fw_vars
from tests.harness.e2e.vm import OVMF_VARS_MS, SerialVM

pytestmark = [pytest.mark.vm, pytest.mark.network]  # VMs in a private network namespace
MARKER = "TESTVENDOR-GRUB-RAN"
LISTED = "TESTVENDOR-GRUB-LISTED"
# GRUB in normal mode reads $prefix/grub.cfg; both images have the prefix /boot/grub on their boot disk.
MODULE_LISTING_CFG = f"echo {MARKER}\nlsmod\necho {LISTED}\nhalt\n"
# Debian's GRUB hands over to the vendor's shim; the option is the second stage shim runs instead of grubx64.efi.
CHAINLOAD_CFG = "chainloader /EFI/testvendor/shimx64.efi '\\EFI\\testvendor\\vendor-grub.efi'\nboot\n"
DEBIAN_SHIM = Path("/usr/lib/shim/shimx64.efi.signed")
DEBIAN_CD_GRUB = Path("/usr/lib/grub/x86_64-efi-signed/gcdx64.efi.signed")


@pytest.fixture(scope="module")
def kit() -> VendorKit:
    return vendor_kit()


@pytest.fixture(scope="module")
def debian_kernel() -> Path:
    return base_dir() / "vmlinuz"  # Debian's signed kernel, as the live ISO tests use it


@pytest.fixture(scope="module")
def net() -> Iterator[PrivateNet]:
    net = PrivateNet.create()  # the VMs have no NIC; the namespace only hosts them as SerialVM does
    yield net
    net.close()


def sbverify(image: Path, cert: Path) -> bool:
    result = subprocess.run(["sbverify", "--cert", str(cert), str(image)], capture_output=True, check=False)
    return result.returncode == 0


def disk(folder: Path, shim: Path, grub: Path, config: str = "") -> Path:
    """A boot disk folder laid out as a vendor's ISO: EFI/BOOT/BOOTX64.EFI (shim) beside grubx64.efi."""
    boot = folder / "EFI" / "BOOT"
    boot.mkdir(parents=True)
    shutil.copyfile(shim, boot / "BOOTX64.EFI")
    shutil.copyfile(grub, boot / "grubx64.efi")
    if config:
        (folder / "boot" / "grub").mkdir(parents=True)
        (folder / "boot" / "grub" / "grub.cfg").write_text(config)
    return folder


def boot(
    net: PrivateNet, tmp_path: Path, esp: Path, vars_file: Path, wanted: str, name: str, failures: tuple[str, ...] = ()
) -> str:
    """Boot the disk with Secure Boot on until `wanted` shows on the console; returns the console text."""
    vars_copy = tmp_path / f"{name}-vars.fd"
    shutil.copyfile(vars_file, vars_copy)
    vm = SerialVM(net, tmp_path, name, disk_boot_args(esp, vars_copy))
    try:
        vm.wait_for(wanted, 120, failures)
        return vm.text()
    finally:
        vm.close()


def test_signatures_and_keys_are_where_the_vendor_shape_needs_them(kit: VendorKit) -> None:
    assert sbverify(kit.shim, kit.cert("ca")) and not sbverify(kit.shim, kit.cert("vendor"))
    assert sbverify(kit.mokmanager, kit.cert("ca"))
    for grub in (kit.grub_net, kit.grub_cd):
        assert sbverify(grub, kit.cert("vendor")) and not sbverify(grub, kit.cert("ca"))
    embedded = subprocess.run(
        ["objcopy", "-O", "binary", "--only-section=.vendor_cert", str(kit.shim), "/dev/stdout"],
        capture_output=True,
        check=True,
    ).stdout
    vendor_der = (kit.folder / "keys" / "vendor.der").read_bytes()
    assert vendor_der in embedded and (kit.folder / "keys" / "ca.der").read_bytes() not in embedded


def test_ovmf_db_keeps_microsoft_keys_and_adds_the_test_ca(kit: VendorKit) -> None:
    listing = subprocess.run(
        [str(virt_fw_vars()), "--input", str(kit.ovmf_vars), "--print", "--verbose"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    db = listing.split("name=db ", 1)[1].split("\nname=", 1)[0]
    subjects = re.findall(r"subject CN=(.+)", db)
    assert subjects == [
        "Microsoft Windows Production PCA 2011",
        "Microsoft Corporation UEFI CA 2011",
        "isodrop test ca",
    ]


@pytest.mark.parametrize(("image", "network_modules"), [("grub_net", True), ("grub_cd", False)])
def test_shim_runs_the_vendor_signed_grub_under_secure_boot(
    kit: VendorKit, net: PrivateNet, tmp_path: Path, image: str, network_modules: bool
) -> None:
    esp = disk(tmp_path / "esp", kit.shim, getattr(kit, image), MODULE_LISTING_CFG)
    console = boot(net, tmp_path, esp, kit.ovmf_vars, LISTED, image)
    modules = set(re.findall(r"^(\w+)\s+\d+", console.split(MARKER, 1)[1].split(LISTED, 1)[0], re.M))
    assert {"efinet", "linux", "normal"} <= modules
    if network_modules:
        assert {"tftp", "http"} <= modules
    else:
        assert not {"tftp", "http"} & modules


def test_shim_refuses_grub_signed_by_a_stranger(kit: VendorKit, net: PrivateNet, tmp_path: Path) -> None:
    stranger_grub = build_grub(
        tmp_path / "grub-stranger.efi", ["normal", "echo"], kit.key("stranger"), kit.cert("stranger"), "/boot/grub"
    )
    esp = disk(tmp_path / "esp", kit.shim, stranger_grub, MODULE_LISTING_CFG)
    console = boot(net, tmp_path, esp, kit.ovmf_vars, "Security Violation", "stranger")
    assert "Welcome to GRUB!" not in console and MARKER not in console


def test_firmware_without_the_test_ca_refuses_the_test_shim(kit: VendorKit, net: PrivateNet, tmp_path: Path) -> None:
    esp = disk(tmp_path / "esp", kit.shim, kit.grub_net, MODULE_LISTING_CFG)
    console = boot(net, tmp_path, esp, OVMF_VARS_MS, "Access Denied", "no-test-ca")
    assert "Welcome to GRUB!" not in console


def test_debian_shim_still_boots_with_the_test_variables(kit: VendorKit, net: PrivateNet, tmp_path: Path) -> None:
    esp = disk(tmp_path / "esp", DEBIAN_SHIM, DEBIAN_CD_GRUB)
    console = boot(net, tmp_path, esp, kit.ovmf_vars, "Welcome to GRUB!", "debian")
    assert "Verification failed" not in console and "Access Denied" not in console


def test_debian_grub_chainloads_the_vendor_shim_which_runs_the_grub_its_load_option_names(
    kit: VendorKit, net: PrivateNet, tmp_path: Path
) -> None:
    esp = disk(tmp_path / "esp", DEBIAN_SHIM, DEBIAN_CD_GRUB, "echo DEBIAN-GRUB-RAN\n" + CHAINLOAD_CFG)
    vendor = esp / "EFI" / "testvendor"
    vendor.mkdir()
    shutil.copyfile(kit.shim, vendor / "shimx64.efi")  # and no grubx64.efi beside it: only the option names one
    early = f"echo {MARKER}\nhalt\n"
    build_grub(
        vendor / "vendor-grub.efi", ["normal", "echo", "halt"], kit.key("vendor"), kit.cert("vendor"), "/", early
    )
    console = boot(net, tmp_path, esp, kit.ovmf_vars, MARKER, "chain")
    assert console.index("DEBIAN-GRUB-RAN") < console.index(MARKER)


KERNEL_STARTED = "isodrop.testvendor.kernel"  # on the kernel command line, which Linux prints early
KERNEL_CFG = f"linux /vmlinuz console=ttyS0 panic=-1 {KERNEL_STARTED}\nboot\n"


@pytest.mark.parametrize(("signer", "starts"), [("vendor", True), ("debian", False)])
def test_vendor_grub_starts_only_kernels_its_shim_trusts(
    kit: VendorKit, net: PrivateNet, tmp_path: Path, debian_kernel: Path, signer: str, starts: bool
) -> None:
    esp = disk(tmp_path / "esp", kit.shim, kit.grub_net, KERNEL_CFG)
    if signer == "debian":
        shutil.copyfile(debian_kernel, esp / "vmlinuz")
    else:
        sign_kernel(kit, debian_kernel, esp / "vmlinuz", signer)
    wanted, failure = (
        ("Kernel command line:", "bad shim signature") if starts else ("bad shim signature", "Linux version")
    )
    console = boot(net, tmp_path, esp, kit.ovmf_vars, wanted, signer, failures=(failure,))
    assert (KERNEL_STARTED in console.split("Kernel command line:", 1)[-1]) is starts


def test_chained_vendor_shim_verifies_the_kernel_with_its_own_keys(
    kit: VendorKit, net: PrivateNet, tmp_path: Path, debian_kernel: Path
) -> None:
    esp = disk(tmp_path / "esp", DEBIAN_SHIM, DEBIAN_CD_GRUB, CHAINLOAD_CFG)
    vendor = esp / "EFI" / "testvendor"
    vendor.mkdir()
    shutil.copyfile(kit.shim, vendor / "shimx64.efi")
    early = KERNEL_CFG.replace("/vmlinuz", "/vmlinuz-vendor")
    build_grub(
        vendor / "vendor-grub.efi",
        ["linux", "boot", "echo", "fat", "part_msdos"],
        kit.key("vendor"),
        kit.cert("vendor"),
        "/",
        early,
    )
    sign_kernel(kit, debian_kernel, esp / "vmlinuz-vendor")
    console = boot(net, tmp_path, esp, kit.ovmf_vars, "Kernel command line:", "chain-kernel", ("bad shim signature",))
    assert KERNEL_STARTED in console.split("Kernel command line:", 1)[1]
