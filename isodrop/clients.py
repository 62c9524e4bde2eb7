"""Who booted what, and where it stopped: the PCs seen in the servers' own logs.

Read, never written by isodrop: dnsmasq's log file (`log-dhcp` + `log-facility=<dnsmasq_log>` in the
shipped snippet: DHCP/PXE answers with MAC, address, vendor and user class, and every TFTP file sent),
nginx's access log of the shipped site (`http_access_log`, format `isodrop_clients`: every HTTP fetch with
its duration) and the NFS server's view of mounts: the kernel NFS server's lists (/var/lib/nfs/rmtab,
/proc/fs/nfsd/clients), or nfs-ganesha's log (`ganesha_log`) with its NFSPROTO component at DEBUG level.
Each pass reads only what was appended since the last one (at most READ_LIMIT bytes per log), keeps at
most `clients_max` PCs and a few boot attempts each, and persists that small state as state_dir/clients.json.
A log that is missing or unreadable means "no client data" in a line of the report, never a failed pass.

Everything a client sends (host name, vendor and user class) and every path it asked for is untrusted:
kept as it came in the JSON, shown through `isodrop.model.shown` in text.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from isodrop import effects
from isodrop.config import Config
from isodrop.findings import OK, WARN, Finding
from isodrop.model import shown

READ_LIMIT = 8 * 2**20  # bytes read from one log per pass; the rest waits for the next pass
FIRST_TAIL = 2 * 2**20  # a log never read before: only its last bytes (not a year of history)
MARK_BYTES = 64  # bytes before the read offset remembered to notice a truncated log written again
LINE_MAX = 4096  # a longer line is cut (a client's strings cannot make it bigger than this)
TEXT_MAX = 200  # a client-provided string kept at most this long
HISTORY_MAX = 5  # earlier boot attempts kept per PC
PENDING_MAX = 256  # DHCP transactions whose attributes wait for their message line
STATE_VERSION = 1

# The stages of one boot, in order. "root": the root file system mounted over NFS or fetched over HTTP.
STAGES = ("dhcp", "loader", "menu", "kernel", "initrd", "root")
STAGE_NAMES = {
    "dhcp": "got a DHCP/PXE answer",
    "loader": "fetched the boot loader",
    "menu": "fetched the menu",
    "kernel": "fetched the kernel",
    "initrd": "fetched the initrd",
    "root": "reached its root file system",
}
# What a PC that stopped after a stage most likely lacks.
STOPPED_HINTS = {
    "dhcp": "no boot file fetched: TFTP blocked, wrong next-server, or a firmware that ignored the offer",
    "loader": "the loader found no menu (or could not read it)",
    "menu": "nobody picked an entry, or the menu's kernel could not be read",
    "kernel": "the initrd was not fetched: a wrong or unreadable initrd path",
    "initrd": "never mounted its root: usually a missing NIC driver in the initrd or a wrong nfsroot/fetch URL",
}
STOPPED_AFTER_SECONDS = 180.0  # no progress this long after a stage below "root": stopped there

# DHCP option 93 (client system architecture, RFC 4578 and IANA), carried in the PXE vendor class too.
ARCHITECTURES = {
    0: "BIOS",
    6: "UEFI x86 (32-bit)",
    7: "UEFI x86-64",
    9: "UEFI x86-64",
    10: "UEFI ARM32",
    11: "UEFI ARM64",
    15: "UEFI x86 HTTP",
    16: "UEFI x86-64 HTTP",
    19: "UEFI ARM64 HTTP",
}
SECURE_BOOT_UNKNOWN = "unknown: a PC asks for the same files with Secure Boot on or off, and DHCP does not say which"

# dnsmasq (log-facility=FILE): "Dec  2 03:16:31 dnsmasq-dhcp[12797]: 2157410853 DHCPOFFER(br0) 10.2.0.8 52:54:..."
_DNSMASQ = re.compile(
    r"^(?P<when>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) dnsmasq-(?P<what>dhcp|tftp)\[\d+\]: (?P<rest>.*)$"
)
_DHCP_XID = re.compile(r"^(?P<xid>\d+) (?P<rest>.*)$")
_DHCP_MESSAGE = re.compile(
    r"^(?P<type>DHCP[A-Z]+|PXE|BOOTP)\((?P<iface>[^)]*)\)"
    r"(?: (?P<ip>\d{1,3}(?:\.\d{1,3}){3}))?"
    r" (?P<mac>[0-9a-f]{2}(?::[0-9a-f]{2}){5})(?: (?P<tail>.*))?$"
)
_DHCP_ATTRIBUTES = {
    "vendor class: ": "vendor_class",
    "user class: ": "user_class",
    "client provides name: ": "hostname",
}
_TFTP_SENT = re.compile(r"^sent (?P<path>.+) to (?P<ip>\d{1,3}(?:\.\d{1,3}){3})$")
# A file a client asked for that is not there (dnsmasq src/tftp.c, check_tftp_fileperm: "file %s not found
# for %s" with the full path and the client's address; logged unless quiet-tftp is set). GRUB's hand-over
# request (isodrop.handover) is such a line.
_TFTP_MISSING = re.compile(r"^file (?P<path>.+) not found for (?P<ip>\d{1,3}(?:\.\d{1,3}){3})$")
MISSING = "not found"  # Event.message of a TFTP request for a missing file
# dnsmasq tftp-unique-root=mac serves all TFTP files of a client from <tftp-root>/<this folder>/ when it
# exists: the client's MAC as lower-case hex pairs joined by dashes, no ARP type prefix (dnsmasq
# src/tftp.c, tftp_request: snprintf "%.2x-%.2x-%.2x-%.2x-%.2x-%.2x/"; man page: "e.g.: 01-02-03-04-aa-bb").
MAC_FOLDER = re.compile(r"^(?:[0-9a-f]{2}-){5}[0-9a-f]{2}$")


def mac_folder(mac: str) -> str:
    """The per-PC folder name dnsmasq looks for: "52:54:00:12:34:56" -> "52-54-00-12-34-56"."""
    return mac.lower().replace(":", "-")


def relative_to_root(path: str, root: str | Path) -> str | None:
    """A path a server logged, relative to `root` (the TFTP root, the exported trees); None when outside it."""
    prefix = str(root).rstrip("/") + "/"
    return path[len(prefix) :] if path.startswith(prefix) else None


def folder_mac(name: str) -> str:
    """The MAC a per-PC folder is for ("52-54-00-12-34-56" -> "52:54:00:12:34:56"), "" for another name."""
    return name.replace("-", ":") if MAC_FOLDER.match(name) else ""


_VENDOR_ARCH = re.compile(r"^PXEClient:Arch:(\d{5})")

# nginx, log_format isodrop_clients (contrib/nginx/isodrop):
# '$msec $remote_addr $status $body_bytes_sent $request_time "$request_method $request_uri" "$http_user_agent"'
_NGINX = re.compile(
    r"^(?P<msec>\d+\.\d+) (?P<ip>\S+) (?P<status>\d{3}) (?P<bytes>\d+) (?P<seconds>\d+\.\d+)"
    r' "(?P<method>[A-Z]+) (?P<uri>[^" ]*)" "(?P<agent>[^"]*)"$'
)

# nfs-ganesha's log (4.3, with LOG { COMPONENTS { NFSPROTO = DEBUG; } } in ganesha.conf): mnt_Mnt logs the
# path a client asks to mount, then, when an export lets that client mount it, "Entry supports N different
# flavours ... for client ADDR" from the same worker thread: the bracketed word before the function name
# (with LOG { FORMAT { CLIENTIP = true; } } the client's address in brackets and the source file come too):
# 02/12/2026 06:55:50 : epoch 6b0fc0da : vm : nfs-ganesha-16489[svc_3] mnt_Mnt :NFS3 :DEBUG :REQUEST
# PROCESSING: Calling MNT_MNT path=/srv/tftp/isodrop/x
_GANESHA = re.compile(
    r"^(?P<when>\d\d/\d\d/\d{4} \d\d:\d\d:\d\d) : .*?\[(?P<thread>[^\]\s]+)\](?: \S+ :| )mnt_Mnt :\S+ :\S+ :"
    r"(?P<message>.*)$"
)
_GANESHA_ASKED = re.compile(r"^REQUEST PROCESSING: Calling MNT_MNT path=(?P<path>.*)$")
_GANESHA_MOUNTED = re.compile(r"^MOUNT: Entry supports \d+ different flavours(?: .*)? for client (?P<ip>\S+)$")
GANESHA_DEBUG = "LOG { COMPONENTS { NFSPROTO = DEBUG; } }"  # what ganesha.conf needs for the lines above

LOADER_NAMES = re.compile(r"\.(?:0|efi|c32|e32|e64|kpxe|pxe|lkrn|mod)$|(?:^|/)(?:bios\.0|pxelinux\.0)$")
MENU_NAMES = re.compile(r"(?:^|/)(?:pxelinux\.cfg/[^/]+|grub\.cfg|[^/]+\.ipxe|[^/]+\.cfg)$")
ROOT_NAMES = re.compile(r"\.(?:squashfs|sfs|erofs|iso)$|airootfs|filesystem\.", re.I)
KERNEL_NAMES = re.compile(r"vmlinu[xz]|bzimage|(?:^|/)linux(?:64)?$|(?:^|/)kernel", re.I)
INITRD_NAMES = re.compile(r"initrd|initramfs|\.img$|\.(?:gz|lz|lz4|xz|zst)$", re.I)


EntryFiles = Mapping[str, tuple[str, tuple[str, ...], str]]  # slug -> kernel, initrds, label (state records)


def _text(value: str) -> str:
    return value[:TEXT_MAX]


@dataclass(frozen=True)
class Event:
    """One thing a PC did, as a server logged it."""

    when: float
    kind: str  # "dhcp", "tftp", "http", "nfs"
    ip: str = ""
    mac: str = ""
    path: str = ""  # file asked for: TFTP file system path, HTTP request path, NFS mount path
    seconds: float | None = None  # how long the transfer took, when the log says
    status: int = 0  # HTTP status
    message: str = ""  # DHCP message type: DHCPOFFER, DHCPACK, PXE, ...
    attributes: Mapping[str, str] = field(default_factory=dict)  # vendor_class, user_class, hostname


def syslog_time(stamp: str, now: float) -> float | None:
    """A syslog time stamp without a year ("Dec  2 03:16:31", local time): this year's, or last year's
    when that would lie more than a day in the future (a December line read in January)."""
    year = time.localtime(now).tm_year
    for candidate in (year, year - 1):
        try:
            parsed = time.mktime(time.strptime(f"{candidate} {stamp}", "%Y %b %d %H:%M:%S"))
        except (ValueError, OverflowError):
            return None
        if parsed <= now + 86400:
            return parsed
    return None


class DnsmasqParser:
    """dnsmasq's log lines to events. With log-dhcp, the vendor class, user class and host name come on
    their own lines before the message line of the same transaction (the number after the tag)."""

    def __init__(self) -> None:
        self.pending: dict[str, dict[str, str]] = {}
        self.stamp: tuple[str, float | None] = ("", None)

    def parse(self, line: str, now: float) -> Event | None:
        match = _DNSMASQ.match(line)
        if not match:
            return None
        if match["when"] != self.stamp[0]:  # lines come in bursts within one second: parse each stamp once
            self.stamp = (match["when"], syslog_time(match["when"], now))
        when = self.stamp[1]
        if when is None:
            return None
        rest = match["rest"]
        if match["what"] == "tftp":
            if sent := _TFTP_SENT.match(rest):
                return Event(when, "tftp", ip=sent["ip"], path=sent["path"])
            missing = _TFTP_MISSING.match(rest)
            return Event(when, "tftp", ip=missing["ip"], path=missing["path"], message=MISSING) if missing else None
        xid = _DHCP_XID.match(rest)
        if not xid:
            return None
        body = xid["rest"]
        for prefix, key in _DHCP_ATTRIBUTES.items():
            if body.startswith(prefix):
                if len(self.pending) >= PENDING_MAX and xid["xid"] not in self.pending:
                    self.pending.pop(next(iter(self.pending)))
                self.pending.setdefault(xid["xid"], {})[key] = _text(body[len(prefix) :].rstrip())
                return None
        message = _DHCP_MESSAGE.match(body.rstrip())
        if not message:
            return None
        attributes = dict(self.pending.get(xid["xid"], {}))
        if message["type"] in {"DHCPACK", "DHCPNAK", "PXE", "DHCPOFFER"}:
            attributes.update(self.pending.pop(xid["xid"], {}))
        tail = (message["tail"] or "").strip()
        if tail and message["type"] == "DHCPACK":
            attributes.setdefault("hostname", _text(tail))
        return Event(
            when, "dhcp", ip=message["ip"] or "", mac=message["mac"], message=message["type"], attributes=attributes
        )


def parse_nginx(line: str) -> Event | None:
    """One access log line in the isodrop_clients format; nginx writes `"` and control bytes as \\xHH."""
    match = _NGINX.match(line)
    if not match:
        return None
    path = unquote(urlsplit(match["uri"]).path, errors="surrogateescape")
    return Event(
        float(match["msec"]) - float(match["seconds"]),
        "http",
        ip=match["ip"],
        path=path,
        seconds=float(match["seconds"]),
        status=int(match["status"]),
    )


def parse_rmtab(text: str) -> list[Finding]:
    """rpc.mountd's /var/lib/nfs/rmtab ("host:path:0xcount" a line): (client address, mounted path)."""
    mounts = []
    for line in text.splitlines():
        host, sep, rest = line.partition(":")
        path, _, count = rest.rpartition(":")
        if sep and path.startswith("/") and count.startswith("0x") and count != "0x00000000":
            mounts.append((host, path))
    return mounts


