"""Would this kernel boot with Secure Boot on through the shim + GRUB chain isodrop serves?

Decided once, when an ISO is recognised: the kernel's Authenticode signature (PE certificate table) is
checked with Debian's `sbverify` (sbsigntool) against the certificates the served shim trusts: its
built-in vendor certificate (the `.vendor_cert` section; Debian's shim carries "Debian Secure Boot CA"),
read from the shim binary itself rather than hard-coded. The kernel comes from an untrusted ISO: only the
PE headers are parsed here, with bounded reads, and `sbverify` runs with a size limit and a timeout.

Not covered (stated in the README): certificates a user enrolled with MokManager, and the firmware's own
`db` (shim also accepts images signed by a key in db; no kernel we know of is signed that way).
"""

from __future__ import annotations

import functools
import re
import shutil
import struct
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

MAX_KERNEL_BYTES = 256 * 1024 * 1024  # a bigger "kernel" is not one; do not hand it to sbverify
MAX_SECTION_BYTES = 1024 * 1024
SBVERIFY_TIMEOUT = 20.0
CERT_TABLE_DIRECTORY = 4  # IMAGE_DIRECTORY_ENTRY_SECURITY


@dataclass(frozen=True)
class Verdict:
    """The Secure Boot verdict for one entry's kernel; `reason` is what status/inspect show."""

    boots: bool
    signer: str  # leaf certificate subject CN of the signature, "" when unsigned
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verdict:
        return cls(boots=bool(data["boots"]), signer=str(data.get("signer", "")), reason=str(data["reason"]))


class NotPE(ValueError):
    pass


@dataclass(frozen=True)
class PEInfo:
    sections: dict[str, tuple[int, int]]  # name -> (file offset, size)
    cert_table: tuple[int, int]  # (file offset, size) of the Authenticode certificate table, (0, 0) if none


