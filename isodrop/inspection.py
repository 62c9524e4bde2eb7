"""`isodrop inspect`: what isodrop would do with one ISO, read in place, without writing anything."""

from __future__ import annotations

import os
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

from isodrop import handover, status
from isodrop.extract import IsoTree
from isodrop.families import proof, recognise
from isodrop.model import BootEntry
from isodrop.render.menu import boot_params
from isodrop.secureboot import (
    MAX_KERNEL_BYTES,
    Malformed,
    NotPE,
    certificate_name,
    describe,
    untrusted_signer,
    vendor_certificates,
    verify_kernel,
)
from isodrop.sidecar import SIDECAR_SUFFIX, SidecarError, SidecarPolicy, apply, change, load_drop_sidecar
from isodrop.site import Site
from isodrop.state import slug_for
from isodrop.vendorchain import (
    GRUB,
    MANAGER,
    MAX_GRUB_BYTES,
    MAX_SHIM_BYTES,
    SHIM,
    describe_secure_boot,
    find_chain,
    locate,
)


@dataclass(frozen=True)
class Inspection:
    lines: tuple[str, ...]  # for a person, in order
    bootable: bool
    vendor_cert: bytes = b""  # DER: the CA in the ISO's own shim that this kernel's signature chains to


def inspect_iso(site: Site, iso: Path) -> Inspection:
    """The detected system, why it matched, the label, kernel, initrds and command line as the menus
    would boot it, or why it cannot be booted. Raises isodrop.extract.ExtractError when the file
    cannot be read as an ISO."""
    config = site.config
    ctx = site.context(slug_for(iso.name))
    secure_boot: tuple[str, ...] = ()
    vendor_cert = b""
    # the user named this file: a link is followed, but it is opened O_NOFOLLOW|O_NONBLOCK (no FIFO hang)
    with IsoTree(Path(os.path.realpath(iso)), iso.name, verify_checksums=config.verify_checksums) as tree:
        recognition = recognise(tree, ctx)
        volume_id, checks = tree.volume_id, tree.checks
        if isinstance(recognition, BootEntry):
            secure_boot, vendor_cert = _secure_boot(site, tree, recognition)
    lines = [f"file:       {iso}", f"volume ID:  {volume_id}", f"checked:    {', '.join(checks)}"]
    if not recognition.family:
        return Inspection((*lines, f"system:     not recognised: {recognition.reason}"), bootable=False)
    lines.append(f"system:     {recognition.family}")
    lines.append(f"matched by: {', '.join(recognition.evidence) or '-'}")
    if not isinstance(recognition, BootEntry):
        return Inspection((*lines, f"bootable:   no: {recognition.reason}"), bootable=False)
    lines.append(f"label:      {recognition.label}{' [guessed]' if recognition.guessed else ''}")
    lines.append(f"kernel:     {ctx.tftp_path}/{recognition.kernel}")
    lines += [f"initrd:     {ctx.tftp_path}/{initrd}" for initrd in recognition.initrds]
    booted, sidecar = _with_sidecar(site, iso, recognition)
    lines.append(f"cmdline:    {' '.join(boot_params(booted, config))}")
    if booted.params != recognition.params:
        lines.append(f"recognised: {' '.join(boot_params(recognition, config))}")
    if sidecar:
        lines.append(f"sidecar:    {sidecar}")
    lines.append(f"NFS root:   {site.server}:{ctx.nfs_path}")
    lines.append(f"root:       {booted.root_line()}")
    lines.append(f"proven:     {proof(recognition.family)}")
    lines.append(f"UEFI:       {secure_boot[0]}")
    lines += [f"MOK:        {line}" for line in secure_boot[1:]]
    lines += handover.entry_lines(status.read(config, site.trees).get("handover") or {}, slug_for(iso.name))
    return Inspection(tuple(lines), bootable=True, vendor_cert=vendor_cert)