def parse_nfsd_info(text: str) -> str:
    """The client address in a /proc/fs/nfsd/clients/<id>/info file (NFSv4 clients only): `address: "a:port"`."""
    match = re.search(r'^address: "?\[?([0-9a-fA-F.:]+?)\]?:\d+"?$', text, re.M)
    return match[1] if match else ""


class GaneshaParser:
    """Mounts from nfs-ganesha's log lines: the path asked for, remembered per worker thread until that
    thread logs the mount as granted (at most PENDING_MAX threads waiting)."""

    def __init__(self) -> None:
        self.asked: dict[str, str] = {}
        self.requests_seen = False  # a mount request was logged: NFSPROTO's debug lines are on

    def parse(self, line: str, now: float) -> Event | None:
        match = _GANESHA.match(line)
        if not match:
            return None
        if asked := _GANESHA_ASKED.match(match["message"]):
            self.requests_seen = True
            self.asked.pop(match["thread"], None)
            if len(self.asked) >= PENDING_MAX:
                self.asked.pop(next(iter(self.asked)))
            self.asked[match["thread"]] = asked["path"]
            return None
        mounted = _GANESHA_MOUNTED.match(match["message"])
        if not mounted:
            return None
        try:  # ganesha's default date format, local time
            when = time.mktime(time.strptime(match["when"], "%d/%m/%Y %H:%M:%S"))
        except (ValueError, OverflowError):
            when = now
        path = self.asked.pop(match["thread"], "")
        return Event(when, "nfs", ip=mounted["ip"].removeprefix("::ffff:"), path=path)


