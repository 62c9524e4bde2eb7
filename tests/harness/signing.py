"""Test keys and images for Secure Boot verdicts: certificates made with openssl (a CA, signers under it),
a minimal PE image shaped like shim, whose `.vendor_cert` section holds one CA certificate, real GRUB
images made by grub-mkimage, and `ChainKit`: a vendor's own chain (shim, GRUB, kernel) as an ISO carries it."""

from __future__ import annotations

import io
import struct
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from isodrop.vendorchain import VendorChain


def openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


@dataclass(frozen=True)
class Identity:
    """A key and its certificate (PEM files), with the issuers above it, nearest first."""

    key: Path
    cert: Path
    chain: tuple[Path, ...] = ()


def certificate(folder: Path, name: str, cn: str, issuer: Identity | None, ca: bool) -> Identity:
    """A certificate with subject CN `cn`: self-signed when `issuer` is None."""
    key, cert, csr, ext = (folder / f"{name}.{suffix}" for suffix in ("key", "pem", "csr", "ext"))
    if ca:
        ext.write_text("basicConstraints=critical,CA:TRUE\nkeyUsage=keyCertSign,digitalSignature\n")
    else:
        ext.write_text("basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=codeSigning\n")
    openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", f"/CN={cn}")
    if issuer is None:
        signing: tuple[str | Path, ...] = ("-signkey", key)
    else:
        signing = ("-CA", issuer.cert, "-CAkey", issuer.key, "-CAcreateserial")
    openssl("x509", "-req", "-in", csr, *signing, "-out", cert, "-days", "30", "-extfile", ext)
    return Identity(key, cert, () if issuer is None else (issuer.cert, *issuer.chain))


def der_of(pem: Path) -> bytes:
    return subprocess.run(
        ["openssl", "x509", "-in", str(pem), "-outform", "DER"], check=True, capture_output=True
    ).stdout


def fake_shim(path: Path, vendor_der: bytes) -> Path:
    """A minimal PE32+ image whose `.vendor_cert` section holds shim's cert_table struct (authorized size,
    deauthorized size, authorized offset, deauthorized offset) and one DER certificate, the section named
    through the COFF string table as in Debian's shim ("/4")."""
    section_at, headers = 0x200, 0x200
    data = struct.pack("<IIII", len(vendor_der), 0, 16, 16 + len(vendor_der)) + vendor_der
    data += b"\0" * (-len(data) % 0x200)
    strings_at = section_at + len(data)
    image = bytearray(headers)
    image[0:2] = b"MZ"
    struct.pack_into("<I", image, 0x3C, 0x40)
    image[0x40:0x44] = b"PE\0\0"
    struct.pack_into("<HHIIIHH", image, 0x44, 0x8664, 1, 0, strings_at, 0, 240, 0x22)
    optional = 0x58
    struct.pack_into("<H", image, optional, 0x20B)
    struct.pack_into("<I", image, optional + 60, headers)  # SizeOfHeaders
    struct.pack_into("<I", image, optional + 108, 16)  # NumberOfRvaAndSizes
    struct.pack_into("<8sIIII", image, optional + 240, b"/4", len(data), 0x1000, len(data), section_at)
    names = b".vendor_cert\0"
    path.write_bytes(bytes(image) + data + struct.pack("<I", 4 + len(names)) + names)
    return path


def sbsign(identity: Identity, image: Path, output: Path) -> Path:
    subprocess.run(
        ["sbsign", "--key", str(identity.key), "--cert", str(identity.cert), "--output", str(output), str(image)],
        check=True,
        capture_output=True,
    )
    return output


def unsigned_pe(source: Path, output: Path) -> Path:
    """A copy of a signed PE image (Debian's GRUB stands in for a kernel) with its signatures removed."""
    output.write_bytes(source.read_bytes())
    subprocess.run(["sbattach", "--remove", str(output)], check=True, capture_output=True)
    return output


GRUB_MODULE_DIR = Path("/usr/lib/grub/x86_64-efi")  # Debian's grub-efi-amd64-bin
# What the vendors' GRUB images read the network with (Fedora's one module set has both; Debian's and
# Ubuntu's CD image, the one on their ISOs, has efinet but no tftp: docs/secure-boot-vendors.md section 1)
NETWORK_GRUB_MODULES = ("normal", "linux", "efinet", "tftp")
CD_GRUB_MODULES = ("normal", "linux", "efinet", "memdisk", "tar")


