"""Read an ISO's own boot menus (ISOLINUX/SYSLINUX and GRUB) to find what its default entry boots.

Families whose parameters vary per release (Clonezilla, GParted, Pop!_OS) and the generic fallback
take the kernel, initrds and command line from here instead of hard-coding them. Only the subset of
each syntax that live ISOs use is understood: LABEL/KERNEL/LINUX/INITRD/APPEND/DEFAULT/MENU DEFAULT/
INCLUDE for syslinux, menuentry/linux/initrd/set default/source/configfile for GRUB.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field

from isodrop.families.base import Tree

SYSLINUX_CONFIGS = (
    "isolinux/isolinux.cfg",
    "syslinux/isolinux.cfg",
    "syslinux/syslinux.cfg",
    "boot/isolinux/isolinux.cfg",
    "boot/syslinux/isolinux.cfg",
    "boot/syslinux/syslinux.cfg",
    "isolinux.cfg",
    "syslinux.cfg",
)
GRUB_CONFIGS = ("boot/grub/grub.cfg", "boot/grub2/grub.cfg", "EFI/BOOT/grub.cfg", "EFI/boot/grub.cfg")
MODULE_SUFFIXES = (".c32", ".com", ".cbt", ".0", ".bin", ".bs", ".bss", ".efi", ".img")


@dataclass
class MenuEntry:
    """One bootable entry of an ISO's own menu; paths relative to the tree root."""

    title: str
    name: str = ""  # what DEFAULT / `set default=` refers to: the LABEL, a GRUB --id, or the title
    kernel: str = ""
    initrds: list[str] = field(default_factory=list)
    params: list[str] = field(default_factory=list)
    source: str = ""  # the config file it was read from
    is_default: bool = False

    @property
    def boots_linux(self) -> bool:
        """A Linux kernel (not a COM32 module, chainloader or floppy image)."""
        return bool(self.kernel) and not self.kernel.lower().endswith(MODULE_SUFFIXES)


def split_params(line: str) -> list[str]:
    """Split a kernel command line on blanks, keeping double-quoted values (`a="b c"`) whole and quoted."""
    return re.findall(r'(?:[^\s"]+|"[^"]*")+', line)


def param_key(param: str) -> str:
    return param.split("=", 1)[0]


def param_value(params: list[str] | tuple[str, ...], key: str) -> str | None:
    """The value of the first `key=value` parameter, None when absent."""
    for param in params:
        if param_key(param) == key and "=" in param:
            return param.split("=", 1)[1]
    return None


def _tree_path(path: str, base_dir: str) -> str:
    """A config's path as a tree path: drop GRUB device prefixes, resolve relative to `base_dir`."""
    path = re.sub(r"^(\([^)]*\)|\$\{?root\}?)", "", path.strip())
    if path.startswith("/"):
        return posixpath.normpath(path).lstrip("/")
    return posixpath.normpath(posixpath.join(base_dir, path)).lstrip("/")


