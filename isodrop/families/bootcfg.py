"""Read an ISO's own boot menus (ISOLINUX/SYSLINUX and GRUB) to find what its default entry boots.

Families whose parameters vary per release (Clonezilla, GParted, Pop!_OS) and the generic fallback
take the kernel, initrds and command line from here instead of hard-coding them. Only the subset of
each syntax that live ISOs use is understood: LABEL/KERNEL/LINUX/INITRD/APPEND/DEFAULT/MENU DEFAULT/
INCLUDE for syslinux, menuentry/linux/initrd/set default/source/configfile for GRUB.

The menus are ISO content: each file is read and parsed once per ISO (memoised per tree), includes are
followed with an explicit stack (cycles end, no recursion), and the reading has budgets per ISO (files,
bytes, include depth, steps); a budget that is hit raises BootConfigTooLarge, the ISO's verdict.
"""

from __future__ import annotations

import posixpath
import re
import threading
import weakref
from dataclasses import dataclass, field, replace

from isodrop.families.base import Tree
from isodrop.model import NotBootable

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

    def copy(self) -> MenuEntry:
        """A copy callers may change: parsed entries are shared by every look at the same ISO."""
        return replace(self, initrds=list(self.initrds), params=list(self.params))

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


# The boot configuration is ISO content, so reading it is bounded per ISO: a budget that is hit ends
# the ISO's recognition with a BootConfigTooLarge reason. Real ISOs stay far below: Debian's installer
# menu is about 40 files and 60 KiB, a GRUB menu rarely 30 KiB.
MAX_CONFIG_FILES = 256  # distinct config files read
MAX_CONFIG_BYTES = 4 * 1024 * 1024  # bytes read from them in all
MAX_CONFIG_FILE_BYTES = 1024 * 1024  # bytes in any one of them
MAX_INCLUDE_DEPTH = 32  # INCLUDE/source/configfile nesting
MAX_CONFIG_STEPS = 1_000_000  # entries and includes walked over, all menus of the ISO together


class BootConfigTooLarge(NotBootable):
    """An ISO's own boot configuration exceeds a budget (too many or too large files, too deep)."""


@dataclass(frozen=True)
class _Include:
    """INCLUDE / MENU INCLUDE / source / configfile: the named file's items come here."""

    path: str


@dataclass(frozen=True)
class _Default:
    """DEFAULT / ONTIMEOUT / `set default=`: the first one met in reading order counts."""

    name: str


_Item = MenuEntry | _Include | _Default  # one config file, parsed: its entries, includes and defaults in order


