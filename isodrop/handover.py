"""Hand-over to an ISO's own Secure Boot chain: a TFTP folder of its own for one PC.

Debian's shim refuses a kernel Fedora (or another vendor) signed, and chainloading that vendor's shim from
isodrop's GRUB does not find the network (docs/secure-boot-vendors.md section 4): the firmware must load the
vendor's shim itself. dnsmasq with `tftp-unique-root=mac` serves every TFTP file a PC asks for from
`<tftp_root>/<its MAC folder>/` when that folder exists (clients.mac_folder). So, for one PC, isodrop writes
such a folder holding the ISO's shim as `efi64/bootx64.efi`, its GRUB beside it (and at the root, where
shim asks in DHCP mode), MokManager when the ISO has one, the entry's kernel and initrds at the paths the
menus use (hard links into the tree) and a grub.cfg in each place that GRUB looks; the PC's next network
boot then runs the vendor's own chain.

Which PCs get a folder is recomputed every step, from two inputs:
- hand-over requests: on a Secure Boot PC, isodrop's GRUB menu asks for the missing file
  `efi64/handover/<slug>/<MAC>` (isodrop.loaders.grub) and restarts the PC; dnsmasq logs "file ... not
  found for ..." in dnsmasq_log. A request counts only in exactly that form, for an entry whose chain is
  usable. It ends when dnsmasq says it sent that PC the entry's last initrd from its folder, or after
  handover_minutes. Requests are kept in state_dir/handover.json with the log position (a restart keeps them).
- pins (isodrop.pins) of one MAC to such an entry: the folder stays until the pin goes. A network or host
  name cannot pick a per-MAC folder, and a one-shot pin gets its own menu as before (choosing the entry
  there asks for a hand-over).
A folder is built under a temporary name and renamed into place; isodrop touches only MAC folders holding
its MARKER file, and removes them when no longer wanted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import json
import logging
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from isodrop import effects
from isodrop.clients import MISSING, DnsmasqParser, Event, LogFollower, folder_mac, mac_folder, relative_to_root
from isodrop.config import Config
from isodrop.findings import OK, WARN, Finding
from isodrop.loaders.grub import GRUB, GRUB_BESIDE_SHIM, HANDOVER_REQUESTS, SHIM, GrubLoader
from isodrop.pins import HOSTNAME, MAC, Pin
from isodrop.removal import remove_tree
from isodrop.render.menu import ISO_NAME_PREFIX, MenuItem, serial_directive, vendor_shown
from isodrop.state import EntryState
from isodrop.vendorchain import VendorChain

log = logging.getLogger("isodrop")

MARKER = ".isodrop-handover"  # in every per-PC folder isodrop wrote: the only ones it changes or removes
TEMPORARY_PREFIX = ".isodrop-handover-"  # folders being built or removed in tftp_root
MANAGER = PurePosixPath("mmx64.efi")  # MokManager, fetched like the second stage when shim needs it
STATE_VERSION = 1
REQUESTS_MAX = 256  # pending requests kept, the oldest dropped: forged requests cannot grow the folders
GRUB_MAC = re.compile(r"^(?:[0-9a-f]{2}:){5}[0-9a-f]{2}$")  # $net_default_mac, as GRUB sends it
DNSMASQ_OPTION = "tftp-unique-root"
DNSMASQ_LINE = "tftp-unique-root=mac"


class HandoverError(Exception):
    """A per-PC folder that cannot be written from what the tree holds (said in status, never raised further)."""


@dataclass(frozen=True)
class Offer:
    """An entry a PC can be handed over to: in the shared menu, its ISO's chain usable."""

    slug: str
    source: str  # the ISO's file name (what pins name)
    tree: str  # its tree relative to tftp_root ("isodrop/fedora-40")
    chain: VendorChain
    item: MenuItem  # as the shared menu boots it: kernel, initrds, command line


