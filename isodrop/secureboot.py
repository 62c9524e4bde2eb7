"""Would this kernel boot with Secure Boot on through the shim + GRUB chain isodrop serves?

Decided once, when an ISO is recognised, the way shim decides, against the certificate shim trusts by
itself: its built-in vendor certificate (the `.vendor_cert` section; Debian's shim carries "Debian Secure
Boot CA"), read from the shim binary rather than hard-coded. Facts taken from shim's own code (rhboot/shim
`pe.c` generate_hash, `verify.c` verify_buffer_authenticode / verify_one_signature) and from EDK2's
CryptoPkg as shim builds it (`Cryptlib/Pk/CryptAuthenticode.c` AuthenticodeVerify,
`CryptPkcs7VerifyCommon.c` Pkcs7Verify):

- The image digest is SHA-256 over: the headers up to the checksum field, from after it up to the
  certificate-table directory entry, from after that entry up to SizeOfHeaders; then every section with
  raw data, sorted by file offset; then the trailing data up to the certificate table, which must be the
  end of the file.
- The certificate table is a list of WIN_CERTIFICATE entries (length, revision, type), each 8-aligned;
  a length that is too small or runs past the table rejects the whole image; only entries of type
  PKCS_SIGNED_DATA are signatures, and the image is accepted when any one of them verifies.
- A signature verifies when its content type is SpcIndirectDataContent, the digest in it equals the image
  digest, and OpenSSL's PKCS7_verify accepts it (PKCS7_BINARY) over the content octets of that
  SpcIndirectDataContent with the vendor certificate as the only trusted certificate, partial chains
  allowed, any purpose, no time checks. Certificates inside the signature are only untrusted intermediates:
  copying the vendor certificate (it is public) or its names into a signature of one's own key proves
  nothing, because the signer's own certificate must chain to the trusted key by signatures.

Here the digest is computed with hashlib and the signature is walked with a small bounded DER reader; the
PKCS#7 check is `openssl smime -verify` with exactly those settings (the same OpenSSL function shim uses).
The kernel comes from an untrusted ISO: reads are bounded, at most MAX_SIGNATURES signatures in a table of
at most MAX_CERT_TABLE_BYTES are considered, and one deadline (VERDICT_SECONDS) covers the whole verdict,
each `openssl` process getting only the time left and being killed at the deadline.

Not covered (stated in the README): certificates a user enrolled with MokManager, and the firmware's own
`db` (shim also accepts images signed by a key in db; no kernel we know of is signed that way).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import shutil
import stat
import struct
import subprocess
import tempfile
import textwrap
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from enum import Enum
from pathlib import Path
from typing import Any, BinaryIO

MAX_KERNEL_BYTES = 256 * 1024 * 1024  # a bigger "kernel" is not one; do not hash it
MAX_SECTION_BYTES = 1024 * 1024
MAX_CERT_TABLE_BYTES = 128 * 1024  # Debian's kernel signature is about 2 KiB, Microsoft's on shim about 10
MAX_SIGNATURES = 8
VERDICT_SECONDS = 20.0  # the whole verdict, hashing and every openssl process together
MAX_TOOL_OUTPUT = 64 * 1024  # what is read back of an openssl process's messages
HASH_CHUNK = 1024 * 1024
CERT_TABLE_DIRECTORY = 4  # IMAGE_DIRECTORY_ENTRY_SECURITY
WIN_CERT_TYPE_PKCS_SIGNED_DATA = 0x0002
OID_SIGNED_DATA = bytes.fromhex("2a864886f70d010702")  # 1.2.840.113549.1.7.2
OID_SPC_INDIRECT_DATA = bytes.fromhex("2b060104018237020104")  # 1.3.6.1.4.1.311.2.1.4
OID_COMMON_NAME = bytes.fromhex("550403")  # 2.5.4.3
MAX_NAME_CHARS = 120


@dataclass(frozen=True)
class Verdict:
    """The Secure Boot verdict for one entry's kernel; `reason` is what status/inspect show. The one
    verdict type: recorded in the state record (as a dict only in its JSON), shown, and given to the
    menus (with Secure Boot on, GRUB shows an entry that does not boot as one that says why)."""

    boots: bool
    signer: str  # subject CN of the signer's own certificate, "" when unsigned
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verdict:
        return cls(boots=bool(data["boots"]), signer=str(data.get("signer", "")), reason=str(data["reason"]))


class NotPE(ValueError):
    pass


class Malformed(ValueError):
    """Something shim itself would reject the image for (its signature table or layout)."""


class OutOfTime(Exception):
    pass


class TooMany(Exception):
    pass


@dataclass(frozen=True)
class PEInfo:
    sections: dict[str, tuple[int, int]]  # name -> (file offset, size)
    cert_table: tuple[int, int]  # (file offset, size) of the Authenticode certificate table, (0, 0) if none
    raw_sections: tuple[tuple[int, int], ...] = ()  # (file offset, size) of every section, in table order
    checksum_at: int = 0  # file offset of the optional header's CheckSum field
    cert_entry_at: int = 0  # file offset of the certificate-table directory entry, 0 if there is none
    size_of_headers: int = 0


def read_pe(path: Path) -> PEInfo:
    """Section table and certificate-table location, reading only the headers (bounded)."""
    with open(path, "rb") as f:
        return _read_pe(f)


def _read_pe(f: BinaryIO) -> PEInfo:
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
    if len(opt) < dirs_at:
        raise NotPE("truncated optional header")
    (size_of_headers,) = struct.unpack_from("<I", opt, 60)
    (ndirs,) = struct.unpack_from("<I", opt, dirs_at - 4)
    cert, cert_entry_at = (0, 0), 0
    if ndirs > CERT_TABLE_DIRECTORY and len(opt) >= dirs_at + 8 * (CERT_TABLE_DIRECTORY + 1):
        cert = struct.unpack_from("<II", opt, dirs_at + 8 * CERT_TABLE_DIRECTORY)
        cert_entry_at = pe_offset + 24 + dirs_at + 8 * CERT_TABLE_DIRECTORY
    if nsections > 96:
        raise NotPE("too many sections")
    f.seek(pe_offset + 24 + opt_size)
    table = f.read(40 * nsections)
    sections = {}
    raw_sections = []
    for i in range(len(table) // 40):
        raw_name, _vsize, _vaddr, raw_size, raw_ptr = struct.unpack_from("<8sIIII", table, 40 * i)
        name = raw_name.rstrip(b"\0").decode("ascii", "replace")
        if name.startswith("/") and name[1:].isdigit() and symtab:
            # a long name (".vendor_cert" has 12 characters): "/N" is offset N in the COFF string table
            f.seek(symtab + 18 * nsymbols + int(name[1:]))
            name = f.read(64).split(b"\0", 1)[0].decode("ascii", "replace")
        sections[name] = (raw_ptr, raw_size)
        raw_sections.append((raw_ptr, raw_size))
    return PEInfo(
        sections=sections,
        cert_table=(cert[0], cert[1]),
        raw_sections=tuple(raw_sections),
        checksum_at=pe_offset + 24 + 64,
        cert_entry_at=cert_entry_at,
        size_of_headers=size_of_headers,
    )


def vendor_certificates(shim: Path) -> tuple[bytes, ...]:
    """DER certificates shim trusts by itself: its `.vendor_cert` section (shim's `cert_table` struct:
    authorized size, deauthorized size, authorized offset, deauthorized offset; offsets from the section)."""
    stat_result = shim.stat()
    return _vendor_certificates(str(shim), stat_result.st_size, stat_result.st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _vendor_certificates(shim: str, _size: int, _mtime: int) -> tuple[bytes, ...]:
    info = read_pe(Path(shim))
    if ".vendor_cert" not in info.sections:
        return ()
    offset, size = info.sections[".vendor_cert"]
    with open(shim, "rb") as f:
        f.seek(offset)
        data = f.read(min(size, MAX_SECTION_BYTES))
    if len(data) < 16:
        return ()
    auth_size, _deauth_size, auth_offset, _deauth_offset = struct.unpack_from("<IIII", data, 0)
    der = data[auth_offset : auth_offset + auth_size]
    return (der,) if der[:1] == b"\x30" and len(der) == auth_size else ()


def _pem(der: bytes) -> str:
    body = base64.b64encode(der).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"


# --- a bounded DER reader: definite lengths only (Authenticode signatures are DER) -------------------------


@dataclass(frozen=True)
class _Tlv:
    tag: int
    start: int  # of the tag byte
    value_start: int
    end: int


def _tlv(data: bytes, pos: int, end: int) -> _Tlv:
    """The DER element at `pos` that must fit before `end` (single-byte tags only)."""
    if pos + 2 > end:
        raise Malformed("truncated DER element")
    tag, first = data[pos], data[pos + 1]
    at = pos + 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or at + count > end:
            raise Malformed("unsupported DER length")
        length = int.from_bytes(data[at : at + count], "big")
        at += count
    if at + length > end:
        raise Malformed("DER element runs past its container")
    return _Tlv(tag, pos, at, at + length)


def _children(data: bytes, parent: _Tlv) -> Iterator[_Tlv]:
    pos = parent.value_start
    while pos < parent.end:
        child = _tlv(data, pos, parent.end)
        yield child
        pos = child.end


def _child_list(data: bytes, parent: _Tlv, limit: int = 64) -> list[_Tlv]:
    kids = []
    for kid in _children(data, parent):
        kids.append(kid)
        if len(kids) > limit:
            raise Malformed("too many DER elements")
    return kids


def _expect(tlv: _Tlv, tag: int, what: str) -> _Tlv:
    if tlv.tag != tag:
        raise Malformed(f"{what}: unexpected DER tag {tlv.tag:#x}")
    return tlv


@dataclass(frozen=True)
class _Signature:
    """What is read out of one PKCS#7 Authenticode signature without any cryptography."""

    digest: bytes  # the image digest the signature claims
    content: bytes  # the content octets of SpcIndirectDataContent: what the signer signed
    signer: str  # CN of the signer's own certificate, found by its issuer and serial number


