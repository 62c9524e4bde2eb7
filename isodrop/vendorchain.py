"""An ISO's own Secure Boot chain: its vendor's shim and GRUB in `EFI/BOOT/`, served so a PC can run them.

Debian's shim trusts only Debian's key, so a kernel Canonical or Fedora signed is refused through the chain
isodrop's menu runs. A PC can still boot such an ISO with Secure Boot on if its firmware starts that ISO's
own shim (signed through Microsoft's UEFI CA, which the firmware trusts), that shim runs the ISO's GRUB
(signed by the vendor), and that GRUB reads its menu and the kernel from the network. `VendorChain` is
what was found on one ISO: paths are relative to its tree.

`find_chain` decides it once, when the ISO is built into a tree (and `isodrop inspect` on a copy of the
ISO's `EFI/BOOT/` files). Everything in the tree is hostile: symbolic links are followed only while they
stay inside the tree, every read is bounded, and one deadline covers the whole finding. What it checks,
in the order a PC would meet it (docs/secure-boot-vendors.md sections 1, 2 and 5):

- the shim's own vendor certificate (`.vendor_cert`, `secureboot.vendor_certificates`): the vendor;
- GRUB's signature against that certificate, the way shim verifies its second stage (`verify_kernel`);
- GRUB's built-in modules, read out of its PE section `mods` as GRUB itself walks it (include/grub/kernel.h:
  `struct grub_module_info64` {magic "mimg", padding, offset, size} at the section's start, then
  `struct grub_module_header` {type, size including the header} records, each rounded up to 8 bytes, up to
  `size`; type 0 an ELF module named by its `.modname` section, 1 a memdisk, 2 an embedded config, 3 the
  prefix, the last one counting, grub-core/kern/main.c): a signed GRUB under Secure Boot cannot load a
  module from a file, so without `tftp` (and `efinet`) built in it cannot read its menu from the network;
- where it looks for grub.cfg when network-booted: the folder of the boot file (Fedora's `fw_path`,
  tried first, grub-core/normal/main.c), then the prefix's path when the prefix names no other device;
- the kernel's signature against the same certificate.
"""

from __future__ import annotations

import os
import re
import stat
import struct
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO

from isodrop.secureboot import (
    VERDICT_SECONDS,
    Deadline,
    Malformed,
    NotPE,
    OutOfTime,
    Verdict,
    certificate_name,
    describe,
    read_pe,
    remedy,
    vendor_certificates,
    verify_kernel,
)


@dataclass(frozen=True)
class VendorChain:
    """The ISO's own chain, as found in its tree; `usable` says whether a PC can boot the entry through it,
    `reason` says why (or why not) in the words status and inspect show."""

    vendor: str  # the common name of the certificate built into the ISO's shim ("Fedora Secure Boot CA")
    shim: str  # "EFI/BOOT/BOOTX64.EFI"
    grub: str  # "EFI/BOOT/grubx64.efi"
    manager: str  # "EFI/BOOT/mmx64.efi" or "" (MokManager, run by shim when a second stage is refused)
    config_dirs: tuple[str, ...]  # where that GRUB looks for grub.cfg over TFTP, relative to the TFTP root
    usable: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["config_dirs"] = list(self.config_dirs)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VendorChain:
        return cls(**{**data, "config_dirs": tuple(data["config_dirs"])})


# The folder of the boot file dnsmasq hands UEFI PCs (isodrop.loaders.choice.UEFI_BOOT_FILE, not imported:
# the loaders import the menu model, which carries this module's value)
BOOT_FOLDER = "efi64"
SHIM = ("efi", "boot", "bootx64.efi")  # found in any case, as the firmware's FAT does
GRUB = ("efi", "boot", "grubx64.efi")  # shim's DEFAULT_LOADER, beside it
MANAGER = ("efi", "boot", "mmx64.efi")
MAX_SHIM_BYTES = 8 * 1024 * 1024  # shim is about 1 MiB
MAX_GRUB_BYTES = 64 * 1024 * 1024  # Debian's CD GRUB is 4 MiB with its memdisk, Fedora's about 3
MAX_DIR_ENTRIES = 4096  # looked at per folder on the way to EFI/BOOT
MAX_LINK_HOPS = 8  # symbolic links on the way to one file
MAX_OBJECTS = 1024  # objects in GRUB's module area: Debian's CD image has 98, Fedora's about 130
MAX_MODULE_BYTES = 4 * 1024 * 1024  # one ELF module (the biggest of Debian's is under 200 KiB)
MAX_MODULE_SECTIONS = 256
MAX_TEXT_BYTES = 4096  # a prefix or embedded config read
MODULE_INFO_MAGIC = 0x676D696D  # "mimg" (GRUB_MODULE_MAGIC)
OBJ_ELF, OBJ_MEMDISK, OBJ_CONFIG, OBJ_PREFIX = 0, 1, 2, 3
NETWORK_MODULES = ("tftp", "efinet")
_MODULE_NAME = re.compile(r"[A-Za-z0-9_.+-]{1,64}")
_PATH_PART = re.compile(r"[A-Za-z0-9_.+-]{1,64}")