class LogFollower:
    """Read what was appended to a log since the last call: from a remembered (inode, offset), starting
    over when the file was replaced (rotated) or truncated; complete lines only, at most READ_LIMIT bytes."""

    def __init__(self, path: Path | None, saved: Mapping[str, Any] | None = None) -> None:
        self.path = path
        saved = saved or {}
        self.inode = int(saved.get("inode", 0))
        self.offset = int(saved.get("offset", 0))
        self.mark = str(saved.get("mark", ""))  # the bytes before offset (hex): a truncated and refilled file differs
        self.problem = ""
        self.behind = False  # the last read stopped at READ_LIMIT: more is there to read now

    def state(self) -> dict[str, Any]:
        return {"inode": self.inode, "offset": self.offset, "mark": self.mark}

    def read_lines(self) -> list[str]:
        self.behind = False
        if self.path is None:
            self.problem = "not configured"
            return []
        try:
            with open(self.path, "rb") as handle:
                info = os.fstat(handle.fileno())
                mid_line = False
                if info.st_ino != self.inode:
                    start = max(0, info.st_size - FIRST_TAIL) if self.inode == 0 else 0
                    self.inode, self.offset, mid_line = info.st_ino, start, start > 0
                elif info.st_size < self.offset or not self._marked(handle):
                    self.offset = 0  # truncated in place (copytruncate), maybe written again since
                handle.seek(self.offset)
                data = handle.read(READ_LIMIT)
                self.behind = len(data) >= READ_LIMIT
                end = data.rfind(b"\n")
                if end >= 0:
                    self.mark = data[max(0, end + 1 - MARK_BYTES) : end + 1].hex()
        except OSError as exc:
            self.problem = f"cannot read {self.path}: {exc.strerror or exc}"
            return []
        self.problem = ""
        if end < 0:
            if len(data) >= READ_LIMIT:  # one endless line: skip it
                self.offset += len(data)
            return []
        self.offset += end + 1
        lines = data[: end + 1].splitlines()[1 if mid_line else 0 :]  # a tail starts inside a line
        return [raw[:LINE_MAX].decode("utf-8", "surrogateescape") for raw in lines]

    def _marked(self, handle: Any) -> bool:
        """The bytes before the offset are still those read last time."""
        if not self.offset or not self.mark:
            return True
        length = len(self.mark) // 2
        handle.seek(self.offset - length)
        return handle.read(length).hex() == self.mark


