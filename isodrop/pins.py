"""Per-PC entries ("pins"): the clients file, its validation and editing, and one-shot consumption.

The clients file (config key `clients_file`, /etc/isodrop/clients.toml) is written by the
administrator and by `isodrop pin` / `unpin`; it is trusted input, the ISOs it names are not:

    [pc."52:54:00:aa:bb:01"]
    entry = "debian-live-12.iso"   # an ISO's file name in the drop folder, or "local"
    timeout = 5                    # seconds before the entry boots (0 waits); else menu_timeout
    menu = ["debian-live-12.iso"]  # only these entries (and local boot); else all
    once = true                    # boot the entry once, then the normal menu again (MACs only)

    [network."192.168.10.0/24"]    # every PC whose DHCP address is in this IPv4 network
    entry = "debian-live-12.iso"

    [hostname."lab-pc-1"]          # the PC whose DHCP server hands it this host name (option 12)
    entry = "local"

A pinned PC gets a menu of its own in every loader that can tell it apart (isodrop.loaders: pxelinux
reads pxelinux.cfg/01-<mac> and pxelinux.cfg/<hex IP, shortened>; GRUB's and iPXE's shared menus branch
on the PC's MAC, address or host name). LOADER_KINDS says which loader can tell which. A PC matching
several pins gets the most specific: its MAC, then its host name, then the smallest network. A one-shot
is consumed when the server's TFTP log (config key `dnsmasq_log`: dnsmasq's `log-facility`) says that
PC's own menu file was sent: the service then removes the pin from the file, and the PC's next boot
gets the normal menu.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import os
import re
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from isodrop import effects
from isodrop.errors import IsodropError
from isodrop.findings import FAIL, OK, WARN, Finding

log = logging.getLogger("isodrop")

LOCAL = "local"
MAC, HOSTNAME, NETWORK = "pc", "hostname", "network"  # the tables of the clients file, by precedence
TABLES = (MAC, HOSTNAME, NETWORK)
KEYS = ("entry", "timeout", "menu", "once")
# Which kinds of pin each menu loader can serve. pxelinux and syslinux.efi look files up by MAC and by
# the client's IP address in hex (pxelinux.cfg/C0A80A05, C0A80A0, ..., C): they never see a host name.
# iPXE's script language compares strings exactly (iseq): a MAC or a host name, not an address range.
LOADER_KINDS = {
    "pxelinux": (MAC, NETWORK),
    "syslinux-efi": (MAC, NETWORK),
    "grub": (MAC, HOSTNAME, NETWORK),
    "ipxe": (MAC, HOSTNAME),
}
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*")  # RFC 1123 host names
TIMEOUT_MAX = 3600  # seconds
LOG_READ_MAX = 4 << 20  # bytes of new log read per pass: a flood is skipped, not held in memory
_MAC = re.compile(r"[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}")
_HEADER = re.compile(r"^\s*\[(?!\[)")  # a table header line (arrays of tables have [[)
# What dnsmasq logs for a TFTP transfer it completed: "dnsmasq-tftp[pid]: sent /srv/tftp/x to 10.0.0.5".
_SENT = re.compile(r"dnsmasq-tftp\[\d+\]: sent (\S+) to (\S+)")
# The per-PC menu files isodrop writes (isodrop.loaders: client_paths), by the MAC in their name.
_CLIENT_FILE = re.compile(
    r"(?:^|/)(?:pxelinux\.cfg/01-|grub/clients/01-|ipxe/clients/01-)"
    r"((?:[0-9a-f]{2}-){5}[0-9a-f]{2})(?:\.cfg|-pcbios\.ipxe|-efi\.ipxe)?$"
)


class PinsError(IsodropError):
    """A clients file (or a pin on the command line) that cannot be used; the reason names the file and
    line. The pin commands catch it and exit EXIT_USAGE; elsewhere it is one part's problem in status."""


@dataclass(frozen=True, order=True)
class Target:
    """Which PCs a pin is for: one MAC, one DHCP-assigned host name, or an IPv4 network."""

    kind: str  # MAC, HOSTNAME or NETWORK (its table in the clients file)
    value: str  # "52:54:00:aa:bb:01" (lower case, colons), "lab-pc-1", "192.168.10.0/24"

    @property
    def file_id(self) -> str:
        """The name of this target's per-PC menu files: 01-52-54-00-aa-bb-01 (as pxelinux spells a
        MAC), host-lab-pc-1, net-192.168.10.0-24."""
        if self.kind == MAC:
            return "01-" + self.value.replace(":", "-")
        return ("host-" if self.kind == HOSTNAME else "net-") + self.value.replace("/", "-")

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.value)

    def precedence(self) -> tuple[int, int, str]:
        """Sort key: the pin a PC matching several gets comes first (MAC, host name, smallest network)."""
        prefix = self.network.prefixlen if self.kind == NETWORK else 0
        return (TABLES.index(self.kind), -prefix, self.value)

    def __str__(self) -> str:
        return self.value if self.kind != HOSTNAME else f"host name {self.value}"