class NotGrub(ValueError):
    """A GRUB image whose built-in objects cannot be read the way GRUB reads them."""


@dataclass(frozen=True)
class GrubBuiltIn:
    """What a GRUB EFI image carries built in."""

    modules: frozenset[str]
    prefix: str  # "" when none is baked in
    config: bool  # an embedded config (OBJ_TYPE_CONFIG), run before normal mode
    memdisk: bool


def grub_built_in(path: Path, deadline: Deadline) -> GrubBuiltIn:
    """The modules, prefix and embedded config of a GRUB EFI image; NotGrub when its `mods` section is
    missing or does not hold what GRUB would walk (bounded: MAX_OBJECTS objects, each inside the area)."""
    info = read_pe(path)
    if "mods" not in info.sections:
        raise NotGrub("it has no mods section")
    start, size = info.sections["mods"]
    with open(path, "rb") as f:
        if start + size > os.fstat(f.fileno()).st_size:
            raise NotGrub("its mods section runs past the end of the file")
        magic, _padding, offset, end = struct.unpack("<IIQQ", _read(f, start, 24))
        if magic != MODULE_INFO_MAGIC:
            raise NotGrub("its mods section holds no GRUB module info")
        if not 24 <= offset <= end <= size:
            raise NotGrub("its module area lies outside the mods section")
        modules: set[str] = set()
        prefix, config, memdisk, count = "", False, False, 0
        while offset < end:
            deadline.remaining()
            count += 1
            if count > MAX_OBJECTS:
                raise NotGrub(f"more than {MAX_OBJECTS} objects in its module area")
            if end - offset < 8:
                raise NotGrub("an object header runs past the module area")
            kind, length = struct.unpack("<II", _read(f, start + offset, 8))
            if length < 8 or length > end - offset:
                raise NotGrub(f"an object of {length} bytes does not fit the module area")
            body = start + offset + 8
            if kind == OBJ_ELF:
                if length - 8 > MAX_MODULE_BYTES:
                    raise NotGrub(f"a module of {length - 8} bytes (at most {MAX_MODULE_BYTES} are read)")
                modules.add(_module_name(_read(f, body, length - 8)))
            elif kind == OBJ_PREFIX:
                prefix = _text(_read(f, body, min(length - 8, MAX_TEXT_BYTES)))
            config = config or kind == OBJ_CONFIG
            memdisk = memdisk or kind == OBJ_MEMDISK
            offset += (length + 7) & ~7  # FOR_MODULES: sizes rounded up to sizeof (grub_addr_t)
    return GrubBuiltIn(frozenset(modules), prefix, config, memdisk)


def _read(f: BinaryIO, offset: int, length: int) -> bytes:
    f.seek(offset)
    data = f.read(length)
    if len(data) != length:
        raise NotGrub("the file is shorter than its mods section says")
    return data


def _text(data: bytes) -> str:
    """A NUL-terminated string as GRUB reads it, printable."""
    text = data.split(b"\0", 1)[0].decode("utf-8", "replace")
    return "".join(c if c.isprintable() else "?" for c in text)


