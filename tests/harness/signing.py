"""Test keys and images for Secure Boot verdicts: certificates made with openssl (a CA, signers under it)
and a minimal PE image shaped like shim, whose `.vendor_cert` section holds one CA certificate."""

from __future__ import annotations

import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path


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