def read_pe(path: Path) -> PEInfo:
    """Section table and certificate-table location, reading only the headers (bounded)."""
    with open(path, "rb") as f:
        head = f.read(4096)
        if len(head) < 64 or head[:2] != b"MZ":
            raise NotPE("no MZ header")
        (pe_offset,) = struct.unpack_from("<I", head, 0x3C)
        if pe_offset > 64 * 1024:
            raise NotPE("PE header offset out of range")
        f.seek(pe_offset)
        hdr = f.read(24 + 240)
        if len(hdr) < 24 or hdr[:4] != b"PE\0\0":
            raise NotPE("no PE signature")
        (nsections,) = struct.unpack_from("<H", hdr, 6)
        symtab, nsymbols = struct.unpack_from("<II", hdr, 12)
        (opt_size,) = struct.unpack_from("<H", hdr, 20)
        opt = hdr[24 : 24 + opt_size]
        if len(opt) < 2:
            raise NotPE("truncated optional header")
        (magic,) = struct.unpack_from("<H", opt, 0)
        dirs_at = {0x10B: 96, 0x20B: 112}.get(magic)
        if dirs_at is None:
            raise NotPE(f"unknown optional header magic {magic:#x}")
        (ndirs,) = struct.unpack_from("<I", opt, dirs_at - 4)
        cert = (0, 0)
        if ndirs > CERT_TABLE_DIRECTORY and len(opt) >= dirs_at + 8 * (CERT_TABLE_DIRECTORY + 1):
            cert = struct.unpack_from("<II", opt, dirs_at + 8 * CERT_TABLE_DIRECTORY)
        if nsections > 96:
            raise NotPE("too many sections")
        f.seek(pe_offset + 24 + opt_size)
        table = f.read(40 * nsections)
        sections = {}
        for i in range(len(table) // 40):
            raw_name, _vsize, _vaddr, raw_size, raw_ptr = struct.unpack_from("<8sIIII", table, 40 * i)
            name = raw_name.rstrip(b"\0").decode("ascii", "replace")
            if name.startswith("/") and name[1:].isdigit() and symtab:
                # a long name (".vendor_cert" has 12 characters): "/N" is offset N in the COFF string table
                f.seek(symtab + 18 * nsymbols + int(name[1:]))
                name = f.read(64).split(b"\0", 1)[0].decode("ascii", "replace")
            sections[name] = (raw_ptr, raw_size)
    return PEInfo(sections=sections, cert_table=(cert[0], cert[1]))


def vendor_certificates(shim: Path) -> tuple[bytes, ...]:
    """DER certificates shim trusts by itself: its `.vendor_cert` section (shim's `cert_table` struct:
    authorized size, deauthorized size, authorized offset, deauthorized offset; offsets from the section)."""
    stat = shim.stat()
    return _vendor_certificates(str(shim), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _vendor_certificates(shim: str, _size: int, _mtime: int) -> tuple[bytes, ...]:
    info = read_pe(Path(shim))
    if ".vendor_cert" not in info.sections:
        return ()
    offset, size = info.sections[".vendor_cert"]
    with open(shim, "rb") as f:
        f.seek(offset)
        data = f.read(min(size, MAX_SECTION_BYTES))
    auth_size, _deauth_size, auth_offset, _deauth_offset = struct.unpack_from("<IIII", data, 0)
    der = data[auth_offset : auth_offset + auth_size]
    return (der,) if der[:1] == b"\x30" and len(der) == auth_size else ()


def _pem(der: bytes) -> str:
    import base64

    body = base64.encodebytes(der).decode().replace("\n", "")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"


def _subject_cn(der: bytes) -> str:
    out = _run(["openssl", "x509", "-inform", "der", "-noout", "-subject"], stdin=der)
    match = re.search(r"CN\s*=\s*(.+)", out.stdout.decode(errors="replace"))
    return match.group(1).strip() if match else "an unnamed certificate"


def _run(argv: list[str], stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(argv, input=stdin, capture_output=True, timeout=SBVERIFY_TIMEOUT, check=False)


def verify_kernel(kernel: Path, shim: Path) -> Verdict | None:
    """The verdict for `kernel` under `shim`'s trust, or None when it cannot be decided here (sbverify
    or the shim missing): then menus show the entry unmarked and status says why nothing was checked."""
    if shutil.which("sbverify") is None or shutil.which("openssl") is None or not shim.is_file():
        return None
    try:
        size = kernel.stat().st_size
        if size > MAX_KERNEL_BYTES:
            return Verdict(False, "", f"kernel is {size} bytes, too big to be a kernel")
        info = read_pe(kernel)
    except NotPE as exc:
        return Verdict(False, "", f"kernel is not an EFI image ({exc}): it cannot boot with Secure Boot")
    except OSError as exc:
        return Verdict(False, "", f"kernel unreadable: {exc}")
    if info.cert_table[1] == 0:
        return Verdict(False, "", "unsigned kernel")
    try:
        listed = _run(["sbverify", "--list", str(kernel)]).stdout.decode(errors="replace")
    except subprocess.TimeoutExpired:
        return Verdict(False, "", "signature could not be read in time")
    subjects = re.findall(r"subject:\s*(.+)", listed)
    signer = _cn(subjects[0]) if subjects else ""
    if not signer:
        return Verdict(False, "", "unsigned kernel")
    trusted = vendor_certificates(shim)
    names = []
    with tempfile.TemporaryDirectory(prefix="isodrop-sb-") as tmp:
        for i, der in enumerate(trusted):
            pem = Path(tmp) / f"vendor{i}.pem"
            pem.write_text(_pem(der))
            names.append(_subject_cn(der))
            try:
                result = _run(["sbverify", "--cert", str(pem), str(kernel)])
            except subprocess.TimeoutExpired:
                return Verdict(False, signer, "signature could not be checked in time")
            if result.returncode == 0 and _chain_reaches(kernel, info, pem, Path(tmp)):
                return Verdict(True, signer, f"boots (signed by {signer}, trusted through {names[-1]})")
    trust = ", ".join(names) or "no vendor certificate"
    return Verdict(False, signer, f"signed by {signer}, which this shim does not trust (it trusts {trust})")


def _chain_reaches(kernel: Path, info: PEInfo, ca_pem: Path, tmp: Path) -> bool:
    """Does a certificate in the signature chain up to `ca_pem`? sbverify 0.9.4 alone is not enough: it
    reports "verification OK" for Debian's shim (signed by Microsoft) against any --cert whatsoever."""
    offset, size = info.cert_table
    if size > MAX_SECTION_BYTES:
        return False
    with open(kernel, "rb") as f:
        f.seek(offset)
        table = f.read(size)
    certs: list[str] = []
    pos = 0
    while pos + 8 <= len(table):  # WIN_CERTIFICATE entries: length, revision, type, PKCS#7 data; 8-aligned
        length, _revision, kind = struct.unpack_from("<IHH", table, pos)
        if length < 8 or pos + length > len(table):
            break
        if kind == 0x0002:  # WIN_CERT_TYPE_PKCS_SIGNED_DATA
            out = _run(["openssl", "pkcs7", "-inform", "der", "-print_certs"], stdin=table[pos + 8 : pos + length])
            certs += re.findall(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----\n", out.stdout.decode(), re.S)
        pos += (length + 7) & ~7
    bundle = tmp / "chain.pem"
    bundle.write_text("".join(certs))
    for i, cert in enumerate(certs):
        leaf = tmp / f"cert{i}.pem"
        leaf.write_text(cert)
        argv = ["openssl", "verify", "-partial_chain", "-purpose", "any", "-no_check_time"]
        result = _run([*argv, "-CAfile", str(ca_pem), "-untrusted", str(bundle), str(leaf)])
        if result.returncode == 0:
            return True
    return False


def _cn(subject: str) -> str:
    """'/C=US/O=Foo/CN=Foo Signer' -> 'Foo Signer' (the whole subject when it has no CN)."""
    match = re.search(r"CN=([^/]+)", subject)
    return (match.group(1) if match else subject).strip()


def describe(verdict: Verdict | dict[str, Any] | None) -> str:
    """One line for status / inspect."""
    if verdict is None:
        return "Secure Boot: not checked (install shim-signed, sbsigntool and openssl to check it)"
    if isinstance(verdict, dict):
        verdict = Verdict.from_dict(verdict)
    if verdict.boots:
        return f"Secure Boot: {verdict.reason}"
    return f"Secure Boot: does not boot: {verdict.reason}"