def _parse_signature(blob: bytes) -> _Signature:
    """ContentInfo{signedData, SignedData{version, digestAlgorithms, ContentInfo{SpcIndirectDataContent},
    [0] certificates, [1] crls, signerInfos}} (RFC 2315 and Microsoft's Authenticode format)."""
    outer = _expect(_tlv(blob, 0, len(blob)), 0x30, "ContentInfo")
    oid, explicit = _child_list(blob, outer)[:2]
    if blob[oid.value_start : oid.end] != OID_SIGNED_DATA:
        raise Malformed("not PKCS#7 SignedData")
    signed_data = _expect(_child_list(blob, _expect(explicit, 0xA0, "SignedData"))[0], 0x30, "SignedData")
    parts = _child_list(blob, signed_data)
    if len(parts) < 4:
        raise Malformed("SignedData too short")
    content_info = _expect(parts[2], 0x30, "contentInfo")
    content_oid, content_explicit = _child_list(blob, content_info)[:2]
    if blob[content_oid.value_start : content_oid.end] != OID_SPC_INDIRECT_DATA:
        raise Malformed("the signed content is not SpcIndirectDataContent")
    indirect = _expect(_child_list(blob, _expect(content_explicit, 0xA0, "content"))[0], 0x30, "SpcIndirect")
    digest_info = _expect(_child_list(blob, indirect)[1], 0x30, "DigestInfo")
    digest = _expect(_child_list(blob, digest_info)[1], 0x04, "digest")
    certificates = next((p for p in parts[3:] if p.tag == 0xA0), None)
    signer_infos = _expect(parts[-1], 0x31, "signerInfos")
    signer = _signer_name(blob, certificates, signer_infos)
    return _Signature(
        digest=blob[digest.value_start : digest.end],
        content=blob[indirect.value_start : indirect.end],
        signer=signer,
    )