@dataclass
class Client:
    """One PC (by MAC; by address when only HTTP or NFS saw it) and its latest boot attempt."""

    key: str
    mac: str = ""
    ip: str = ""
    first_seen: float = 0.0
    last_seen: float = 0.0
    arch: int | None = None
    vendor_class: str = ""
    user_class: str = ""
    hostname: str = ""
    entry: str = ""  # slug of the ISO whose kernel/initrd it fetched
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)  # stage -> {time, via, path, seconds}
    history: list[dict[str, Any]] = field(default_factory=list)  # earlier attempts, newest last

    def furthest(self) -> str:
        return max(self.stages, key=STAGES.index, default="")

    def new_attempt(self) -> None:
        if self.stages:
            self.history = [*self.history, self._attempt()][-HISTORY_MAX:]
        self.stages, self.entry = {}, ""

    def _attempt(self) -> dict[str, Any]:
        furthest = self.furthest()
        return {
            "started": min(stage["time"] for stage in self.stages.values()),
            "furthest": furthest,
            "at": self.stages[furthest]["time"],
            "entry": self.entry,
        }

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Client:
        known = set(cls.__dataclass_fields__)
        return cls(**{key: value for key, value in data.items() if key in known})


@dataclass(frozen=True)
class Layout:
    """Where the trees are, as each server names a fetched file, and what each entry's kernel and initrds are."""

    tftp_root: str  # dnsmasq logs the file system path: /srv/tftp/...
    trees: str  # trees_dir relative to tftp_root: "isodrop"
    http_prefix: str  # the URL path trees_dir is served under: http_url's ("/isodrop"), "" for a site's root
    nfs_trees: str  # the exported trees on disk: /srv/tftp/isodrop
    entries: EntryFiles = field(default_factory=dict)  # slug -> kernel, initrds, label

    @classmethod
    def of(cls, config: Config, entries: EntryFiles | None = None) -> Layout:
        return cls(
            tftp_root=str(config.tftp_root),
            trees=config.trees_dir.relative_to(config.tftp_root).as_posix(),
            http_prefix=urlsplit(config.http_url).path.rstrip("/") if config.http_url else "/isodrop",
            nfs_trees=str(config.trees_dir),
            entries=dict(entries or {}),
        )

    def served_path(self, event: Event) -> str | None:
        """The fetched file relative to the TFTP root ("isodrop/<slug>/live/vmlinuz"), None when outside it."""
        path = event.path
        if event.kind == "tftp":
            relative = relative_to_root(path, self.tftp_root)
            if relative is None:
                return None
            folder, _, inside = relative.partition("/")  # a PC handed over to a vendor's chain
            return inside if inside and folder_mac(folder) else relative  # gets files from its folder
        if event.kind == "http":
            prefix = self.http_prefix + "/"
            return f"{self.trees}/{path[len(prefix) :]}" if path.startswith(prefix) else path.lstrip("/")
        if event.kind == "nfs":
            relative = relative_to_root(path, self.nfs_trees)
            return None if relative is None else f"{self.trees}/{relative}"
        return None

    def stage_of(self, event: Event) -> tuple[str, str] | None:
        """(stage, entry slug or "") of a fetch or mount; None for what says nothing about a boot."""
        relative = self.served_path(event)
        if relative is None:
            return None
        parts = PurePosixPath(relative).parts
        trees = PurePosixPath(self.trees).parts
        if parts[: len(trees)] == trees and len(parts) > len(trees):
            slug = parts[len(trees)]
            if event.kind == "nfs":
                return "root", slug
            inside = "/".join(parts[len(trees) + 1 :])
            kernel, initrds, _ = self.entries.get(slug, ("", (), ""))
            if inside == kernel or (not kernel and KERNEL_NAMES.search(inside)):
                return "kernel", slug
            if inside in initrds or (not initrds and INITRD_NAMES.search(inside)):
                return "initrd", slug
            if ROOT_NAMES.search(inside):
                return "root", slug
            return None
        if MENU_NAMES.search(relative):
            return "menu", ""
        if LOADER_NAMES.search(relative):
            return "loader", ""
        return None


