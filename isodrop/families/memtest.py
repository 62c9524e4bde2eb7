"""memtest86+ 6.x (Debian's `memtest86+x64.iso` / `memtest86+ia32.iso`).

The ISO holds `boot/floppy.img` (the El Torito BIOS image) and `EFI/BOOT/bootx64.efi`. The floppy
image is memtest's `.bin` padded to 1.44 MB: a Linux boot-protocol image ("HdrS" at 0x202) with
64-bit EFI handover support, so pxelinux and syslinux.efi load it as a kernel (with `LINUX`, since
`KERNEL x.img` would be taken as a disk image). No initrd, no root file system, no parameters.
"""

from __future__ import annotations

from isodrop.families.base import Family, Tree
from isodrop.model import NotBootable, ServerContext

FLOPPY = "boot/floppy.img"


def _linux_header(tree: Tree, ctx: ServerContext) -> None:
    head = tree.read_bytes(FLOPPY, 0x206) or b""
    if head[0x202:0x206] != b"HdrS":
        raise NotBootable(
            f"{FLOPPY} is not a Linux boot-protocol image (no 'HdrS' header), so it cannot be loaded as a kernel"
        )


def _is_32_bit(tree: Tree) -> bool:
    return bool(tree.glob("EFI/BOOT/bootia32.efi")) or tree.volume_id.endswith("_32")


def _label(tree: Tree) -> str:
    return f"Memtest86+ ({'32-bit' if _is_32_bit(tree) else '64-bit'})"


def _firmware(tree: Tree) -> tuple[str, ...]:
    """The 32-bit image has no 64-bit EFI handover, so x86-64 UEFI's syslinux.efi cannot start it."""
    return ("bios",) if _is_32_bit(tree) else ("bios", "efi64")


MEMTEST = Family(
    name="memtest86+",
    menu_group="Tools",
    requires=(FLOPPY,),
    any_of=("EFI/BOOT/bootx64.efi", "EFI/BOOT/bootia32.efi"),
    info_contains=("MT86PLUS", "memtest"),
    check=_linux_header,
    kernel=(FLOPPY,),
    label=_label,
    firmware=_firmware,
    proven="booted in a VM (Debian's memtest86+x64.iso: its kernel starts, BIOS)",
)