def _module_name(elf: bytes) -> str:
    """The `.modname` of a GRUB module: a 64-bit little-endian ELF object, every part inside `elf`."""
    if len(elf) < 64 or elf[:4] != b"\x7fELF" or elf[4] != 2 or elf[5] != 1:
        raise NotGrub("a built-in module is not a 64-bit little-endian ELF object")
    (table,) = struct.unpack_from("<Q", elf, 0x28)
    entry_size, count, names_index = struct.unpack_from("<HHH", elf, 0x3A)
    if entry_size != 64 or count > MAX_MODULE_SECTIONS or names_index >= count or table + 64 * count > len(elf):
        raise NotGrub("a built-in module's section table does not fit it")
    sections = [struct.unpack_from("<I20xQQ", elf, table + 64 * index) for index in range(count)]
    _name, names_at, names_size = sections[names_index]
    if names_at + names_size > len(elf):
        raise NotGrub("a built-in module's section names do not fit it")
    names = elf[names_at : names_at + names_size]
    for name_at, offset, size in sections:
        if names[name_at : name_at + 9] == b".modname\0" and offset + size <= len(elf):
            name = elf[offset : offset + size].split(b"\0", 1)[0].decode("ascii", "replace")
            if _MODULE_NAME.fullmatch(name):
                return name
            raise NotGrub("a built-in module's name is not a module name")
    raise NotGrub("a built-in module has no .modname section")


def config_dirs(prefix: str, boot_folder: str) -> tuple[str, ...]:
    """Where a network-booted GRUB looks for grub.cfg, relative to the TFTP root: the boot file's folder
    (`fw_path`), then the prefix's path when the prefix names no device of its own ("(hd0)/boot/grub" is
    not on the TFTP server; "()" or none is the network's). A path with unsafe parts is left out."""
    dirs = [boot_folder]
    device, path = "", prefix
    if prefix.startswith("(") and ")" in prefix:  # GRUB takes the device up to the last ")"
        device, _, path = prefix[1:].rpartition(")")
    parts = [part for part in path.split("/") if part]
    if prefix and not device and parts and all(_PATH_PART.fullmatch(p) and p not in (".", "..") for p in parts):
        dirs.append("/".join(parts))
    return tuple(dict.fromkeys(dirs))


# --- finding the chain in a tree ---------------------------------------------------------------------------


class _Outside(Exception):
    """A symbolic link on the way leads out of the tree (or too many links)."""


def locate(root: Path, parts: tuple[str, ...]) -> tuple[str, Path] | None:
    """The regular file `parts` names under `root`, each part matched in any case (first in sorted order
    when two differ only in case): (its path relative to the tree, its real path), None when there is
    none. A symbolic link is followed only to a place inside the tree (_Outside otherwise)."""
    top = Path(os.path.realpath(root))
    here, hops = top, 0
    for depth, part in enumerate(parts):
        try:
            with os.scandir(here) as entries:
                names = sorted(e.name for _i, e in zip(range(MAX_DIR_ENTRIES), entries, strict=False))
        except OSError:
            return None
        name = next((n for n in names if n.lower() == part), None)
        if name is None:
            return None
        step = here / name
        if step.is_symlink():
            hops += 1
            real = Path(os.path.realpath(step))
            if hops > MAX_LINK_HOPS or not real.is_relative_to(top):
                raise _Outside("/".join((*here.relative_to(top).parts, name)))
            step = real
        try:
            mode = os.lstat(step).st_mode
        except OSError:
            return None
        last = depth == len(parts) - 1
        if not (stat.S_ISREG(mode) if last else stat.S_ISDIR(mode)):
            return None
        here = step
    return "/".join(here.relative_to(top).parts), here


def find_chain(
    tree: Path, kernel: Path, seconds: float = VERDICT_SECONDS, boot_folder: str = BOOT_FOLDER
) -> VendorChain | None:
    """The ISO's own chain in its extracted `tree` (EFI/BOOT/BOOTX64.EFI and grubx64.efi, any case), judged
    for the entry's `kernel`; None when the ISO carries no shim there. Never raises for what is in the tree:
    what cannot be used says why in `reason`. `seconds` bounds the whole finding (signatures included)."""
    deadline = Deadline(seconds)
    try:
        shim = locate(tree, SHIM)
    except _Outside as exc:
        return _unusable("", str(exc), f"its shim ({exc}) is a symbolic link out of the ISO: not followed")
    if shim is None:
        return None
    shim_rel, shim_path = shim
    try:
        return _judged(tree, kernel, shim_rel, shim_path, deadline, boot_folder)
    except OutOfTime:
        return _unusable("", shim_rel, f"its chain could not be checked in time ({seconds:g} s)")