def grub_image(output: Path, modules: tuple[str, ...], prefix: str, config: str = "", memdisk: bytes = b"") -> Path:
    """A real, unsigned GRUB EFI image made by grub-mkimage from Debian's modules: its `mods` section holds
    the modules (and what they depend on), the prefix, and an embedded config and memdisk when given."""
    argv = ["grub-mkimage", "-O", "x86_64-efi", "-d", str(GRUB_MODULE_DIR), "-p", prefix, "-o", str(output)]
    if config:
        output.with_suffix(".cfg").write_text(config)
        argv += ["-c", str(output.with_suffix(".cfg"))]
    if memdisk:
        output.with_suffix(".memdisk").write_bytes(memdisk)
        argv += ["-m", str(output.with_suffix(".memdisk"))]
    subprocess.run([*argv, *modules], check=True, capture_output=True)
    return output


# What find_chain makes of ChainKit.tree_files(): Fedora's shape, usable
KIT_CHAIN = VendorChain(
    vendor="Test Vendor CA",
    shim="EFI/BOOT/BOOTX64.EFI",
    grub="EFI/BOOT/grubx64.efi",
    manager="EFI/BOOT/mmx64.efi",
    config_dirs=("efi64", "EFI/BOOT"),
    usable=True,
    reason="boots with Secure Boot on through its own chain (Test Vendor CA's shim and GRUB): chosen in the menu, "
    "the PC restarts into it",
)
DEBIAN_GRUB = Path("/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed")  # a real PE image to sign as a kernel


@dataclass(frozen=True)
class ChainKit:
    """A test vendor's chain as Fedora's ISO carries it (docs/secure-boot-vendors.md section 1), and what
    makes it break: a shim trusting "Test Vendor CA", GRUBs and a kernel signed under that CA or not."""

    folder: Path
    vendor: Identity  # the CA built into the shim
    signer: Identity  # issued by it: signs GRUB and the kernel
    stranger: Identity  # a self-signed key nobody trusts
    shim: Path
    grub_net: Path  # efinet + tftp, prefix /EFI/BOOT (Fedora's shape), signed by the vendor
    grub_cd: Path  # efinet only, prefix /boot/grub, embedded config and memdisk (Debian's CD shape), signed
    grub_stranger: Path  # the network image signed by the stranger
    grub_net_unsigned: Path
    kernel: Path  # signed by the vendor
    unsigned: Path  # a PE image without signatures

    def tree_files(self, grub: Path | None = None, kernel: Path | None = None) -> dict[str, bytes]:
        """The files of a Fedora-like ISO's chain, the kernel where Fedora's live ISO has it."""
        return {
            "EFI/BOOT/BOOTX64.EFI": self.shim.read_bytes(),
            "EFI/BOOT/grubx64.efi": (grub or self.grub_net).read_bytes(),
            "EFI/BOOT/mmx64.efi": self.shim.read_bytes(),
            "images/pxeboot/vmlinuz": (kernel or self.kernel).read_bytes(),
        }


def make_chain_kit(folder: Path) -> ChainKit:
    vendor = certificate(folder, "vendor-ca", "Test Vendor CA", None, ca=True)
    signer = certificate(folder, "vendor-signer", "Test Vendor Signer", vendor, ca=False)
    stranger = certificate(folder, "stranger", "Stranger Signer", None, ca=False)
    shim = fake_shim(folder / "shimx64.efi", der_of(vendor.cert))
    net = grub_image(folder / "grub-net.efi", NETWORK_GRUB_MODULES, "/EFI/BOOT")
    cd = grub_image(
        folder / "grub-cd.efi",
        CD_GRUB_MODULES,
        "/boot/grub",
        config="normal (memdisk)/grub.cfg\n",
        memdisk=_tar({"grub.cfg": b"configfile $prefix/grub.cfg\n"}),
    )
    unsigned = unsigned_pe(DEBIAN_GRUB, folder / "unsigned.efi")
    return ChainKit(
        folder=folder,
        vendor=vendor,
        signer=signer,
        stranger=stranger,
        shim=shim,
        grub_net=sbsign(signer, net, folder / "grub-net.signed.efi"),
        grub_cd=sbsign(signer, cd, folder / "grub-cd.signed.efi"),
        grub_stranger=sbsign(stranger, net, folder / "grub-stranger.efi"),
        grub_net_unsigned=net,
        kernel=sbsign(signer, unsigned, folder / "vmlinuz"),
        unsigned=unsigned,
    )


def _tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