@dataclass(frozen=True)
class Request:
    """A PC that asked, from isodrop's menu, to boot `slug` through that ISO's own chain."""

    mac: str  # "52:54:00:12:34:56"
    slug: str
    since: float  # time.time() of the request (dnsmasq's log line)
    expires: float


@dataclass(frozen=True)
class Wanted:
    """One per-PC folder that should exist now, and why."""

    mac: str
    offer: Offer
    pinned: bool
    since: float  # 0.0 for a pin
    expires: float | None  # None for a pin


# --- planning (pure) ----------------------------------------------------------------------------------


def offers(items: Iterable[MenuItem], states: Mapping[str, EntryState], trees: Mapping[str, str]) -> dict[str, Offer]:
    """By slug, the entries of the shared menu (`items`) for x86-64 UEFI whose ISO's chain is usable;
    `trees`: slug -> tree relative to tftp_root."""
    found = {}
    for item in items:
        slug = item.name.removeprefix(ISO_NAME_PREFIX)
        state = states.get(slug)
        chain = state.vendor_chain if state is not None else None
        if chain is None or not chain.usable or slug not in trees or "efi64" not in item.firmware:
            continue
        found[slug] = Offer(slug, state.source, trees[slug], chain, item)
    return found


def asked(relative: str, offers_now: Mapping[str, Offer]) -> tuple[str, str] | None:
    """(MAC, slug) when `relative` is a hand-over request exactly as isodrop's GRUB menu sends it
    (efi64/handover/<slug>/<MAC>) for an entry that can be handed over; anything else is no request."""
    parts = PurePosixPath(relative).parts
    prefix = HANDOVER_REQUESTS.parts
    if len(parts) != len(prefix) + 2 or parts[: len(prefix)] != prefix or "/".join(parts) != relative:
        return None
    slug, mac = parts[-2], parts[-1]
    return (mac, slug) if slug in offers_now and GRUB_MAC.match(mac) else None


def last_file(item: MenuItem) -> str:
    """What a PC fetches last over TFTP when it boots `item`: its last initrd, else its kernel."""
    return item.initrds[-1] if item.initrds else item.kernel


def followed(
    requests: Mapping[str, Request],
    events: Iterable[Event],
    offers_now: Mapping[str, Offer],
    tftp_root: Path,
    minutes: int,
    now: float,
) -> dict[str, Request]:
    """The pending requests after dnsmasq's TFTP `events` (in log order): a request starts or replaces that
    PC's; a PC sent its entry's last initrd from its own folder is done; expired ones go."""
    pending = dict(requests)
    for event in events:
        relative = relative_to_root(event.path, tftp_root) if event.kind == "tftp" else None
        if relative is None:
            continue
        if event.message == MISSING:
            if found := asked(relative, offers_now):
                mac, slug = found
                since = min(event.when, now)
                pending.pop(mac, None)
                pending[mac] = Request(mac, slug, since, since + minutes * 60)
                while len(pending) > REQUESTS_MAX:
                    pending.pop(next(iter(pending)))
            continue
        folder, _, inside = relative.partition("/")
        request = pending.get(folder_mac(folder))
        if request is not None and request.slug in offers_now and inside == last_file(offers_now[request.slug].item):
            del pending[request.mac]
            log.info(
                "%s fetched the initrd of %s from its own folder: the hand-over is done", request.mac, request.slug
            )
    return {mac: request for mac, request in pending.items() if request.expires > now}


def desired(requests: Mapping[str, Request], pins: Sequence[Pin], offers_now: Mapping[str, Offer]) -> dict[str, Wanted]:
    """The per-PC folders wanted now, by MAC: pins of one MAC to an entry that can be handed over (a pin
    wins over a request), then pending requests."""
    by_source = {offer.source: offer for offer in offers_now.values()}
    wanted = {}
    for pin in pins:
        if pin.target.kind == MAC and not pin.once and pin.entry in by_source:
            wanted[pin.target.value] = Wanted(pin.target.value, by_source[pin.entry], True, 0.0, None)
    for request in requests.values():
        if request.mac not in wanted and request.slug in offers_now:
            offer = offers_now[request.slug]
            wanted[request.mac] = Wanted(request.mac, offer, False, request.since, request.expires)
    return wanted