def target(text: str, kind: str = "") -> Target:
    """`text` as a pin's target in isodrop's spelling, or ValueError. Without `kind`: a MAC address, or
    an IPv4 network ("192.168.10.0/24"; an address alone is a /32); host names need `kind`=HOSTNAME."""
    if kind == HOSTNAME:
        if not _HOSTNAME.fullmatch(text):
            raise ValueError(f"{text!r} is not a host name such as lab-pc-1 (letters, digits, '-', '.')")
        return Target(HOSTNAME, text)
    if kind in ("", NETWORK) and _looks_like_ip(text):
        try:
            return Target(NETWORK, str(ipaddress.IPv4Network(text.strip(), strict=True)))
        except ValueError as exc:
            raise ValueError(f"{text!r} is not an IPv4 network such as 192.168.10.0/24: {exc}") from exc
    if kind == NETWORK:
        raise ValueError(f"{text!r} is not an IPv4 network such as 192.168.10.0/24")
    try:
        return Target(MAC, mac_address(text))
    except ValueError:
        if kind:
            raise
        raise ValueError(
            f"{text!r} is not a MAC address such as 52:54:00:aa:bb:01 or a network such as 192.168.10.0/24"
            " (a host name needs --hostname)"
        ) from None


def _looks_like_ip(text: str) -> bool:
    return bool(re.fullmatch(r"\s*[0-9.]+(/[0-9]+)?\s*", text)) and "." in text


@dataclass(frozen=True)
class Pin:
    target: Target
    entry: str  # an ISO's file name (path relative to the drop folder) or "local"
    timeout: int | None = None  # seconds, 0 waits; None: the config's menu_timeout
    menu: tuple[str, ...] = ()  # the entries this PC's menu shows (local boot always); () all
    once: bool = False
    line: int = 0  # of its table in the clients file, for messages

    def describe(self) -> str:
        parts = [self.entry]
        if self.timeout is not None:
            parts.append(f"timeout {self.timeout} s")
        if self.menu:
            parts.append("menu: " + ", ".join(self.menu))
        if self.once:
            parts.append("once")
        return "; ".join(parts)


def mac_address(text: str) -> str:
    """`text` as a MAC address in isodrop's spelling, or ValueError."""
    lowered = text.strip().lower()
    if not _MAC.fullmatch(lowered):
        raise ValueError(f"{text!r} is not a MAC address such as 52:54:00:aa:bb:01")
    return lowered.replace("-", ":")