class ClientBook:
    """The PCs seen, at most `limit` (the longest unseen dropped first), updated by events."""

    def __init__(self, limit: int, clients: Iterable[Client] = ()) -> None:
        self.limit = limit
        ordered = sorted(clients, key=lambda client: client.last_seen)
        self.clients: dict[str, Client] = {client.key: client for client in ordered}
        self.macs_by_ip: dict[str, str] = {c.ip: c.key for c in self.clients.values() if c.ip and c.mac}

    def apply(self, event: Event, layout: Layout) -> None:
        if event.kind == "dhcp":
            self._dhcp(event)
            return
        if event.message == MISSING:  # a file not sent is no step of a boot
            return
        found = layout.stage_of(event)
        if found is None or (event.kind == "http" and not 200 <= event.status < 300):
            return
        stage, slug = found
        client = self._client(self.macs_by_ip.get(event.ip, f"ip {event.ip}"), event.when)
        client.ip = client.ip or event.ip
        if stage in {"kernel", "initrd", "root"} and slug:
            if client.entry and client.entry != slug and STAGES.index(stage) <= STAGES.index("initrd"):
                client.new_attempt()
            client.entry = slug
        record: dict[str, Any] = {"time": event.when, "via": event.kind, "path": _text(event.path)}
        if event.seconds is not None:
            record["seconds"] = round(event.seconds, 3)
        if stage != "root" or stage not in client.stages:  # fetched again: the latest; root: when first reached
            client.stages[stage] = record
        client.last_seen = max(client.last_seen, event.when)

    def _dhcp(self, event: Event) -> None:
        client = self._client(event.mac, event.when)
        client.mac = event.mac
        attributes = event.attributes
        vendor = attributes.get("vendor_class", "")
        pxe_firmware = vendor.startswith("PXEClient")
        # A PXE request after the menu was fetched is a new boot (the initramfs's own DHCP is no PXEClient).
        if pxe_firmware and client.furthest() and STAGES.index(client.furthest()) >= STAGES.index("menu"):
            client.new_attempt()
        if event.ip and event.ip != client.ip:
            if self.macs_by_ip.get(client.ip) == client.key:  # one address per PC: the map stays bounded
                del self.macs_by_ip[client.ip]
            client.ip = event.ip
            stale = self.macs_by_ip.get(event.ip)
            if stale and stale != client.key and stale in self.clients:
                self.clients[stale].ip = ""
            self.macs_by_ip[event.ip] = client.key
        if event.ip:
            self._adopt(f"ip {event.ip}", client)
        if vendor:
            client.vendor_class = vendor
            arch = _VENDOR_ARCH.match(vendor)
            if arch:
                client.arch = int(arch[1])
        client.user_class = attributes.get("user_class", client.user_class)
        client.hostname = attributes.get("hostname", client.hostname)
        if event.message in {"DHCPOFFER", "DHCPACK", "PXE"} and (pxe_firmware or "dhcp" not in client.stages):
            client.stages.setdefault("dhcp", {"time": event.when, "via": "dhcp", "path": event.message})
        client.last_seen = max(client.last_seen, event.when)

    def _adopt(self, address_key: str, client: Client) -> None:
        """What was seen of an address before its MAC was known now belongs to that PC."""
        orphan = self.clients.pop(address_key, None)
        if orphan is not None:
            for stage, record in orphan.stages.items():
                client.stages.setdefault(stage, record)
            client.entry = client.entry or orphan.entry
            client.first_seen = min(client.first_seen, orphan.first_seen)

    def _client(self, key: str, when: float) -> Client:
        """The PC by key, moved to the end of the dict: its order is the order last seen, so the first
        one is the one to forget (logs are read in time order)."""
        client = self.clients.pop(key, None)
        if client is None:
            if len(self.clients) >= self.limit:
                oldest = self.clients.pop(next(iter(self.clients)))
                if self.macs_by_ip.get(oldest.ip) == oldest.key:
                    del self.macs_by_ip[oldest.ip]
            client = Client(key=key, first_seen=when, last_seen=when)
        self.clients[key] = client
        return client