def _relative(path: str, what: str) -> PurePosixPath:
    """`path` as a path inside a tree or folder, or HandoverError: never absolute, never with ".."."""
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts or "\\" in path:
        raise HandoverError(f"{what} {path!r} is not a path inside the tree")
    return pure


def contents(offer: Offer, tftp_root: Path, menu: str) -> tuple[dict[PurePosixPath, Path], dict[PurePosixPath, str]]:
    """A per-PC folder's files: (where in the folder -> the file in the tree it links to, where -> text).
    The chain's paths are relative to the ISO's tree, the menu's relative to the TFTP root."""
    tree, chain = tftp_root / offer.tree, offer.chain
    links = {SHIM: tree / _relative(chain.shim, "shim"), GRUB_BESIDE_SHIM: tree / _relative(chain.grub, "GRUB")}
    links[GRUB] = links[GRUB_BESIDE_SHIM]
    if chain.manager:
        links[SHIM.parent / MANAGER] = links[MANAGER] = tree / _relative(chain.manager, "MokManager")
    for path in (offer.item.kernel, *offer.item.initrds):
        links[_relative(path, "boot file")] = tftp_root / path
    texts = {_relative(folder, "configuration folder") / "grub.cfg": menu for folder in chain.config_dirs}
    if not texts:
        raise HandoverError("the chain names no folder where its GRUB reads grub.cfg")
    return links, texts


def digest(mac: str, offer: Offer, links: Mapping[PurePosixPath, Path], texts: Mapping[PurePosixPath, str]) -> str:
    """What a folder holds, as a checksum: the same digest means the folder in place is the one wanted (each
    linked file by its path, inode, size and mtime: a rebuilt tree gives new ones)."""
    parts = [mac, offer.slug]
    for where, source in sorted(links.items()):
        info = os.stat(source)
        parts.append(f"{where} {source} {info.st_ino} {info.st_size} {info.st_mtime_ns}")
    parts += [f"{where} {hashlib.sha256(text.encode()).hexdigest()}" for where, text in sorted(texts.items())]
    return hashlib.sha256("\n".join(parts).encode("utf-8", "surrogateescape")).hexdigest()


# --- effects ------------------------------------------------------------------------------------------