def _signer_name(blob: bytes, certificates: _Tlv | None, signer_infos: _Tlv) -> str:
    """CN of the certificate whose issuer and serial number the first SignerInfo names."""
    infos = _child_list(blob, signer_infos, limit=MAX_SIGNATURES)
    if not infos or certificates is None:
        return "an unnamed signer"
    issuer_serial = _child_list(blob, _expect(infos[0], 0x30, "SignerInfo"))[1]
    if issuer_serial.tag != 0x30:
        return "an unnamed signer"
    issuer, serial = (blob[t.start : t.end] for t in _child_list(blob, issuer_serial)[:2])
    for cert in _child_list(blob, certificates, limit=32):
        fields = _tbs_fields(blob, cert)
        if blob[fields[0].start : fields[0].end] == serial and blob[fields[2].start : fields[2].end] == issuer:
            return _common_name(blob, fields[4]) or "an unnamed signer"
    return "an unnamed signer"


def _tbs_fields(data: bytes, cert: _Tlv) -> list[_Tlv]:
    """serialNumber, signature, issuer, validity, subject, ... of a Certificate (its [0] version skipped)."""
    tbs = _child_list(data, _expect(_child_list(data, _expect(cert, 0x30, "Certificate"))[0], 0x30, "tbs"))
    fields = tbs[1:] if tbs and tbs[0].tag == 0xA0 else tbs
    if len(fields) < 5:
        raise Malformed("truncated certificate")
    return fields