def _with_sidecar(site: Site, iso: Path, entry: BootEntry) -> tuple[BootEntry, str]:
    """The entry as the menus would boot it with the sidecar beside `iso` (under the configured
    sidecar policy, as the service reads it), and what that sidecar changed or why it is ignored."""
    try:
        sidecar = load_drop_sidecar(iso.parent, iso.name, SidecarPolicy.of(site.config))
        if sidecar is None:
            return entry, ""
        return apply(entry, sidecar), f"{iso.name}{SIDECAR_SUFFIX}: {change(entry, sidecar).describe()}"
    except (SidecarError, ValueError) as exc:
        return entry, f"ignored: {exc}"


def _secure_boot(site: Site, tree: IsoTree, entry: BootEntry) -> tuple[tuple[str, ...], bytes]:
    """The Secure Boot verdict of the ISO's kernel (read out of the ISO into a temporary file), for a kernel
    Debian's shim refuses whether the ISO's own chain boots it (its EFI/BOOT files copied out, bounded), and,
    when the served shim refuses a sound signature, the CA in the ISO's own shim that this kernel's signature
    chains to: what a MOK enrolment would need (lines, that CA's DER)."""
    if "efi64" not in entry.firmware:
        return ("not offered to UEFI clients",), b""
    data = tree.read_bytes(entry.kernel, limit=MAX_KERNEL_BYTES)
    if data is None:
        return ("Secure Boot: not checked (kernel unreadable in the ISO)",), b""
    with tempfile.TemporaryDirectory(prefix="isodrop-inspect-") as tmp:
        kernel = Path(tmp) / "kernel"
        kernel.write_bytes(data)
        verdict = verify_kernel(kernel, site.config.shim_file)
        if verdict is None or verdict.boots:
            return (describe(verdict),), b""
        own = Path(tmp) / "iso"
        _copy_efi_boot(tree, own)
        line = describe_secure_boot(verdict, find_chain(own, kernel))
        if not untrusted_signer(verdict):
            return (line,), b""
        lines, certificate = _iso_vendor_ca(own, kernel)
        return (line, *lines), certificate


def _copy_efi_boot(tree: IsoTree, folder: Path) -> None:
    """The ISO's shim, GRUB and MokManager (regular files, any case) copied under `folder` at their paths,
    each at most one byte past what `find_chain` reads (so a bigger one is still told as too big)."""
    wanted = {"/".join(SHIM): MAX_SHIM_BYTES, "/".join(GRUB): MAX_GRUB_BYTES, "/".join(MANAGER): MAX_SHIM_BYTES}
    for rel, kind in tree.listing().items():
        limit = wanted.get(rel.lower())
        chunks = tree.read_chunks(rel, limit + 1) if kind == "f" and limit else None
        if chunks is None:
            continue
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        with open(folder / rel, "xb") as out:
            for chunk in chunks:
                out.write(chunk)


def _iso_vendor_ca(own: Path, kernel: Path) -> tuple[tuple[str, ...], bytes]:
    """The ISO's own shim's vendor certificate (from the copy of its EFI/BOOT files in `own`), if this
    kernel's signature chains to it. The shim comes from the ISO: a broken one is only "not found"."""
    found = locate(own, SHIM)
    if found is None:
        return ("the ISO carries no shim (EFI/BOOT/BOOTX64.EFI) naming its vendor's CA",), b""
    rel, shim = found
    try:
        certificates = vendor_certificates(shim) if shim.stat().st_size <= MAX_SHIM_BYTES else ()
        verdict = verify_kernel(kernel, shim) if certificates else None
    except (NotPE, Malformed, struct.error, ValueError, OSError):
        return (f"the ISO's shim ({rel}) cannot be read as one",), b""
    if not certificates or verdict is None or not verdict.boots:
        return (f"the ISO's shim ({rel}) does not trust this kernel's signer by itself",), b""
    name = certificate_name(certificates[0])
    return (
        f"the ISO's own shim ({rel}) trusts {name}, which this kernel's signature chains to: enrolled as a MOK, "
        "Debian's shim boots this kernel with Secure Boot on; isodrop inspect --vendor-cert FILE.der writes it",
    ), certificates[0]