def read_marker(folder: Path) -> dict[str, Any] | None:
    """The marker of a folder isodrop wrote, None when the folder is not isodrop's (no regular marker file)."""
    try:
        fd = os.open(folder / MARKER, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return None
        try:
            data = json.loads(handle.read(65536))
        except ValueError:
            data = {}
    return data if isinstance(data, dict) else {}


def mac_folders(tftp_root: Path) -> dict[str, dict[str, Any] | None]:
    """Everything in the TFTP root named like a MAC folder: name -> its marker (None: not isodrop's, which
    a symlink or a file of that name never is)."""
    try:
        found = {entry.name: entry.is_dir(follow_symlinks=False) for entry in os.scandir(tftp_root)}
    except OSError:
        return {}
    return {
        name: read_marker(tftp_root / name) if real else None
        for name, real in sorted(found.items())
        if folder_mac(name)
    }


def _link(source: Path, tree: Path, target: Path) -> None:
    """`target` as a hard link to `source`, which must be a regular file inside `tree` once links are
    resolved (a tree's symlinks stay inside it; this checks again). Another file system: a copy."""
    real = Path(os.path.realpath(source))
    if not real.is_relative_to(os.path.realpath(tree)):
        raise HandoverError(f"{source} leads outside its tree")
    if not stat.S_ISREG(os.stat(real).st_mode):
        raise HandoverError(f"{source} is not a regular file")
    target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    try:
        os.link(real, target)
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
            raise
        shutil.copyfile(real, target)
        os.chmod(target, 0o644)


def build(
    folder: Path, tree: Path, links: Mapping[PurePosixPath, Path], texts: Mapping[PurePosixPath, str], marker: str
) -> None:
    """Write the per-PC `folder` whole under a temporary name beside it, then rename it into place (an
    older one is renamed away first and removed): dnsmasq never serves half a folder."""
    root = folder.parent
    building = Path(tempfile.mkdtemp(prefix=TEMPORARY_PREFIX, dir=root))
    try:
        os.chmod(building, 0o755)
        for where, source in sorted(links.items()):
            _link(source, tree, building / where)
        for where, text in sorted(texts.items()):
            (building / where).parent.mkdir(mode=0o755, parents=True, exist_ok=True)
            effects.write_atomically(building / where, text, durable=False)
        effects.write_atomically(building / MARKER, marker, durable=False)
        for path in building.rglob("*"):
            if path.is_dir() and not path.is_symlink():
                os.chmod(path, 0o755)
        if folder.exists():
            remove(folder)
        os.rename(building, folder)
    except BaseException:
        remove_tree(building)
        raise


def remove(folder: Path) -> None:
    """Remove a per-PC folder: renamed away first, so the PC gets the shared files at once."""
    leaving = Path(tempfile.mkdtemp(prefix=TEMPORARY_PREFIX, dir=folder.parent))
    os.rename(folder, leaving / "old")
    remove_tree(leaving)


def state_path(config: Config) -> Path:
    return config.state_dir / "handover.json"


class HandoverBook:
    """The hand-overs of a running server: requests read from dnsmasq's log, the offers and pins of the
    last pass, and the per-PC folders kept to match them (`step`)."""

    def __init__(self, config: Config, loader: GrubLoader | None = None) -> None:
        self.config = config
        self.loader = loader or GrubLoader.for_config(config)
        saved: dict[str, Any] = {}
        with contextlib.suppress(OSError, ValueError):
            loaded = json.loads(state_path(config).read_text())
            if isinstance(loaded, dict) and loaded.get("version") == STATE_VERSION:
                saved = loaded
        self.requests: dict[str, Request] = {}
        with contextlib.suppress(TypeError, ValueError, AttributeError, KeyError):
            for item in saved.get("requests", []):
                self.requests[item["mac"]] = Request(**item)
        self.follower = LogFollower(
            config.dnsmasq_log, saved.get("log") if isinstance(saved.get("log"), dict) else None
        )
        self.parser = DnsmasqParser()
        self.offers: dict[str, Offer] = {}
        self.pins: tuple[Pin, ...] = ()
        self.wanted: dict[str, Wanted] = {}
        self.problems: dict[str, str] = {}  # MAC -> why its folder is not as wanted
        self._saved = self._state()

    def prepare(self) -> None:
        """Remove folders an interrupted run left half built or half removed."""
        with contextlib.suppress(OSError):
            for entry in os.scandir(self.config.tftp_root):
                if entry.name.startswith(TEMPORARY_PREFIX) and entry.is_dir(follow_symlinks=False):
                    remove_tree(Path(entry.path))

    def update(self, offers_now: Mapping[str, Offer], pins: Sequence[Pin]) -> None:
        """What the last pass serves: the entries that can be handed over and the pins."""
        self.offers, self.pins = dict(offers_now), tuple(pins)

    def active(self) -> bool:
        """Can a request (or the end of one) change anything: an entry can be handed over, or a folder is out."""
        return bool(self.offers or self.wanted)

    def step(self, now: float | None = None) -> None:
        """Read what dnsmasq logged since the last step, then make the per-PC folders match what is
        wanted now; save the requests. Never raises for a folder: its problem goes to the status."""
        now = time.time() if now is None else now
        events = [event for line in self.follower.read_lines() if (event := self._parse(line, now)) is not None]
        before = set(self.requests)
        self.requests = followed(
            self.requests, events, self.offers, self.config.tftp_root, self.config.handover_minutes, now
        )
        for mac in set(self.requests) - before:
            request = self.requests[mac]
            log.info(
                "%s asked to boot %s through %s's own chain: its folder is served until %s",
                mac,
                request.slug,
                self.offers[request.slug].chain.vendor,
                time.strftime("%H:%M:%S", time.localtime(request.expires)),
            )
        self.wanted = desired(self.requests, self.pins, self.offers)
        self._sync(now)
        state = self._state()
        if state != self._saved:
            with contextlib.suppress(OSError):
                effects.write_atomically(state_path(self.config), json.dumps(state) + "\n", durable=False)
                self._saved = state

    def _parse(self, line: str, now: float) -> Event | None:
        with contextlib.suppress(ValueError, KeyError, IndexError):
            return self.parser.parse(line, now)
        return None

    def _state(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "log": self.follower.state(),
            "requests": [dataclasses.asdict(request) for request in self.requests.values()],
        }

    def _sync(self, now: float) -> None:
        root = self.config.tftp_root
        present = mac_folders(root)
        names = {mac_folder(mac): mac for mac in self.wanted}
        problems = {}
        for name, marker in present.items():
            if marker is not None and name not in names:
                with contextlib.suppress(OSError):
                    remove(root / name)
                    log.info("%s: hand-over ended, its folder %s removed", folder_mac(name), root / name)
        for name, mac in names.items():
            wanted = self.wanted[mac]
            if name in present and present[name] is None:
                problems[mac] = f"{root / name} exists and is not isodrop's (no {MARKER}): not touched"
                continue
            try:
                menu = self.loader.handover_menu(
                    wanted.offer.item,
                    vendor_shown(wanted.offer.chain),
                    serial_directive(self.config.serial_console),
                    self.config.handover_minutes,
                )
                links, texts = contents(wanted.offer, root, menu)
                checksum = digest(mac, wanted.offer, links, texts)
                if (present.get(name) or {}).get("digest") == checksum:
                    continue
                marker = {"mac": mac, "slug": wanted.offer.slug, "pinned": wanted.pinned, "digest": checksum}
                build(root / name, root / wanted.offer.tree, links, texts, json.dumps(marker) + "\n")
            except (HandoverError, OSError, ValueError) as exc:
                problems[mac] = f"its folder {root / name} cannot be written: {exc}"
        for mac, problem in problems.items():
            if self.problems.get(mac) != problem:
                log.error("hand-over of %s: %s", mac, problem)
        self.problems = problems

    def next_expiry(self) -> float | None:
        """The time.time() the next request expires (its folder then goes), None when none is pending."""
        return min((request.expires for request in self.requests.values()), default=None)

    def status(self) -> dict[str, Any]:
        """The `handover` part of the status document."""
        return {
            "folders": [
                {
                    "mac": wanted.mac,
                    "entry": wanted.offer.slug,
                    "iso": wanted.offer.source,
                    "vendor": wanted.offer.chain.vendor,
                    "pinned": wanted.pinned,
                    "since": wanted.since,
                    "expires": wanted.expires,
                    "folder": str(self.config.tftp_root / mac_folder(wanted.mac)),
                    "problem": self.problems.get(wanted.mac, ""),
                }
                for wanted in sorted(self.wanted.values(), key=lambda w: w.mac)
            ],
            "entries": sorted(self.offers),
            "log": self.follower.problem,
        }


def pin_notes(pin: Pin, states: Mapping[str, EntryState]) -> list[str]:
    """What `isodrop pin` says about a pin of an entry whose ISO's own chain is usable: a MAC gets a
    folder of its own (its PC boots that chain every time); a network, a host name or a one-shot cannot."""
    chain = next(
        (s.vendor_chain for s in states.values() if s.source == pin.entry and s.vendor_chain is not None), None
    )
    if chain is None or not chain.usable:
        return []
    if pin.target.kind == MAC and not pin.once:
        return [
            f"{pin.target} boots {pin.entry} through {chain.vendor}'s own chain from its own TFTP folder"
            " (Secure Boot on or off) until `isodrop unpin`"
        ]
    whom = (
        "a one-shot pin"
        if pin.target.kind == MAC
        else f"a pin of a {'host name' if pin.target.kind == HOSTNAME else 'network'}"
    )
    return [
        f"{pin.entry} boots on Secure Boot PCs through {chain.vendor}'s own chain, from a TFTP folder per MAC:"
        f" {whom} cannot keep one, so its PCs get their own menu, where choosing the entry restarts into that chain"
    ]


def status_lines(part: Mapping[str, Any]) -> list[str]:
    """The hand-overs as `isodrop status` shows them."""
    lines = []
    for folder in part.get("folders", []):
        lines.append(
            f"  {'vendor pin' if folder['pinned'] else 'handing over':<13} {folder['mac']}  {_described(folder)}"
        )
        lines.append(f"      folder: {folder['folder']}")
        if folder.get("problem"):
            lines.append(f"      problem: {folder['problem']}")
    return [""] + lines if lines else []


def entry_lines(part: Mapping[str, Any], slug: str) -> list[str]:
    """The PCs handed over to one entry, as `isodrop inspect` shows them (from the service's status)."""
    return [
        f"hand-over:  {folder['mac']}: {_described(folder)}{'; ' + folder['problem'] if folder.get('problem') else ''}"
        for folder in part.get("folders", [])
        if folder["entry"] == slug
    ]


def _described(folder: Mapping[str, Any]) -> str:
    what = f"{folder['entry']} through {folder['vendor']}'s chain"
    if folder["pinned"]:
        return f"{what} (pinned: until `isodrop unpin`)"
    since = time.strftime("%H:%M:%S", time.localtime(folder["since"]))
    until = time.strftime("%H:%M:%S", time.localtime(folder["expires"]))
    return f"{what} (asked {since}, until {until} or its initrd)"


def dnsmasq_findings(
    config: Config, options: Iterable[tuple[str, str, Path]], states: Mapping[str, EntryState]
) -> list[Finding]:
    """For `isodrop check`: when an entry can be handed over to its ISO's chain, whether dnsmasq's
    configuration (rush.dnsmasq_options) serves per-PC folders and logs the requests."""
    usable = sorted(
        slug for slug, state in states.items() if state.vendor_chain is not None and state.vendor_chain.usable
    )
    if not usable:
        return []
    options = list(options)
    names = ", ".join(usable[:5]) + (f" and {len(usable) - 5} more" if len(usable) > 5 else "")
    found = [(value, path) for name, value, path in options if name == DNSMASQ_OPTION]
    findings = []
    if any(value == "mac" for value, _ in found):
        where = next(path for value, path in found if value == "mac")
        findings.append(
            Finding(OK, f"dnsmasq serves per-PC folders ({DNSMASQ_LINE} in {where}): {names} can be handed over")
        )
    else:
        findings.append(
            Finding(
                WARN,
                f"{names}: a Secure Boot PC is handed over to the ISO's own chain through a per-PC TFTP folder, but"
                f" dnsmasq's configuration has no {DNSMASQ_LINE} (add it to /etc/dnsmasq.d/isodrop.conf and restart"
                " dnsmasq): such a PC restarts into isodrop's menu again",
            )
        )
    if any(name == "quiet-tftp" for name, _, _ in options):
        findings.append(Finding(WARN, "dnsmasq has quiet-tftp: it does not log the missing file a hand-over asks for"))
    if config.dnsmasq_log is None:
        findings.append(
            Finding(WARN, "dnsmasq_log is off: isodrop never sees a hand-over request (only vendor pins work)")
        )
    return findings