def _unread_lines(tree: Tree, path: str, seen: set[str]) -> list[str]:
    """The stripped, non-comment lines of a config not read before (so include loops end)."""
    if path in seen or not tree.is_file(path):
        return []
    seen.add(path)
    lines = (raw.strip() for raw in (tree.read_text(path) or "").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def syslinux_entries(tree: Tree, config: str) -> tuple[list[MenuEntry], str]:
    """Entries of a syslinux config (following INCLUDE) and the name DEFAULT/ONTIMEOUT points at."""
    base_dir = posixpath.dirname(config)
    entries: list[MenuEntry] = []
    default = ""
    seen: set[str] = set()

    def read(path: str) -> None:
        nonlocal default
        current: MenuEntry | None = None
        in_text = False
        for line in _unread_lines(tree, path, seen):
            words = line.split(None, 1)
            keyword, rest = words[0].lower(), (words[1] if len(words) > 1 else "").strip()
            if in_text or keyword == "text":  # TEXT HELP ... ENDTEXT is free text
                in_text = keyword != "endtext"
                continue
            if keyword == "menu":
                sub = rest.split(None, 1)
                sub_keyword = sub[0].lower() if sub else ""
                if sub_keyword == "include" and len(sub) > 1:
                    read(_tree_path(sub[1].split()[0], base_dir))
                elif sub_keyword == "default" and current is not None:
                    current.is_default = True
                elif sub_keyword == "label" and current is not None and len(sub) > 1:
                    current.title = sub[1].replace("^", "")
            elif keyword == "include" and rest:
                read(_tree_path(rest.split()[0], base_dir))
            elif keyword in ("default", "ontimeout") and rest and not default:
                if not rest.split()[0].lower().endswith(".c32"):
                    default = rest.split()[0]
            elif keyword == "label":
                current = MenuEntry(title=rest, name=rest, source=path)
                entries.append(current)
            elif current is None:
                continue
            elif keyword in ("kernel", "linux") and rest:
                current.kernel = _tree_path(rest.split()[0], base_dir)
            elif keyword == "initrd" and rest:
                current.initrds = [_tree_path(p, base_dir) for p in rest.split()[0].split(",") if p]
            elif keyword == "append":
                params = split_params(rest)
                for param in params:
                    if param.startswith("initrd="):
                        current.initrds += [_tree_path(p, base_dir) for p in param[7:].split(",") if p]
                current.params = [p for p in params if not p.startswith("initrd=")]

    read(config)
    return entries, default


_MENUENTRY = re.compile(r"^\s*menuentry\s+(?P<title>'[^']*'|\"[^\"]*\"|\S+)(?P<options>[^{]*)\{\s*$")


def grub_entries(tree: Tree, config: str) -> tuple[list[MenuEntry], str]:
    """Entries of a GRUB config (following literal `source`/`configfile`) and its `set default=` value."""
    entries: list[MenuEntry] = []
    default = ""
    seen: set[str] = set()

    def read(path: str) -> None:
        nonlocal default
        current: MenuEntry | None = None
        depth = 0
        for line in _unread_lines(tree, path, seen):
            if (found := _MENUENTRY.match(line)) and current is None:
                title = found["title"].strip("'\"")
                ident = re.search(r"--id[ =]?(\S+)", found["options"])
                name = ident.group(1).strip("'\"") if ident else title
                current = MenuEntry(title=title, name=name, source=path)
                entries.append(current)
                depth = 1
                continue
            if current is None:
                words = line.split()
                if words[0] in ("source", "configfile") and len(words) > 1 and "$" not in words[1]:
                    read(_tree_path(words[1].strip("'\""), "/"))
                elif words[0] == "set" and len(words) > 1 and words[1].startswith("default=") and not default:
                    default = words[1].split("=", 1)[1].strip("'\"")
                continue
            depth += line.count("{") - line.count("}")
            if depth <= 0:
                current = None
                continue
            words = split_params(line)
            if words[0] in ("linux", "linuxefi", "linux16") and len(words) > 1:
                current.kernel = _tree_path(words[1], "/")
                current.params = words[2:]
            elif words[0] in ("initrd", "initrdefi", "initrd16"):
                current.initrds = [_tree_path(p, "/") for p in words[1:]]

    read(config)
    return entries, default


def _pick_default(entries: list[MenuEntry], default: str) -> MenuEntry | None:
    linux = [entry for entry in entries if entry.boots_linux]
    if not linux:
        return None
    for entry in linux:
        if entry.is_default:
            return entry
    if default.isdigit() and int(default) < len(entries) and entries[int(default)].boots_linux:
        return entries[int(default)]
    for entry in linux:
        if default and default in (entry.name, entry.title):
            return entry
    return linux[0]


def default_entry(tree: Tree, configs: tuple[str, ...] = SYSLINUX_CONFIGS + GRUB_CONFIGS) -> MenuEntry | None:
    """The default Linux entry of the first of `configs` that has one (syslinux before GRUB)."""
    for config in configs:
        if not tree.is_file(config):
            continue
        reader = grub_entries if config.endswith("grub.cfg") else syslinux_entries
        entries, default = reader(tree, config)
        entry = _pick_default(entries, default)
        if entry is not None:
            entry.is_default = True
            return entry
    return None


# Parameters that name the boot medium (CD label, ISO file, UUID) or the network setup: meaningless
# or harmful once the same system boots from NFS, so they are dropped before isodrop adds its own.
MEDIUM_PARAMS = frozenset(
    {
        "initrd",
        "BOOT_IMAGE",
        "root",
        "ip",
        "netboot",
        "nfsroot",
        "findiso",
        "fromiso",
        "iso-scan/filename",
        "live-media",
        "cdrom-detect/try-usb",
        "archisolabel",
        "archisosearchuuid",
        "archisosearchfilename",
        "archisodevice",
        "misolabel",
        "img_dev",
        "img_loop",
        "rd.live.check",
        "inst.stage2",
    }
)


def medium_free(params: list[str] | tuple[str, ...]) -> list[str]:
    """`params` without boot-medium and network parameters, GRUB variables and `--`/`---` separators."""
    return [
        param
        for param in params
        if param_key(param) not in MEDIUM_PARAMS and "$" not in param and param not in ("--", "---")
    ]
