"""`isodrop inspect`: what isodrop would do with one ISO, read in place, without writing anything."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from isodrop.extract import IsoTree
from isodrop.families import proof, recognise
from isodrop.model import BootEntry
from isodrop.render.menu import boot_params
from isodrop.secureboot import MAX_KERNEL_BYTES, describe, verify_kernel
from isodrop.sidecar import SIDECAR_SUFFIX, SidecarError, SidecarPolicy, apply, change, load_drop_sidecar
from isodrop.site import Site
from isodrop.state import slug_for


@dataclass(frozen=True)
class Inspection:
    lines: tuple[str, ...]  # for a person, in order
    bootable: bool


def inspect_iso(site: Site, iso: Path) -> Inspection:
    """The detected system, why it matched, the label, kernel, initrds and command line as the menus
    would boot it, or why it cannot be booted. Raises isodrop.extract.ExtractError when the file
    cannot be read as an ISO."""
    config = site.config
    ctx = site.context(slug_for(iso.name))
    secure_boot = ""
    # the user named this file: a link is followed, but it is opened O_NOFOLLOW|O_NONBLOCK (no FIFO hang)
    with IsoTree(Path(os.path.realpath(iso)), iso.name, verify_checksums=config.verify_checksums) as tree:
        recognition = recognise(tree, ctx)
        volume_id, checks = tree.volume_id, tree.checks
        if isinstance(recognition, BootEntry):
            secure_boot = _secure_boot(site, tree, recognition)
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
    lines.append(f"UEFI:       {secure_boot}")
    return Inspection(tuple(lines), bootable=True)


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


def _secure_boot(site: Site, tree: IsoTree, entry: BootEntry) -> str:
    """The Secure Boot verdict of the ISO's kernel, read out of the ISO into a temporary file."""
    if "efi64" not in entry.firmware:
        return "not offered to UEFI clients"
    data = tree.read_bytes(entry.kernel, limit=MAX_KERNEL_BYTES)
    if data is None:
        return "Secure Boot: not checked (kernel unreadable in the ISO)"
    with tempfile.NamedTemporaryFile(prefix="isodrop-kernel-") as tmp:
        tmp.write(data)
        tmp.flush()
        return describe(verify_kernel(Path(tmp.name), site.config.shim_file))