def _common_name(data: bytes, name: _Tlv) -> str:
    """The CN of an X.509 Name, printable (it comes from a hostile ISO and ends up in status and logs)."""
    for rdn in _child_list(data, name):
        for attribute in _child_list(data, rdn):
            oid, value = _child_list(data, attribute)[:2]
            if data[oid.value_start : oid.end] == OID_COMMON_NAME:
                raw = data[value.value_start : value.end]
                text = raw.decode("utf-16-be", "replace") if value.tag == 0x1E else raw.decode("utf-8", "replace")
                printable = "".join(c if c.isprintable() else "?" for c in text).strip()
                return printable[:MAX_NAME_CHARS]
    return ""


def certificate_name(der: bytes) -> str:
    """Subject CN of a DER certificate ("an unnamed certificate" without one)."""
    try:
        return _common_name(der, _tbs_fields(der, _tlv(der, 0, len(der)))[4]) or "an unnamed certificate"
    except (Malformed, IndexError, ValueError):  # ValueError: an attribute without its value
        return "an unnamed certificate"


# --- the image digest and the signature table, as shim reads them -----------------------------------------


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise OutOfTime
        return left


def authenticode_sha256(f: BinaryIO, info: PEInfo, size: int, deadline: Deadline) -> bytes:
    """The image digest shim computes (pe.c generate_hash), streamed; Malformed where shim refuses."""
    table_at, table_size = info.cert_table
    digest = hashlib.sha256()
    header_end = info.size_of_headers
    if not info.cert_entry_at or not info.checksum_at + 4 <= info.cert_entry_at < info.cert_entry_at + 8 <= header_end:
        raise Malformed("headers out of order")
    if header_end > size:
        raise Malformed("SizeOfHeaders beyond the end of the file")
    for start, end in (
        (0, info.checksum_at),
        (info.checksum_at + 4, info.cert_entry_at),
        (info.cert_entry_at + 8, header_end),
    ):
        _hash_range(f, digest, start, end - start, deadline)
    hashed = header_end
    for offset, length in sorted((s for s in info.raw_sections if s[1]), key=lambda s: s[0]):
        if length > size - hashed or offset + length > size:
            raise Malformed("a section lies beyond the end of the file")
        _hash_range(f, digest, offset, length, deadline)
        hashed += length
    if size > hashed:
        if size - hashed < table_size or size - table_size != table_at:
            raise Malformed("data after the certificate table (it must end the file)")
        _hash_range(f, digest, hashed, size - table_size - hashed, deadline)
    return digest.digest()


def _hash_range(f: BinaryIO, digest: Any, offset: int, length: int, deadline: Deadline) -> None:
    f.seek(offset)
    while length > 0:
        deadline.remaining()
        chunk = f.read(min(length, HASH_CHUNK))
        if not chunk:
            raise Malformed("file shorter than its headers say")
        digest.update(chunk)
        length -= len(chunk)


def signature_entries(table: bytes) -> list[bytes]:
    """The PKCS#7 blobs of the WIN_CERTIFICATE entries shim considers (verify.c verify_buffer_authenticode):
    entries are 8-aligned; one whose length is under 8 or runs past the table rejects the image."""
    blobs = []
    offset = 0
    while offset < len(table):
        if offset + 8 > len(table):
            raise Malformed("a signature entry runs past the certificate table")
        length, _revision, kind = struct.unpack_from("<IHH", table, offset)
        if length > len(table) - offset:
            raise Malformed("a signature entry runs past the certificate table")
        if length < 8:
            raise Malformed("a signature entry is shorter than its header")
        if kind == WIN_CERT_TYPE_PKCS_SIGNED_DATA:
            blobs.append(table[offset + 8 : offset + length])
            if len(blobs) > MAX_SIGNATURES:
                raise TooMany(f"more than {MAX_SIGNATURES}")
        offset = (offset + length + 7) & ~7
    return blobs


# --- one signature against the trusted certificate -------------------------------------------------------


class Check(Enum):
    VERIFIED = "verified"
    MISMATCH = "does not match the image"
    UNTRUSTED = "untrusted signer"
    UNREADABLE = "unreadable"