RMTAB = Path("/var/lib/nfs/rmtab")
NFSD_CLIENTS = Path("/proc/fs/nfsd/clients")


def read_nfs_mounts(rmtab: Path = RMTAB, nfsd: Path = NFSD_CLIENTS) -> tuple[list[tuple[str, str]], str]:
    """The kernel NFS server's mounts: rmtab (NFSv3, by rpc.mountd) with paths, and NFSv4 clients (no path)."""
    mounts: list[tuple[str, str]] = []
    seen_any = False
    with contextlib.suppress(OSError, UnicodeDecodeError):
        mounts += parse_rmtab(rmtab.read_text())
        seen_any = True
    with contextlib.suppress(OSError):
        for info in sorted(nfsd.glob("*/info"))[:10000]:
            with contextlib.suppress(OSError, UnicodeDecodeError):
                if address := parse_nfsd_info(info.read_text()):
                    mounts.append((address, ""))
        seen_any = seen_any or nfsd.is_dir()
    return mounts, "" if seen_any else f"neither {rmtab} nor {nfsd} can be read"


def state_path(config: Config) -> Path:
    return config.state_dir / "clients.json"


class ClientWatch:
    """The logs followed and the PCs known, loaded from and saved to state_dir/clients.json."""

    def __init__(self, config: Config, stopped_after: float = STOPPED_AFTER_SECONDS) -> None:
        self.config = config
        self.stopped_after = stopped_after  # seconds without progress before a PC is "stopped" (tests shorten it)
        saved: dict[str, Any] = {}
        with contextlib.suppress(OSError, ValueError):
            loaded = json.loads(state_path(config).read_text())
            if isinstance(loaded, dict) and loaded.get("version") == STATE_VERSION:
                saved = loaded
        clients: list[Client] = []
        with contextlib.suppress(TypeError, ValueError, AttributeError):
            clients = [Client.from_dict(item) for item in saved.get("clients", [])]
        self.book = ClientBook(config.clients_max, clients)
        followers = saved.get("logs", {}) if isinstance(saved.get("logs"), dict) else {}
        self.dnsmasq = LogFollower(config.dnsmasq_log, followers.get("dnsmasq"))
        self.http = LogFollower(config.http_access_log, followers.get("http"))
        self.ganesha = LogFollower(config.ganesha_log, followers.get("ganesha"))
        self.ganesha_parser = GaneshaParser()
        self.ganesha_parser.requests_seen = saved.get("ganesha_requests_seen") is True
        self.nfs_seen: dict[str, float] = (
            dict(saved.get("nfs_seen", {})) if isinstance(saved.get("nfs_seen"), dict) else {}
        )
        self.nfs_problem = ""
        self.rmtab, self.nfsd_clients = RMTAB, NFSD_CLIENTS
        self.parser = DnsmasqParser()

    def refresh(self, entries: EntryFiles | None = None, now: float | None = None) -> None:
        """Read what the logs gained since the last refresh; never raises for a log or a bad line."""
        now = time.time() if now is None else now
        layout = Layout.of(self.config, entries)
        for line in self.dnsmasq.read_lines():
            with contextlib.suppress(ValueError, KeyError, IndexError):
                if event := self.parser.parse(line, now):
                    self.book.apply(event, layout)
        for line in self.http.read_lines():
            with contextlib.suppress(ValueError, KeyError, IndexError):
                if event := parse_nginx(line):
                    self.book.apply(event, layout)
        self._nfs(layout, now)

    def _nfs(self, layout: Layout, now: float) -> None:
        if self.config.local_mode:
            self.nfs_problem = "NFS mounts not read in local mode"
            return
        if self.config.nfs_server == "ganesha":
            self._ganesha(layout, now)
            return
        mounts, self.nfs_problem = read_nfs_mounts(self.rmtab, self.nfsd_clients)
        current = {f"{ip} {path}" for ip, path in mounts}
        for key in current - self.nfs_seen.keys():  # a mount is dated when first seen
            ip, _, path = key.partition(" ")
            self.book.apply(Event(now, "nfs", ip=ip, path=path), layout)
        self.nfs_seen = {key: self.nfs_seen.get(key, now) for key in sorted(current)[: self.config.clients_max]}

    def _ganesha(self, layout: Layout, now: float) -> None:
        """Mounts from nfs-ganesha's log. Its mount lines are debug lines: until one mount request was
        seen, the log may simply not have them, so PCs are not called stopped for want of a mount."""
        for line in self.ganesha.read_lines():
            with contextlib.suppress(ValueError, KeyError, IndexError):
                if event := self.ganesha_parser.parse(line, now):
                    self.book.apply(event, layout)
        if self.ganesha.problem:
            self.nfs_problem = f"NFS mounts not visible: nfs-ganesha's log (ganesha_log): {self.ganesha.problem}"
        elif not self.ganesha_parser.requests_seen:
            self.nfs_problem = (
                f"NFS mounts not visible yet: no mount request in {self.config.ganesha_log}"
                f" (ganesha.conf needs {GANESHA_DEBUG})"
            )
        else:
            self.nfs_problem = ""

    def save(self) -> None:
        data = {
            "version": STATE_VERSION,
            "logs": {"dnsmasq": self.dnsmasq.state(), "http": self.http.state(), "ganesha": self.ganesha.state()},
            "ganesha_requests_seen": self.ganesha_parser.requests_seen,
            "nfs_seen": self.nfs_seen,
            "clients": [client.to_dict() for client in self.book.clients.values()],
        }
        with contextlib.suppress(OSError):
            effects.write_atomically(state_path(self.config), json.dumps(data) + "\n", durable=False)

    def problems(self) -> list[str]:
        lines = []
        for what, follower in (("dnsmasq log", self.dnsmasq), ("HTTP access log", self.http)):
            if follower.problem and not (what == "HTTP access log" and not self.config.http_url):
                lines.append(f"{what}: no client data ({follower.problem})")
        if self.nfs_problem:
            lines.append(self.nfs_problem)
        return lines

    def document(self, labels: Mapping[str, str] | None = None, now: float | None = None) -> dict[str, Any]:
        return document(
            self.book.clients.values(), self.problems(), labels or {}, now, not self.nfs_problem, self.stopped_after
        )

    def logs(self) -> list[Path]:
        """The logs whose growth can change the clients: the HTTP access log only with http_url set
        (otherwise no fetch in it is placed under an entry). Not nfs-ganesha's: at debug level it grows
        with every NFS read; it is read at each pass, and a pass comes at the latest when a PC would be
        called stopped (next_stop)."""
        paths = [self.config.dnsmasq_log, self.config.http_access_log if self.config.http_url else None]
        return [path for path in paths if path is not None]

    def behind(self) -> bool:
        """A log has more to read than the last refresh took (READ_LIMIT): read again soon, no event will say."""
        return self.dnsmasq.behind or self.http.behind or self.ganesha.behind

    def next_stop(self, now: float | None = None) -> float | None:
        """The earliest time (time.time()) after `now` at which a PC in the middle of booting becomes
        "stopped" with no further log line: the one moment the document changes by time alone. None when
        no PC is booting."""
        now = time.time() if now is None else now
        moments = []
        for client in self.book.clients.values():
            _furthest, at, waiting = progress(client, not self.nfs_problem)
            if waiting and at + self.stopped_after > now:
                moments.append(at + self.stopped_after)
        return min(moments, default=None)


