"""Plain values passed between the pipeline steps; no I/O here."""

from __future__ import annotations

import contextlib
import unicodedata
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from isodrop.errors import IsodropError
from isodrop.limits import CONSOLE_RESERVE, INITRDS_MAX, LABEL_MAX, command_line_problem, loader_reserve, path_problem


def printable(text: str) -> str:
    """Text from outside (file names, ISO labels) made one line for a boot menu: undecodable bytes
    become U+FFFD and control characters (a newline in a file name) become spaces. What is shown to a
    person (log, status, inspect) goes through `shown` instead."""
    if text.isprintable():  # no control character, no lone surrogate: nearly always, and fast
        return text
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in text)


_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})  # controls, format (bidi, zero-width), separators


def _escape(ch: str) -> str:
    code = ord(ch)
    if ch in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[ch]
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def shown(text: object) -> str:
    """The one sanitiser for text shown to a person (log and journal lines, `status`, `inspect`, `check`):
    outside text stays on its line and cannot act on the terminal. Control characters (ESC, a newline
    that would forge a log line), format characters (bidi overrides U+202A-U+202E, isolates U+2066-U+2069,
    U+200E/U+200F, U+061C, zero-width ones), line/paragraph separators and undecodable bytes become
    visible escapes: \\x1b, \\n, \\u202e, \\xff."""
    text = str(text)
    if text.isprintable():  # none of those: nearly always, and fast
        return text
    with contextlib.suppress(UnicodeEncodeError):  # other lone surrogates stay, escaped below (Cs)
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return "".join(_escape(ch) if unicodedata.category(ch) in _HIDDEN_CATEGORIES else ch for ch in text)


class Outcome(StrEnum):
    """What happened to one ISO; shown in `isodrop status` and the journal."""

    SERVED = "served"  # extracted, recognised, in the menu and exported
    FAILED = "failed"  # not an ISO, truncated, checksum mismatch, I/O error
    UNRECOGNISED = "unrecognised"  # extracted fine, but no family knows how to boot it
    UNSUPPORTED = "unsupported"  # recognised, and known not to boot over the network as shipped


@dataclass(frozen=True)
class ServerContext:
    """Where a tree is served from, as a booting client sees it."""

    server: str  # IPv4 address of this server on the client network
    nfs_path: str  # absolute path of the extracted tree on this server (the NFS export)
    tftp_path: str  # the same tree relative to the TFTP root, e.g. "isodrop/debian-live-12"
    http_url: str = ""  # base URL of the tree over HTTP, "" when HTTP is not configured

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class BootEntry:
    """How to boot one tree: everything a menu renderer needs, paths relative to the tree."""

    family: str  # e.g. "debian-live", "casper"
    label: str  # what a person sees in the menu
    kernel: str
    initrds: tuple[str, ...]
    params: tuple[str, ...]  # kernel command line, one parameter per item, without initrd=
    evidence: tuple[str, ...] = ()  # files that made the family match
    menu_group: str = ""  # submenu title when the menu is grouped
    guessed: bool = False  # built by the generic fallback from the ISO's own boot config
    firmware: tuple[str, ...] = ("bios", "efi64")  # which menus offer it (a 32-bit EFI binary: BIOS only)
    # Bytes its initramfs copies whole into the PC's RAM before the system starts (dracut's root=live:http
    # downloads the image into its tmpfs); 0 when the root is read on demand over NFS (or there is none).
    copies_to_ram_bytes: int = 0

    def __post_init__(self) -> None:
        # a label is shown on one menu line, so it is made showable and cut to a sane length
        object.__setattr__(self, "label", printable(self.label).strip()[:LABEL_MAX].rstrip())
        for part in (self.kernel, *self.initrds, *self.params):  # these are used, so they must be exact
            if any(ch in part for ch in "\n\r\0"):
                raise ValueError(f"boot entry field contains a line break or NUL: {part!r}")

    @property
    def cmdline(self) -> str:
        return " ".join(self.params)

    def too_long(self) -> str | None:
        """Why this entry cannot boot within the kernel's and the loaders' limits (isodrop.limits); None
        when it can."""
        if len(self.initrds) > INITRDS_MAX:
            return f"{len(self.initrds)} initrds, over isodrop's limit of {INITRDS_MAX}"
        for what, path in (("kernel", self.kernel), *(("initrd", initrd) for initrd in self.initrds)):
            if problem := path_problem(what, path):
                return problem
        return command_line_problem(self.cmdline, CONSOLE_RESERVE + loader_reserve(self.kernel, self.initrds))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BootEntry:
        return cls(
            family=data["family"],
            label=data["label"],
            kernel=data["kernel"],
            initrds=tuple(data.get("initrds", ())),
            params=tuple(data.get("params", ())),
            evidence=tuple(data.get("evidence", ())),
            menu_group=data.get("menu_group", ""),
            guessed=bool(data.get("guessed", False)),
            firmware=tuple(data.get("firmware", ("bios", "efi64"))),
            copies_to_ram_bytes=int(data.get("copies_to_ram_bytes", 0)),
        )

    @property
    def ram_needed_bytes(self) -> int:
        """What a PC needs at least to boot an entry that copies its root into RAM: the copy plus
        RAM_MARGIN_BYTES; 0 when nothing is copied."""
        return self.copies_to_ram_bytes + RAM_MARGIN_BYTES if self.copies_to_ram_bytes else 0

    def root_line(self) -> str:
        """How the root reaches the PC, for `inspect`."""
        if self.copies_to_ram_bytes:
            return ram_copy_line(self.copies_to_ram_bytes)
        if not self.initrds and not self.params:
            return "none (the kernel runs on its own)"
        return "read on demand over the network (nothing copied into RAM)"


MiB = 1024 * 1024
# Beside an image copied into RAM, the kernel, the unpacked initramfs and the booted system need memory of
# their own; 512 MiB is a floor for a live desktop's first minutes, not a measurement.
RAM_MARGIN_BYTES = 512 * MiB


def mib(size: int) -> int:
    """Bytes as whole MiB, rounded up (a RAM figure must not be understated)."""
    return -(-size // MiB)


def ram_copy_line(copied: int) -> str:
    """What an entry whose initramfs copies `copied` bytes into RAM asks of a PC (`inspect`, `status`)."""
    return (
        f"copied whole into RAM before the system starts ({mib(copied)} MiB): needs at least "
        f"{mib(copied + RAM_MARGIN_BYTES)} MiB of RAM (the copy + {mib(RAM_MARGIN_BYTES)} MiB for kernel and system)"
    )


class NotBootable(IsodropError):
    """The one way to say "this tree cannot boot over the network", with the precise reason.

    Families' hooks raise it; `families.recognise` returns it as the verdict. `guessed`: nobody knows
    what the tree is (no family claimed it, or only the generic fallback looked at it), so the outcome
    is "unrecognised" rather than "unsupported"."""

    def __init__(self, reason: str, *, guessed: bool = False, family: str = "", evidence: tuple[str, ...] = ()) -> None:
        super().__init__(reason)
        self.guessed = guessed
        self.family = family
        self.evidence = tuple(evidence)

    def claimed(self, family: str, evidence: tuple[str, ...]) -> NotBootable:
        """The same verdict, naming the family that raised it (a hook does not know its family)."""
        if not self.family:
            self.family = family
        if not self.evidence:
            self.evidence = tuple(evidence)
        return self


Recognition = BootEntry | NotBootable