def check_signature(
    blob: bytes, image_digest: bytes, trusted_pem: Path, tmp: Path, deadline: Deadline
) -> tuple[Check, str]:
    """One signature: (outcome, signer). The digest is compared here first (EDK2 AuthenticodeVerify does
    the same before any cryptography); then OpenSSL's PKCS7_verify with Pkcs7Verify's settings."""
    try:
        signature = _parse_signature(blob)
    except (Malformed, IndexError, ValueError):
        return Check.UNREADABLE, ""
    if signature.digest != image_digest:
        return Check.MISMATCH, signature.signer
    (tmp / "signature.der").write_bytes(blob)
    (tmp / "content.bin").write_bytes(signature.content)
    argv = ["openssl", "smime", "-verify", "-inform", "DER", "-in", str(tmp / "signature.der"), "-binary"]
    argv += ["-content", str(tmp / "content.bin"), "-CAfile", str(trusted_pem), "-no-CApath", "-no-CAstore"]
    argv += ["-partial_chain", "-purpose", "any", "-no_check_time", "-out", os.devnull]
    returncode, messages = _run_bounded(argv, tmp / "messages", deadline)
    if returncode == 0:
        return Check.VERIFIED, signature.signer
    # PKCS7_verify checks the signer's chain before the signature: a chain error says nothing of the latter
    untrusted = "certificate verify error" in messages or "signer certificate not found" in messages
    return (Check.UNTRUSTED if untrusted else Check.MISMATCH), signature.signer


def _run_bounded(argv: list[str], messages: Path, deadline: Deadline) -> tuple[int, str]:
    """Run with the time left (killed when it runs out), messages to a file of which a bounded part is read."""
    with open(messages, "w+b") as err:
        try:
            result = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                timeout=deadline.remaining(),
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise OutOfTime from exc
        err.seek(0)
        return result.returncode, err.read(MAX_TOOL_OUTPUT).decode(errors="replace")


# --- the verdict -------------------------------------------------------------------------------------------


