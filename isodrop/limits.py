"""The bounds that keep every generated menu line and kernel command line inside what the boot
loaders and the kernel can read, in one place (checked by families.recognise, sidecar.apply,
render.menu and every loader's render).

Why these numbers:
- the x86 kernel's COMMAND_LINE_SIZE is 2048 bytes including the terminating NUL: a longer command
  line is cut off, so an entry may hand it at most 2047 bytes, counting the serial `console=` isodrop
  adds and what the loaders add themselves: GRUB's `linux` and SYSLINUX put `BOOT_IMAGE=<kernel path>`
  in front, and SYSLINUX turns INITRD into `initrd=<paths>` (each path behind the tree's place on the
  server, `isodrop/<slug>/` or GRUB's `(http,host:port)/...`, counted as TREE_PLACE_MAX bytes);
- SYSLINUX 6.04 reads its config through a 4096-byte line buffer: a longer line is read as several,
  and the tail of one is parsed as a directive of its own (`ONTIMEOUT ...`);
- a TFTP request (RFC 1350) is one 512-byte packet holding the file name, the mode and the options,
  so a kernel or initrd path (relative to the TFTP root) must stay well below that;
- a label is shown on one menu line: 100 characters are plenty, the rest is cut off.
"""

from __future__ import annotations

KERNEL_COMMAND_LINE_MAX = 2047  # bytes, COMMAND_LINE_SIZE (2048) minus the NUL
SERIAL_CONSOLE_MAX = 20  # characters of config serial_console ("ttyS0,115200n8")
CONSOLE_RESERVE = len(" console=") + SERIAL_CONSOLE_MAX  # what render.menu.boot_params may add
LABEL_MAX = 100  # characters of a menu label (BootEntry.label), longer ones are truncated
SOURCE_SHOWN_MAX = 100  # characters of an ISO file name shown beside a duplicate label
TREE_PATH_MAX = 255  # bytes of a kernel or initrd path inside a tree
INITRDS_MAX = 8  # initrds per entry (archiso: microcode x2 + its initramfs)
TREE_PLACE_MAX = 160  # bytes in front of a path inside a tree: "(http,host:port)/" + trees folder + slug

# Longest line each loader's renderer may write: well under what the loader reads. SYSLINUX: its
# 4096-byte buffer. GRUB (grub_file_getline) and iPXE (process_script) grow their line buffers, so
# theirs are sanity bounds: the longest line the entry bounds above allow is about 9 KiB in GRUB
# (every parameter a quoted word, twice: HTTP and TFTP) and 5 KiB in iPXE.
LINE_MAX = {"syslinux": 4000, "grub": 16384, "ipxe": 16384}


def loader_reserve(kernel: str, initrds: tuple[str, ...]) -> int:
    """Bytes the loaders may add to an entry's command line: ` BOOT_IMAGE=<kernel>` and ` initrd=<a>,<b>`."""
    size = len(" BOOT_IMAGE=") + TREE_PLACE_MAX + len(kernel.encode("utf-8", "surrogateescape"))
    if initrds:
        size += len(" initrd=") + sum(TREE_PLACE_MAX + len(i.encode("utf-8", "surrogateescape")) + 1 for i in initrds)
    return size


def command_line_problem(cmdline: str, reserve: int = CONSOLE_RESERVE) -> str | None:
    """Why `cmdline` (plus `reserve` bytes isodrop may still add) cannot be handed to the kernel; None
    when it can."""
    size = len(cmdline.encode("utf-8", "surrogateescape")) + reserve
    if size <= KERNEL_COMMAND_LINE_MAX:
        return None
    counted = f" (counting {reserve} for what isodrop and the boot loader add: console=, BOOT_IMAGE=, initrd=)"
    return f"kernel command line is {size} bytes{counted}, over the kernel's {KERNEL_COMMAND_LINE_MAX}-byte limit"


def path_problem(what: str, path: str) -> str | None:
    """Why a kernel or initrd path inside a tree is too long to fetch; None when it is not."""
    size = len(path.encode("utf-8", "surrogateescape"))
    if size <= TREE_PATH_MAX:
        return None
    return f"{what} path is {size} bytes, over isodrop's {TREE_PATH_MAX}-byte limit (a TFTP request is 512 bytes)"