def parse(text: str, source: str) -> tuple[Pin, ...]:
    """The pins of a clients file, or PinsError naming the line of the first problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:  # its message ends in "(at line N, column M)"
        raise PinsError(f"{source}: not valid TOML: {exc}") from exc
    lines = text.splitlines()
    unknown = [key for key in data if key not in TABLES]
    if unknown:
        raise PinsError(
            f"{source}: line {_line_of(lines, unknown[0])}: unknown key {unknown[0]!r}"
            ' (expected [pc."MAC"], [hostname."NAME"] or [network."A.B.C.D/N"] tables)'
        )
    pins: dict[Target, Pin] = {}
    for kind in TABLES:
        tables = data.get(kind, {})
        if not isinstance(tables, dict):
            raise PinsError(f'{source}: line {_line_of(lines, kind)}: {kind!r} must hold tables [{kind}."..."]')
        for name, values in tables.items():
            line = _header_line(lines, kind, name)
            where = f"{source}: line {line}"
            try:
                key = target(name, kind)
            except ValueError as exc:
                raise PinsError(f"{where}: [{kind}.{name!r}]: {exc}") from exc
            if key in pins:
                raise PinsError(f"{where}: {key} is pinned twice (also on line {pins[key].line})")
            if not isinstance(values, dict):
                raise PinsError(f"{where}: {kind}.{name!r} must be a table")
            pins[key] = _pin(
                key, values, line, lambda k, n=name, t=kind: f"{source}: line {_key_line(lines, t, n, k)}: {t}.{n!r}"
            )
    return tuple(sorted(pins.values(), key=lambda pin: pin.line))  # as in the file (0: line not known)


def _pin(key: Target, values: dict[str, Any], line: int, where: Callable[[str], str]) -> Pin:
    for name in values:
        if name not in KEYS:
            raise PinsError(f"{where(name)}: unknown key {name!r} (known: {', '.join(KEYS)})")
    entry = values.get("entry")
    if entry is None:
        raise PinsError(f"{where('')}: 'entry' is missing (an ISO's file name or \"local\")")
    check_entry(entry, lambda problem: PinsError(f"{where('entry')}: 'entry' {problem}"))
    timeout = values.get("timeout")
    if timeout is not None and (
        not isinstance(timeout, int) or isinstance(timeout, bool) or not 0 <= timeout <= TIMEOUT_MAX
    ):
        raise PinsError(f"{where('timeout')}: 'timeout' must be whole seconds from 0 to {TIMEOUT_MAX}, got {timeout!r}")
    menu = values.get("menu", [])
    if not isinstance(menu, list):
        raise PinsError(f"{where('menu')}: 'menu' must be a list of ISO file names, got {menu!r}")
    for item in menu:
        check_entry(item, lambda problem: PinsError(f"{where('menu')}: 'menu' item {problem}"))
    if menu and entry != LOCAL and entry not in menu:
        raise PinsError(f"{where('menu')}: 'menu' must include the entry {entry!r}")
    once = values.get("once", False)
    if not isinstance(once, bool):
        raise PinsError(f"{where('once')}: 'once' must be true or false, got {once!r}")
    if once and key.kind != MAC:
        raise PinsError(
            f"{where('once')}: 'once' is for one PC (a [pc.\"MAC\"] pin): the first PC of a {key.kind} would use it up"
        )
    return Pin(key, entry, timeout, tuple(item for item in menu if item != LOCAL), once, line)


def check_entry(entry: object, error: Callable[[str], Exception]) -> str:
    """`entry` if it can name an ISO (its file name in the drop folder) or local boot."""
    if not isinstance(entry, str) or not entry:
        raise error(f'must be an ISO\'s file name or "local", got {entry!r}')
    if entry == "first":
        raise error('"first" is for menu_default; a pin names an ISO\'s file name or "local"')
    if entry.startswith("/") or any(part in ("", ".", "..") for part in entry.split("/")) or not entry.isprintable():
        raise error(f"must be a file name relative to the drop folder, got {entry!r}")
    return entry


def _header_line(lines: Sequence[str], kind: str, name: str) -> int:
    """The line of [KIND."NAME"] (1-based), 0 when it cannot be told (a dotted key or inline table)."""
    for number, line in enumerate(lines, 1):
        if _HEADER.match(line) and name in line and kind in line:
            return number
    return _line_of(lines, name)


def _key_line(lines: Sequence[str], kind: str, name: str, key: str) -> int:
    """The line of `key` in the table of NAME (its header line when the key is not found)."""
    start = _header_line(lines, kind, name)
    if not key or not start:
        return start
    for number in range(start + 1, len(lines) + 1):
        line = lines[number - 1]
        if _HEADER.match(line):
            break
        if re.match(rf"\s*{re.escape(key)}\s*=", line):
            return number
    return start


def _line_of(lines: Sequence[str], word: str) -> int:
    return next((number for number, line in enumerate(lines, 1) if word in line), 0)


def loader_limits(pin: Pin, menu_loaders: Iterable[str]) -> list[str]:
    """Why `pin` cannot give its PCs their own menu under some of `menu_loaders` (the loaders that show
    menus: bios_loader, uefi_loader): there they get the normal menu."""
    by_name = pin.target.kind == HOSTNAME
    whom = f"the PC named {pin.target.value}" if by_name else f"the PCs in {pin.target.value}"
    return [
        f"{name} cannot tell PCs apart by {'host name' if by_name else 'IP network'}: under {name} {whom}"
        f" {'gets' if by_name else 'get'} the normal menu"
        for name in dict.fromkeys(menu_loaders)
        if pin.target.kind not in LOADER_KINDS.get(name, (MAC,))
    ]


def check_report(path: Path, log_file: Path | None, menu_loaders: Iterable[str] = ()) -> list[Finding]:
    """`isodrop check` lines about the clients file: (level, message)."""
    try:
        listed = load(path)
    except PinsError as exc:
        return [Finding(FAIL, f"clients_file: {exc}")]
    lines = [Finding(OK, f"clients_file {path}: {len(listed)} pin{'s' if len(listed) != 1 else ''}")]
    menu_loaders = tuple(menu_loaders)
    lines += [
        Finding(WARN, f"clients_file line {pin.line}: {why}")
        for pin in listed
        for why in loader_limits(pin, menu_loaders)
    ]
    if any(pin.once for pin in listed) and log_file is None:
        lines.append(Finding(WARN, "one-shot pins without dnsmasq_log: they stay until `isodrop unpin`"))
    if log_file is not None and not log_file.exists():
        lines.append(Finding(WARN, f"dnsmasq_log {log_file} does not exist (dnsmasq's log-facility=)"))
    return lines


# --- editing ----------------------------------------------------------------------------------------


def render_pin(pin: Pin) -> str:
    """A pin's table as `isodrop pin` writes it."""

    def string(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = [f"[{pin.target.kind}.{string(pin.target.value)}]", f"entry = {string(pin.entry)}"]
    if pin.timeout is not None:
        lines.append(f"timeout = {pin.timeout}")
    if pin.menu:
        lines.append("menu = [" + ", ".join(string(item) for item in pin.menu) + "]")
    if pin.once:
        lines.append("once = true")
    return "\n".join(lines) + "\n"


def _block(lines: list[str], pin: Pin) -> tuple[int, int]:
    """The 0-based line range of `pin`'s table: its header to the last line before the next header,
    trailing blank and comment lines left to what follows."""
    start = pin.line - 1
    end = start + 1
    while end < len(lines) and not _HEADER.match(lines[end]):
        end += 1
    while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")):
        end -= 1
    return start, end


def with_pin(text: str, pin: Pin, source: str) -> str:
    """`text` with `pin` set: its target's table replaced where it is, or appended. Other tables and
    comments stay as they are; comments inside the replaced table go."""
    pins = parse(text, source)
    old = next((p for p in pins if p.target == pin.target), None)
    if old is None:
        result = text + ("\n" if text and not text.endswith("\n") else "") + ("\n" if text.strip() else "")
        result += render_pin(pin)
    else:
        lines = text.splitlines(keepends=True)
        start, end = _block(lines, old)
        result = "".join(lines[:start]) + render_pin(pin) + "".join(lines[end:])
    return _checked(result, [p for p in pins if p.target != pin.target] + [pin], source)


def without_pin(text: str, key: Target, source: str) -> tuple[str, Pin | None]:
    """`text` without `key`'s table (and the pin removed, None when there was none)."""
    pins = parse(text, source)
    old = next((p for p in pins if p.target == key), None)
    if old is None:
        return text, None
    lines = text.splitlines(keepends=True)
    start, end = _block(lines, old)
    if end < len(lines) and not lines[end].strip() and (start == 0 or not lines[start - 1].strip()):
        end += 1  # no double blank line where the table was
    return _checked("".join(lines[:start] + lines[end:]), [p for p in pins if p.target != key], source), old


def _checked(text: str, wanted: Iterable[Pin], source: str) -> str:
    """`text` if it reads back as exactly the pins `wanted`: an edit never writes something else."""
    got = {dataclasses.replace(p, line=0) for p in parse(text, source)}
    if got != {dataclasses.replace(p, line=0) for p in wanted}:
        raise PinsError(f"{source}: cannot edit this file safely (unusual layout): edit it by hand")
    return text


def read_text(path: Path) -> str:
    """The clients file's text; "" when there is none (no pins)."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""
    except (OSError, UnicodeDecodeError) as exc:
        raise PinsError(f"{path}: cannot read: {exc}") from exc


def load(path: Path) -> tuple[Pin, ...]:
    return parse(read_text(path), str(path))


def edit(path: Path, change: Callable[[str], str]) -> None:
    """Apply `change` to the clients file and write it atomically (temp file + rename), keeping its
    mode; the service notices the new file by itself."""
    before = read_text(path)
    after = change(before)
    if after == before:
        return
    try:
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o644
    effects.write_atomically(path, after, mode=mode)


# --- one-shots: what the TFTP log says was sent ------------------------------------------------------


def fetched_macs(lines: Iterable[str]) -> set[str]:
    """The MACs whose per-PC menu file dnsmasq's log lines say it sent (only completed sends count)."""
    macs = set()
    for line in lines:
        match = _SENT.search(line)
        if match and (client := _CLIENT_FILE.search(match.group(1))):
            macs.add(client.group(1).replace("-", ":"))
    return macs


class LogFollower:
    """Reads what was appended to a log file since the last call. The first look starts at its end (older
    lines were written before this service could have published anything); a file that was replaced or
    truncated (log rotation) is read from its start."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.identity: tuple[int, int] | None = None  # (device, inode) read last
        self.offset = -1  # -1: not looked at yet
        self.partial = b""

    def new_lines(self) -> list[str]:
        if self.path is None:
            return []
        try:
            with open(self.path, "rb") as handle:
                info = os.fstat(handle.fileno())
                identity = (info.st_dev, info.st_ino)
                if self.offset < 0:
                    self.identity, self.offset = identity, info.st_size
                    return []
                if identity != self.identity or info.st_size < self.offset:
                    self.identity, self.offset, self.partial = identity, 0, b""
                if info.st_size - self.offset > LOG_READ_MAX:
                    log.warning("%s: %d bytes of new log skipped", self.path, info.st_size - self.offset - LOG_READ_MAX)
                    self.offset, self.partial = info.st_size - LOG_READ_MAX, b""
                handle.seek(self.offset)
                data = handle.read(info.st_size - self.offset)
        except FileNotFoundError:
            self.offset = 0 if self.offset >= 0 else self.offset  # a log made later is new from its start
            self.identity = None
            return []
        except OSError as exc:
            log.warning("%s: cannot read the TFTP log for one-shot pins: %s", self.path, exc.strerror)
            return []
        self.offset += len(data)
        data = self.partial + data
        complete, _, self.partial = data.rpartition(b"\n")
        return complete.decode("utf-8", "replace").splitlines() if complete else []


# --- the service's view -----------------------------------------------------------------------------


class PinBook:
    """The pins as of the last pass: the file re-read when it changed (a broken edit keeps the pins read
    before, with the error in the status), one-shots consumed from the TFTP log."""

    def __init__(self, path: Path, log_file: Path | None) -> None:
        self.path = path
        self.follower = LogFollower(log_file)
        self.pins: tuple[Pin, ...] = ()
        self.error = ""
        self.warnings: dict[str, str] = {}  # target -> why its PCs get the normal menu (set by the publication)
        self.published_once: set[str] = set()  # one-shot MACs whose own menu the last pass wrote
        self._seen: tuple[int, int, int] | None = None

    def refresh(self) -> None:
        """Re-read the file when its identity, size or mtime changed."""
        try:
            info = self.path.stat()
            seen: tuple[int, int, int] | None = (info.st_ino, info.st_size, info.st_mtime_ns)
        except FileNotFoundError:
            seen = None
        except OSError as exc:
            self.error = f"{self.path}: {exc.strerror}"
            return
        if seen == self._seen and (seen is not None or not self.pins):
            return
        self._seen = seen
        try:
            pins = load(self.path)
        except PinsError as exc:
            if str(exc) != self.error:
                log.error("pins not changed: %s", exc)
            self.error = str(exc)
            return
        if pins != self.pins:
            log.info(
                "pins read from %s: %s", self.path, "; ".join(f"{p.target} -> {p.describe()}" for p in pins) or "none"
            )
        self.pins, self.error = pins, ""

    def consume(self) -> list[Pin]:
        """One-shots whose PC fetched its own menu (the TFTP log since the last pass): removed from the
        file, and from the pins served from now on."""
        fetched = fetched_macs(self.follower.new_lines()) & self.published_once
        used = [pin for pin in self.pins if pin.once and pin.target.kind == MAC and pin.target.value in fetched]
        for pin in used:
            try:
                edit(self.path, lambda text, key=pin.target: without_pin(text, key, str(self.path))[0])
            except (PinsError, OSError) as exc:
                self.error = f"one-shot for {pin.target} used but not removed from {self.path}: {exc}"
                log.error("%s", self.error)
                continue
            log.info(
                "%s fetched its one-shot menu (%s): pin removed, its next boot gets the normal menu",
                pin.target,
                pin.entry,
            )
        self.pins = tuple(pin for pin in self.pins if pin not in used)
        self.published_once -= {pin.target.value for pin in used}
        return used

    def status(self) -> dict[str, Any]:
        """The `pins` section of the status document."""
        return {
            "file": str(self.path),
            "error": self.error,
            "one_shot_log": str(self.follower.path or ""),
            "clients": [
                {
                    **target_fields(pin.target),
                    "entry": pin.entry,
                    "timeout": pin.timeout,
                    "menu": list(pin.menu),
                    "once": pin.once,
                    "line": pin.line,
                    "own_menu": pin.target.value not in self.warnings,
                    "warning": self.warnings.get(pin.target.value, ""),
                }
                for pin in self.pins
            ],
        }


def target_fields(key: Target) -> dict[str, str]:
    """A target in status documents: "mac" (kept for MAC pins, "" otherwise), "kind" and "target"."""
    return {"mac": key.value if key.kind == MAC else "", "kind": key.kind, "target": key.value}