def firmware_of(arch: int | None) -> str:
    if arch is None:
        return ""
    return ARCHITECTURES.get(arch, f"architecture {arch}")


def progress(client: Client, nfs_visible: bool) -> tuple[str, float, bool]:
    """(furthest stage, when it was reached, whether the PC may still stop there): a PC that reached its
    root file system, or whose NFS root cannot be seen, is not waited for."""
    furthest = client.furthest()
    at = client.stages[furthest]["time"] if furthest else client.last_seen
    return furthest, at, bool(furthest) and furthest != "root" and not root_unknown(furthest, nfs_visible)


def root_unknown(furthest: str, nfs_visible: bool) -> bool:
    return furthest == "initrd" and not nfs_visible


def document(
    clients: Iterable[Client],
    problems: list[str],
    labels: Mapping[str, str],
    now: float | None = None,
    nfs_visible: bool = True,
    stopped_after: float = STOPPED_AFTER_SECONDS,
) -> dict[str, Any]:
    """The `clients` part of the status document: PCs newest first, counts per entry, problems.
    Without a view of the NFS mounts (`nfs_visible` false: nfs-ganesha) a PC whose initrd came last may
    well run from its NFS root: it is not called stopped, and "root_unknown" says why."""
    now = time.time() if now is None else now
    midnight = time.mktime(time.localtime(now)[:3] + (0, 0, 0, 0, 0, -1))
    rows = []
    entries: dict[str, dict[str, Any]] = {}
    for client in sorted(clients, key=lambda c: c.last_seen, reverse=True):
        furthest, at, waiting = progress(client, nfs_visible)
        stopped = waiting and now - at >= stopped_after
        rows.append(
            {
                "mac": client.mac,
                "ip": client.ip,
                "hostname": client.hostname,
                "vendor_class": client.vendor_class,
                "user_class": client.user_class,
                "arch": client.arch,
                "firmware": ARCHITECTURES.get(client.arch, f"architecture {client.arch}")
                if client.arch is not None
                else "",
                "secure_boot": SECURE_BOOT_UNKNOWN,
                "entry": client.entry,
                "entry_label": labels.get(client.entry, ""),
                "furthest": furthest,
                "furthest_time": at,
                "stopped": stopped,
                "stopped_after": furthest if stopped else "",
                "hint": STOPPED_HINTS.get(furthest, "") if stopped else "",
                "root_unknown": root_unknown(furthest, nfs_visible),
                "stages": client.stages,
                "first_seen": client.first_seen,
                "last_seen": client.last_seen,
                "history": client.history,
            }
        )
        attempts = [{"entry": client.entry, "furthest": furthest, "at": at}, *client.history]
        for attempt in attempts:
            if attempt["entry"] and attempt["furthest"] in {"kernel", "initrd", "root"}:
                counts = entries.setdefault(
                    attempt["entry"],
                    {
                        "slug": attempt["entry"],
                        "label": labels.get(attempt["entry"], ""),
                        "pcs": set(),
                        "today": set(),
                        "root": set(),
                    },
                )
                counts["pcs"].add(client.key)
                if attempt["at"] >= midnight:
                    counts["today"].add(client.key)
                if attempt["furthest"] == "root":
                    counts["root"].add(client.key)
    per_entry = [
        {
            "slug": c["slug"],
            "label": c["label"],
            "pcs": len(c["pcs"]),
            "today": len(c["today"]),
            "reached_root": len(c["root"]),
        }
        for c in sorted(entries.values(), key=lambda c: (-len(c["pcs"]), c["slug"]))
    ]
    return {"clients": rows, "entries": per_entry, "problems": problems, "updated": now}