def _judged(tree: Path, kernel: Path, shim_rel: str, shim: Path, deadline: Deadline, boot_folder: str) -> VendorChain:
    if shim.stat().st_size > MAX_SHIM_BYTES:
        return _unusable("", shim_rel, f"its shim ({shim_rel}) is {shim.stat().st_size} bytes, too big to be one")
    try:
        certificates = vendor_certificates(shim)
    except (NotPE, Malformed, struct.error, ValueError, OSError) as exc:
        return _unusable("", shim_rel, f"its shim ({shim_rel}) cannot be read as one ({exc})")
    if not certificates:
        return _unusable("", shim_rel, f"its shim ({shim_rel}) carries no vendor certificate: it trusts no vendor")
    vendor = certificate_name(certificates[0])
    manager = _optional(tree, MANAGER)
    try:
        grub = locate(tree, GRUB)
    except _Outside as exc:
        return _unusable(vendor, shim_rel, f"its GRUB ({exc}) is a symbolic link out of the ISO: not followed")
    if grub is None:
        return _unusable(vendor, shim_rel, "the ISO carries no GRUB beside its shim (EFI/BOOT/grubx64.efi)", manager)
    grub_rel, grub_path = grub

    def refused(reason: str, dirs: tuple[str, ...] = ()) -> VendorChain:
        return VendorChain(vendor, shim_rel, grub_rel, manager, dirs, False, reason)

    if grub_path.stat().st_size > MAX_GRUB_BYTES:
        return refused(f"its GRUB ({grub_rel}) is {grub_path.stat().st_size} bytes, too big to be one")
    signed = _verdict(grub_path, shim, deadline, "GRUB")
    if not signed.boots:
        return refused(f"its GRUB is not signed by {vendor}: {signed.reason}")
    try:
        built_in = grub_built_in(grub_path, deadline)
    except (NotGrub, NotPE, struct.error) as exc:
        return refused(f"its GRUB's built-in modules cannot be read: {exc}")
    dirs = config_dirs(built_in.prefix, boot_folder)
    embedded = _embedded(built_in)
    missing = [name for name in NETWORK_MODULES if name not in built_in.modules]
    if missing:
        return refused(
            f"its GRUB has no {' or '.join(missing)} module: it cannot read from the network{embedded}", dirs
        )
    kernel_verdict = _verdict(kernel, shim, deadline, "kernel")
    if not kernel_verdict.boots:
        return refused(f"its kernel is not signed by {vendor}: {kernel_verdict.reason}", dirs)
    return VendorChain(
        vendor,
        shim_rel,
        grub_rel,
        manager,
        dirs,
        True,
        f"boots with Secure Boot on through its own chain ({vendor}'s shim and GRUB): chosen in the menu, "
        f"the PC restarts into it{embedded}",
    )


def _verdict(image: Path, shim: Path, deadline: Deadline, what: str) -> Verdict:
    verdict = verify_kernel(image, shim, seconds=deadline.remaining(), what=what)
    if verdict is None:
        return Verdict(False, "", f"{what} not checked (openssl missing)")
    return verdict


def _embedded(built_in: GrubBuiltIn) -> str:
    """A note on what the GRUB runs before looking for grub.cfg (Debian's and Ubuntu's CD images)."""
    if built_in.config and built_in.memdisk:
        return " (its GRUB runs an embedded configuration and carries a memdisk)"
    if built_in.config:
        return " (its GRUB runs an embedded configuration first)"
    return " (its GRUB carries a memdisk)" if built_in.memdisk else ""


def _optional(tree: Path, parts: tuple[str, ...]) -> str:
    try:
        found = locate(tree, parts)
    except _Outside:
        return ""
    return found[0] if found else ""


def _unusable(vendor: str, shim: str, reason: str, manager: str = "") -> VendorChain:
    return VendorChain(vendor, shim, "", manager, (), False, reason)


# --- what status, inspect and check say ----------------------------------------------------------------------


def describe_secure_boot(verdict: Verdict | None, chain: VendorChain | None) -> str:
    """One line for status / inspect: the kernel's verdict under Debian's shim and, when it is refused,
    whether the ISO's own chain boots it instead, else the precise reasons and what to do."""
    if verdict is None or verdict.boots or chain is None:
        return describe(verdict)
    if chain.usable:
        return f"Secure Boot: {chain.reason} (Debian's shim refuses its kernel: {verdict.reason})"
    return (
        f"Secure Boot: does not boot: {verdict.reason}; the ISO's own chain cannot boot it: {chain.reason}; "
        f"to boot it: {remedy(verdict)}"
    )