def _megabytes(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


class _Reader:
    """One ISO's boot configuration: every file read and parsed at most once, every budget counted.

    Holds no reference to the tree (it is kept in a WeakKeyDictionary keyed by the tree)."""

    def __init__(self) -> None:
        self.lines: dict[str, list[str]] = {}
        self.parsed: dict[tuple[str, str, str], list[_Item]] = {}
        self.walked: dict[tuple[str, str], tuple[list[MenuEntry], str, frozenset[str]]] = {}
        self.bytes_read = 0
        self.steps = 0
        self.exceeded: BootConfigTooLarge | None = None

    def fail(self, reason: str) -> BootConfigTooLarge:
        self.exceeded = BootConfigTooLarge(f"boot configuration too large: {reason}")
        return self.exceeded

    def file_lines(self, tree: Tree, path: str) -> list[str]:
        """The stripped, non-comment lines of a config file, read once per ISO within the budgets."""
        if path in self.lines:
            return self.lines[path]
        if len(self.lines) >= MAX_CONFIG_FILES:
            raise self.fail(f"its menus name more than {MAX_CONFIG_FILES} files, the budget per ISO")
        room = min(MAX_CONFIG_FILE_BYTES, MAX_CONFIG_BYTES - self.bytes_read)
        data = tree.read_bytes(path, room + 1) or b""
        self.bytes_read += len(data)
        if len(data) > MAX_CONFIG_FILE_BYTES:
            raise self.fail(f"{path} is larger than {_megabytes(MAX_CONFIG_FILE_BYTES)}, the budget per file")
        if len(data) > room:
            raise self.fail(
                f"read {_megabytes(self.bytes_read)} of {len(self.lines) + 1} files, the budget is "
                f"{_megabytes(MAX_CONFIG_BYTES)} per ISO"
            )
        stripped = (raw.strip() for raw in data.decode("utf-8", errors="replace").splitlines())
        self.lines[path] = [line for line in stripped if line and not line.startswith("#")]
        return self.lines[path]

    def items(self, tree: Tree, kind: str, path: str, base_dir: str) -> list[_Item]:
        key = (kind, path, base_dir)
        if key not in self.parsed:
            parse = _parse_grub if kind == "grub" else _parse_syslinux
            self.parsed[key] = parse(self.file_lines(tree, path), path, base_dir)
        return self.parsed[key]

    def walk(self, tree: Tree, kind: str, config: str) -> tuple[list[MenuEntry], str, frozenset[str]]:
        """The entries of `config` and the files it includes (each once, in order, without recursion),
        the first default it sets, and every file visited."""
        if self.exceeded is not None:
            raise self.exceeded
        if (kind, config) in self.walked:
            return self.walked[(kind, config)]
        base_dir = posixpath.dirname(config) if kind == "syslinux" else "/"
        entries: list[MenuEntry] = []
        default = ""
        seen = {config}
        stack = [iter(self.items(tree, kind, config, base_dir))]
        while stack:
            item = next(stack[-1], None)
            if item is None:
                stack.pop()
                continue
            self.steps += 1
            if self.steps > MAX_CONFIG_STEPS:
                raise self.fail(f"following its includes took more than {MAX_CONFIG_STEPS} steps")
            if isinstance(item, MenuEntry):
                entries.append(item)
            elif isinstance(item, _Default):
                default = default or item.name
            elif item.path not in seen and tree.is_file(item.path):
                seen.add(item.path)
                if len(stack) > MAX_INCLUDE_DEPTH:  # the root is level 0, what it includes level 1
                    raise self.fail(
                        f"{item.path} is included {len(stack)} levels deep from {config}, the budget is "
                        f"{MAX_INCLUDE_DEPTH} levels"
                    )
                stack.append(iter(self.items(tree, kind, item.path, base_dir)))
        self.walked[(kind, config)] = (entries, default, frozenset(seen))
        return entries, default, frozenset(seen)


_READERS: weakref.WeakKeyDictionary[Tree, _Reader] = weakref.WeakKeyDictionary()
_READERS_LOCK = threading.Lock()  # extraction workers recognise their trees in parallel


def _reader(tree: Tree) -> _Reader:
    with _READERS_LOCK:
        reader = _READERS.get(tree)
        if reader is None:
            reader = _READERS[tree] = _Reader()
        return reader


def _parse_syslinux(lines: list[str], path: str, base_dir: str) -> list[_Item]:
    """One syslinux file: LABEL blocks, INCLUDE/MENU INCLUDE and the first DEFAULT/ONTIMEOUT."""
    items: list[_Item] = []
    current: MenuEntry | None = None
    in_text = False
    for line in lines:
        words = line.split(None, 1)
        keyword, rest = words[0].lower(), (words[1] if len(words) > 1 else "").strip()
        if in_text or keyword == "text":  # TEXT HELP ... ENDTEXT is free text
            in_text = keyword != "endtext"
            continue
        if keyword == "menu":
            sub = rest.split(None, 1)
            sub_keyword = sub[0].lower() if sub else ""
            if sub_keyword == "include" and len(sub) > 1:
                items.append(_Include(_tree_path(sub[1].split()[0], base_dir)))
            elif sub_keyword == "default" and current is not None:
                current.is_default = True
            elif sub_keyword == "label" and current is not None and len(sub) > 1:
                current.title = sub[1].replace("^", "")
        elif keyword == "include" and rest:
            items.append(_Include(_tree_path(rest.split()[0], base_dir)))
        elif keyword in ("default", "ontimeout") and rest:
            if not rest.split()[0].lower().endswith(".c32"):
                items.append(_Default(rest.split()[0]))
        elif keyword == "label":
            current = MenuEntry(title=rest, name=rest, source=path)
            items.append(current)
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
    return items


def syslinux_entries(tree: Tree, config: str) -> tuple[list[MenuEntry], str]:
    """Entries of a syslinux config (following INCLUDE) and the name DEFAULT/ONTIMEOUT points at."""
    entries, default, _ = _reader(tree).walk(tree, "syslinux", config)
    return [entry.copy() for entry in entries], default


# The title is quoted or one word without "{", and the options start with a blank: no two parts can
# match the same characters, so a long line without "{" fails in linear time.
_MENUENTRY = re.compile(r"^\s*menuentry\s+(?P<title>'[^']*'|\"[^\"]*\"|[^\s{]+)(?P<options>(?:\s[^{]*)?)\{\s*$")


def _parse_grub(lines: list[str], path: str, base_dir: str) -> list[_Item]:
    """One GRUB file: menuentry blocks, literal `source`/`configfile` and `set default=`."""
    items: list[_Item] = []
    current: MenuEntry | None = None
    depth = 0
    for line in lines:
        if (found := _MENUENTRY.match(line)) and current is None:
            title = found["title"].strip("'\"")
            ident = re.search(r"--id[ =]?(\S+)", found["options"])
            name = ident.group(1).strip("'\"") if ident else title
            current = MenuEntry(title=title, name=name, source=path)
            items.append(current)
            depth = 1
            continue
        if current is None:
            words = line.split()
            if words[0] in ("source", "configfile") and len(words) > 1 and "$" not in words[1]:
                items.append(_Include(_tree_path(words[1].strip("'\""), base_dir)))
            elif words[0] == "set" and len(words) > 1 and words[1].startswith("default="):
                items.append(_Default(words[1].split("=", 1)[1].strip("'\"")))
            continue
        depth += line.count("{") - line.count("}")
        if depth <= 0:
            current = None
            continue
        words = split_params(line)
        if words[0] in ("linux", "linuxefi", "linux16") and len(words) > 1:
            current.kernel = _tree_path(words[1], base_dir)
            current.params = words[2:]
        elif words[0] in ("initrd", "initrdefi", "initrd16"):
            current.initrds = [_tree_path(p, base_dir) for p in words[1:]]
    return items


def grub_entries(tree: Tree, config: str) -> tuple[list[MenuEntry], str]:
    """Entries of a GRUB config (following literal `source`/`configfile`) and its `set default=` value."""
    entries, default, _ = _reader(tree).walk(tree, "grub", config)
    return [entry.copy() for entry in entries], default


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
    """The default Linux entry of the first of `configs` that has one (syslinux before GRUB).

    Raises BootConfigTooLarge when the ISO's configuration exceeds a budget. A config another one
    already included without a Linux entry is skipped: its own entries are a subset of those."""
    reader = _reader(tree)
    without_linux: set[tuple[str, str]] = set()
    for config in configs:
        kind = "grub" if config.endswith("grub.cfg") else "syslinux"
        if (kind, config) in without_linux or not tree.is_file(config):
            continue
        entries, default, visited = reader.walk(tree, kind, config)
        entry = _pick_default(entries, default)
        if entry is not None:
            picked = entry.copy()
            picked.is_default = True
            return picked
        without_linux.update((kind, path) for path in visited)
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