def _ago(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 172800:
        return f"{seconds / 3600:.0f} h ago"
    return f"{seconds / 86400:.0f} days ago"


def format_clients(doc: Mapping[str, Any], now: float | None = None) -> str:
    """The clients part of the status document for a person: a table, then counts per entry."""
    now = time.time() if now is None else now
    lines = []
    rows = doc.get("clients", [])
    if not rows:
        lines.append("No PCs seen yet.")
    else:
        lines.append(f"{'MAC':<17}  {'ADDRESS':<15}  {'FIRMWARE':<11}  {'ENTRY':<20}  FURTHEST STAGE")
    for row in rows:
        furthest = row["furthest"]
        stage = STAGE_NAMES.get(furthest, "seen") + " " + _ago(now - row["furthest_time"])
        record = row["stages"].get(furthest, {})
        if record.get("via") in {"tftp", "http", "nfs"}:
            stage += f" ({'NFS' if record['via'] == 'nfs' else record['via'].upper()}"
            stage += f", {record['seconds']:.1f} s)" if "seconds" in record else ")"
        entry = row["entry_label"] or row["entry"] or "-"
        lines.append(
            f"{row['mac'] or '?':<17}  {row['ip'] or '?':<15}  {row['firmware'] or '?':<11}  {entry[:20]:<20}  {stage}"
        )
        if row["stopped"]:
            lines.append(f"{'':<17}  stopped after this: {row['hint']}")
        elif row.get("root_unknown"):
            lines.append(f"{'':<17}  whether it mounted its NFS root cannot be seen here (see below)")
        if row["hostname"]:
            lines.append(f"{'':<17}  host name (as the PC sent it): {row['hostname']}")
    if doc.get("entries"):
        lines.append("")
        for entry in doc["entries"]:
            name = entry["label"] or entry["slug"]
            lines.append(
                f"{name}: {entry['pcs']} PC{'s' if entry['pcs'] != 1 else ''} fetched its kernel,"
                f" {entry['today']} today, {entry['reached_root']} reached the root file system"
            )
    if rows:
        lines.append("")
        lines.append("Secure Boot: " + SECURE_BOOT_UNKNOWN)
    for problem in doc.get("problems", []):
        lines.append(problem)
    return "\n".join(shown(line) for line in lines)


def entries_of(states: Mapping[str, Any]) -> tuple[dict[str, tuple[str, tuple[str, ...], str]], dict[str, str]]:
    """From the state records: each served entry's kernel and initrds (what a client fetches) and label."""
    layout, labels = {}, {}
    for slug, state in states.items():
        labels[slug] = state.label or state.source
        if state.entry is not None:
            layout[slug] = (state.entry.kernel, tuple(state.entry.initrds), state.label)
    return layout, labels


def status_part(watch: ClientWatch, states: Mapping[str, Any], save: bool) -> dict[str, Any]:
    """The `clients` part of the status document after reading what the logs gained; whatever goes wrong
    (a log, a state file, a line) becomes a problem line here, never an exception in the caller's pass."""
    entries, labels = entries_of(states)
    try:
        watch.refresh(entries)
        if save:
            watch.save()
        return watch.document(labels)
    except Exception as exc:  # the pass and `isodrop status` go on without client data
        return {"clients": [], "entries": [], "problems": [f"no client data: {exc}"], "updated": time.time()}


def check(config: Config) -> list[Finding]:
    """`isodrop check`: whether the logs `isodrop clients` reads are there (a missing one is a warning)."""
    logs = [("dnsmasq_log", config.dnsmasq_log, "log-dhcp and log-facility=PATH in dnsmasq's snippet")]
    if config.http_url:
        logs.append(("http_access_log", config.http_access_log, "the shipped nginx site's access_log"))
    if config.nfs_server == "ganesha":
        logs.append(("ganesha_log", config.ganesha_log, f"nfs-ganesha's -L file, with {GANESHA_DEBUG}"))
    report = []
    for key, path, fix in logs:
        if path is None:
            report.append(Finding(OK, f"{key} is off: isodrop clients does not read it"))
        elif os.access(path, os.R_OK) and path.is_file():
            report.append(Finding(OK, f"isodrop clients reads {path}"))
        else:
            report.append(Finding(WARN, f"{path} ({key}) cannot be read: isodrop clients has no data from it ({fix})"))
    return report