def verify_kernel(kernel: Path, shim: Path, seconds: float = VERDICT_SECONDS, what: str = "kernel") -> Verdict | None:
    """The verdict for `kernel` under `shim`'s trust, or None when it cannot be decided here (openssl
    or the shim missing): then menus show the entry unmarked and status says why nothing was checked.
    Any PE image is checked the same way (shim verifies its second stage like a kernel); `what` names
    it in the reasons ("GRUB")."""
    if shutil.which("openssl") is None or not shim.is_file():
        return None
    deadline = Deadline(seconds)
    trusted = vendor_certificates(shim)  # a broken shim is not the kernel's fault: its errors go to the caller
    try:
        fd = os.open(kernel, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO must not block the worker
    except OSError as exc:
        return Verdict(False, "", f"{what} unreadable: {exc.strerror}")
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            return Verdict(False, "", f"{what} is not a regular file")
        if st.st_size > MAX_KERNEL_BYTES:
            return Verdict(False, "", f"{what} is {st.st_size} bytes, too big to be a {what}")
        try:
            return _verdict(f, st.st_size, trusted, deadline, what)
        except NotPE as exc:
            return Verdict(False, "", f"{what} is not an EFI image ({exc}): it cannot boot with Secure Boot")
        except Malformed as exc:
            return Verdict(False, "", f"shim would refuse the {what}: {exc}")
        except OutOfTime:
            return Verdict(False, "", f"signature could not be checked in time ({seconds:g} s)")
        except OSError as exc:
            return Verdict(False, "", f"{what} unreadable: {exc.strerror or exc}")


def _verdict(f: BinaryIO, size: int, trusted: tuple[bytes, ...], deadline: Deadline, what: str) -> Verdict:
    info = _read_pe(f)
    table_at, table_size = info.cert_table
    if table_size == 0:
        return Verdict(False, "", f"unsigned {what}")
    if table_size > MAX_CERT_TABLE_BYTES:
        return Verdict(
            False,
            "",
            f"too many signatures: a certificate table of {table_size} bytes (at most {MAX_CERT_TABLE_BYTES} are read)",
        )
    if table_at > size or table_size > size - table_at:
        raise Malformed("the certificate table lies beyond the end of the file")
    f.seek(table_at)
    try:
        blobs = signature_entries(f.read(table_size))
    except TooMany:
        return Verdict(False, "", f"too many signatures: more than {MAX_SIGNATURES} in its certificate table")
    if not blobs:
        return Verdict(False, "", f"unsigned {what} (no Authenticode signature in its certificate table)")
    image_digest = authenticode_sha256(f, info, size, deadline)
    names = [certificate_name(der) for der in trusted]
    outcomes: list[tuple[Check, str]] = []
    with tempfile.TemporaryDirectory(prefix="isodrop-sb-") as tmp:
        for index, der in enumerate(trusted):
            pem = Path(tmp) / f"vendor{index}.pem"
            pem.write_text(_pem(der))
            for blob in blobs:
                outcome, signer = check_signature(blob, image_digest, pem, Path(tmp), deadline)
                if outcome is Check.VERIFIED:
                    return Verdict(True, signer, f"boots (signed by {signer}, trusted through {names[index]})")
                outcomes.append((outcome, signer))
        if not trusted:  # nothing to verify against: still say who signed it and whether it matches
            outcomes = [_unverified(blob, image_digest) for blob in blobs]
    return _refusal(outcomes, ", ".join(names) or "no vendor certificate")


def _unverified(blob: bytes, image_digest: bytes) -> tuple[Check, str]:
    try:
        signature = _parse_signature(blob)
    except (Malformed, IndexError, ValueError):
        return Check.UNREADABLE, ""
    return (Check.UNTRUSTED if signature.digest == image_digest else Check.MISMATCH), signature.signer


def _refusal(outcomes: list[tuple[Check, str]], trust: str) -> Verdict:
    """Why no signature verified: an untrusted signer first (the usual case), then a broken signature."""
    for outcome, signer in outcomes:
        if outcome is Check.UNTRUSTED:
            return Verdict(False, signer, f"signed by {signer}, which this shim does not trust (it trusts {trust})")
    for outcome, signer in outcomes:
        if outcome is Check.MISMATCH:
            return Verdict(False, signer, f"signature does not match the image (signed by {signer})")
    return Verdict(False, "", "signature unreadable (not an Authenticode PKCS#7 signature)")


SECURE_BOOT_DOC = '/usr/share/doc/isodrop/booting.md "Secure Boot and other vendors"'
MOK_HOW = (
    "on that PC, mokutil --import <the CA certificate, DER>, reboot, and in MokManager "
    '"Enroll MOK" with the one-time password (or "Enroll key from disk" in MokManager)'
)


def untrusted_signer(verdict: Verdict) -> str:
    """The signer when a well-formed signature by a key shim does not trust was the only obstacle (then
    enrolling that signer's CA as a MOK would let shim trust the kernel), else ""."""
    if verdict.boots or not verdict.signer or not verdict.reason.startswith(f"signed by {verdict.signer}, "):
        return ""
    return verdict.signer


def remedy(verdict: Verdict) -> str:
    """What a person can do on a PC with Secure Boot on for an entry whose kernel shim refuses."""
    off = "switch Secure Boot off in the PC's firmware settings"
    signer = untrusted_signer(verdict)
    if not signer:
        return off
    return f"{off}, or enrol the CA that issued {signer}'s certificate as a MOK ({MOK_HOW}): {SECURE_BOOT_DOC}"


def menu_notice(label: str, verdict: Verdict, width: int = 76) -> tuple[str, ...]:
    """The lines GRUB prints on a Secure Boot PC when the person picks an entry whose kernel shim
    refuses, each at most `width` characters (words longer than that are cut)."""
    signer = untrusted_signer(verdict)
    if signer:
        why = f"its kernel is {verdict.reason}."
        what = (
            f"Switch Secure Boot off in this PC's firmware settings, or enrol the CA of {signer} as a MOK "
            "(mokutil --import, then MokManager).  See /usr/share/doc/isodrop/booting.md."
        )
    else:
        why = f"it cannot boot with Secure Boot on: {verdict.reason}."
        what = "Switch Secure Boot off in this PC's firmware settings to boot it."
    paragraphs = (f"{label}: {why}", what, "Press Escape to return to the menu.")
    lines: list[str] = []
    for paragraph in paragraphs:
        lines += textwrap.wrap(paragraph, width, break_long_words=True) + [""]
    return tuple(lines[:-1])


def describe(verdict: Verdict | None) -> str:
    """One line for status / inspect: the verdict and, when the kernel does not boot, what to do."""
    if verdict is None:
        return "Secure Boot: not checked (install shim-signed and openssl to check it)"
    if verdict.boots:
        return f"Secure Boot: {verdict.reason}"
    return f"Secure Boot: does not boot: {verdict.reason}; to boot it: {remedy(verdict)}"
