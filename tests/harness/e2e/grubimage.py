"""What a GRUB EFI image carries built in: its modules, embedded config, prefix and memdisk.

grub-mkimage appends everything to the PE section `mods`: a `struct grub_module_info64` (magic "mimg",
then the offset and size of the module area), then records of `struct grub_module_header` (type, size
including the header): type 0 an ELF module whose name is its `.modname` section, 1 the memdisk
(a FAT image in Debian's 2.06 network image, squashfs in 2.12), 2 the embedded config, 3 the prefix
(grub-core/kern/efi/efi.c, include/grub/kernel.h). A module that is built in needs no `insmod` from the
network: `insmod` of a loaded module returns at once (grub_dl_load: grub_dl_get first).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from isodrop.secureboot import read_pe

MODULE_INFO_MAGIC = 0x676D696D  # "mimg"
OBJ_ELF, MEMDISK, CONFIG, PREFIX = 0, 1, 2, 3


@dataclass(frozen=True, slots=True)
class GrubImage:
    modules: frozenset[str]
    config: str  # the embedded config (Debian: "normal (memdisk)/grub.cfg")
    prefix: str
    memdisk: bytes


def elf_module_name(elf: bytes) -> str:
    """The name in a GRUB module's `.modname` section (64-bit little-endian ELF)."""
    (section_table,) = struct.unpack_from("<Q", elf, 0x28)
    entry_size, count, names_index = struct.unpack_from("<HHH", elf, 0x3A)

    def section(index: int) -> tuple[int, int, int]:
        name, _type, _flags, _addr, offset, size = struct.unpack_from(
            "<IIQQQQ", elf, section_table + index * entry_size
        )
        return name, offset, size

    names_at = section(names_index)[1]
    for index in range(count):
        name, offset, size = section(index)
        if elf[names_at + name : elf.index(b"\0", names_at + name)] == b".modname":
            return elf[offset : offset + size].rstrip(b"\0").decode()
    raise ValueError("a GRUB module without .modname")


def read_grub_image(path: Path) -> GrubImage:
    offset, size = read_pe(path).sections["mods"]
    with open(path, "rb") as f:
        f.seek(offset)
        mods = f.read(size)
    magic, _padding, position, end = struct.unpack_from("<IIQQ", mods, 0)
    if magic != MODULE_INFO_MAGIC:
        raise ValueError(f"{path}: no GRUB module info in its mods section")
    modules: set[str] = set()
    texts = {CONFIG: b"", PREFIX: b""}
    memdisk = b""
    while position < end:
        kind, length = struct.unpack_from("<II", mods, position)
        body = mods[position + 8 : position + length]
        if kind == OBJ_ELF:
            modules.add(elf_module_name(body))
        elif kind == MEMDISK:
            memdisk = body
        elif kind in texts:
            texts[kind] = body.rstrip(b"\0")
        position += length
    return GrubImage(frozenset(modules), texts[CONFIG].decode(), texts[PREFIX].decode(), memdisk)
