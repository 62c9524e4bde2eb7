"""A Fedora-41-layout live ISO carrying a vendor's own Secure Boot chain, as real Fedora ISOs do.

lorax puts Fedora's shim in `EFI/BOOT/BOOTX64.EFI`, MokManager in `EFI/BOOT/mmx64.efi` and its GRUB in
`EFI/BOOT/grubx64.efi` (docs/secure-boot-vendors.md section 1), and Fedora signs the kernel with its own
key. Here the chain is the test vendor's (tests/harness/e2e/testvendor.py): its shim with the vendor
certificate built in, a GRUB image the caller chose (network modules or the CD set), and the dracut ISO's
kernel re-signed by `signer` ("vendor", or "stranger" for a kernel the vendor shim must refuse). The
cached dracut ISO (tests/harness/e2e/dracutiso.py) is re-mastered with xorriso, not rebuilt: its
initrd, root and marker stay; cached on the hashes of everything put in.
"""

from __future__ import annotations

import hashlib
import inspect
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.harness.e2e.cache import cached_dir, recipe_hash
from tests.harness.e2e.dracutiso import LAYOUTS, build_iso
from tests.harness.e2e.testvendor import VendorKit, sign_kernel

RELEASE = "41"


@dataclass(frozen=True)
class VendorIso:
    path: Path
    marker: str  # the live root's marker (the dracut ISO's)
    volume_id: str


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_vendor_iso(kit: VendorKit, grub: Path, name: str, signer: str = "vendor") -> VendorIso:
    """The Fedora 41 test ISO with the test vendor's chain in `EFI/BOOT/` and its kernel signed by
    `signer`; `name` is both the file name's stem and the cache kind (one kind per variant)."""
    base = build_iso(RELEASE)
    kernel_rel = LAYOUTS[RELEASE][0]
    inputs = [base.path, kit.shim, kit.mokmanager, grub, kit.cert(signer)]
    key = recipe_hash([*(_digest(p) for p in inputs), signer, inspect.getsource(build_vendor_iso)])

    def build(work: Path) -> None:
        kernel = work / "vmlinuz"
        subprocess.run(
            ["xorriso", "-osirrox", "on", "-indev", str(base.path), "-extract", f"/{kernel_rel}", str(kernel)],
            check=True,
            capture_output=True,
        )
        kernel.chmod(0o644)
        signed = sign_kernel(kit, kernel, work / "vmlinuz.signed", signer=signer)
        mapping = {
            signed: f"/{kernel_rel}",
            kit.shim: "/EFI/BOOT/BOOTX64.EFI",
            kit.mokmanager: "/EFI/BOOT/mmx64.efi",
            grub: "/EFI/BOOT/grubx64.efi",
        }
        argv = ["xorriso", "-indev", str(base.path), "-outdev", str(work / f"{name}.iso")]
        for source, target in mapping.items():
            argv += ["-map", str(source), target]
        subprocess.run(argv, check=True, capture_output=True)
        kernel.unlink()
        signed.unlink()

    folder = cached_dir(f"vendor-iso-{name}", key, build)
    return VendorIso(path=folder / f"{name}.iso", marker=base.marker, volume_id=base.volume_id)
