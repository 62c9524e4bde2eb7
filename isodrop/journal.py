"""Logging set-up: native journal records under systemd, plain lines in a terminal.

Under systemd a person filters with `journalctl -u isodrop ISODROP_ISO=ubuntu.iso`, so each record is sent
with its own fields over journald's native protocol instead of as a line of text on stderr. A record about one
ISO carries `extra={"iso": ..., "system": ..., "outcome": ...}`; those become ISODROP_ISO, ISODROP_SYSTEM and
ISODROP_OUTCOME.

python3-systemd's JournalHandler is not used: it sends every record attribute under its own upper-cased name
(ISO rather than ISODROP_ISO, plus MSG, ARGS, ...), and libsystemd fixes the socket path so it cannot be tested
without a running journald. The native protocol is small and documented (systemd's "Native Journal Protocol").
"""

from __future__ import annotations

import array
import errno
import fcntl
import logging
import os
import socket
import struct
import sys
import traceback
from collections.abc import Iterable

from isodrop.model import shown

JOURNAL_SOCKET = "/run/systemd/journal/socket"
SYSLOG_IDENTIFIER = "isodrop"

# Record attributes set with `extra=` and the journal field each becomes.
RECORD_FIELDS = {"iso": "ISODROP_ISO", "system": "ISODROP_SYSTEM", "outcome": "ISODROP_OUTCOME"}

_PRIORITIES = ((logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4), (logging.INFO, 6))


def iso_extra(iso: str, system: str = "", outcome: str = "") -> dict[str, dict[str, str]]:
    """`extra=` for a log record about one ISO: journald gets ISODROP_ISO/_SYSTEM/_OUTCOME fields."""
    fields = {"iso": iso}
    if system:
        fields["system"] = system
    if outcome:
        fields["outcome"] = outcome
    return fields


def syslog_priority(levelno: int) -> int:
    """Map a logging level to a syslog priority (journald's PRIORITY field); DEBUG and below are 7."""
    for threshold, priority in _PRIORITIES:
        if levelno >= threshold:
            return priority
    return 7


def encode_fields(fields: Iterable[tuple[str, str]]) -> bytes:
    """Serialise fields in the native protocol: KEY=value lines, or the length-prefixed form for values
    with a newline (tracebacks) so they arrive whole."""
    chunks: list[bytes] = []
    for key, value in fields:
        data = value.encode("utf-8", "replace")
        if b"\n" in data:
            chunks.append(key.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n")
        else:
            chunks.append(key.encode() + b"=" + data + b"\n")
    return b"".join(chunks)


def stderr_is_journal(environ: dict[str, str] | None = None) -> bool:
    """True when stderr is the journal stream systemd connected us to. JOURNAL_STREAM alone is not enough:
    a child of a service inherits it while its stderr may be a terminal or a pipe."""
    value = (os.environ if environ is None else environ).get("JOURNAL_STREAM", "")
    device, _, inode = value.partition(":")
    try:
        stat = os.fstat(sys.stderr.fileno())
        return (stat.st_dev, stat.st_ino) == (int(device), int(inode))
    except (ValueError, OSError, AttributeError):
        return False


class JournalHandler(logging.Handler):
    """Send each record to journald as one datagram with PRIORITY, MESSAGE, SYSLOG_IDENTIFIER, CODE_* and the
    ISODROP_* fields. When journald cannot be reached the line goes to stderr, so nothing is lost."""

    def __init__(self, socket_path: str = JOURNAL_SOCKET, identifier: str = SYSLOG_IDENTIFIER) -> None:
        super().__init__()
        self.socket_path = socket_path
        self.identifier = identifier
        self.setFormatter(ShownFormatter())
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    def fields(self, record: logging.LogRecord) -> list[tuple[str, str]]:
        """The journal fields for one record (public so callers and tests can see exactly what is sent)."""
        fields = [
            ("MESSAGE", self.format(record)),
            ("PRIORITY", str(syslog_priority(record.levelno))),
            ("SYSLOG_IDENTIFIER", self.identifier),
            ("CODE_FILE", record.pathname),
            ("CODE_LINE", str(record.lineno)),
            ("CODE_FUNC", record.funcName),
            ("LOGGER", record.name),
        ]
        for attribute, field in RECORD_FIELDS.items():
            value = getattr(record, attribute, None)
            if value is not None and value != "":
                fields.append((field, shown(value)))
        return fields

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._send(encode_fields(self.fields(record)))
        except OSError:
            sys.stderr.write(f"<{syslog_priority(record.levelno)}>{self.format(record)}\n")
        except Exception:
            self.handleError(record)

    def _send(self, datagram: bytes) -> None:
        try:
            self._socket.sendto(datagram, self.socket_path)
        except OSError as exc:
            if exc.errno not in (errno.EMSGSIZE, errno.ENOBUFS):  # too big for one datagram
                raise
            self._send_via_memfd(datagram)

    def _send_via_memfd(self, datagram: bytes) -> None:
        """journald accepts a large record as a sealed memfd passed with SCM_RIGHTS."""
        fd = os.memfd_create("isodrop-journal", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        try:
            os.write(fd, datagram)
            seals = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SEAL
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, seals)
            rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))]
            self._socket.sendmsg([], rights, 0, self.socket_path)
        finally:
            os.close(fd)

    def close(self) -> None:
        self._socket.close()
        super().close()


_TRACEBACK_CHUNKS = ("Traceback (most recent call last):", "  File ", "  [Previous line repeated", "\n")


class ShownFormatter(logging.Formatter):
    """Every message made `shown`: a file name cannot colour the terminal, hide text with bidi controls or
    forge a log line with a newline. A traceback keeps its lines, each of them made `shown`."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        return shown(super().formatMessage(record))

    def formatException(self, ei) -> str:  # type: ignore[no-untyped-def]  # noqa: N802
        lines: list[str] = []
        for chunk in traceback.TracebackException(*ei).format():
            if chunk.startswith(_TRACEBACK_CHUNKS):  # ours: frames (file, line, code) and the headings
                lines.extend(shown(line) for line in chunk.rstrip("\n").split("\n"))
            else:  # an exception's own text may quote outside text (a file name): kept on its one line
                lines.append(shown(chunk.rstrip("\n")))
        return "\n".join(lines)

    def formatStack(self, stack_info: str) -> str:  # noqa: N802
        return "\n".join(shown(line) for line in super().formatStack(stack_info).splitlines())


class PlainFormatter(ShownFormatter):
    """Readable terminal lines: `isodrop: ubuntu.iso: served as Ubuntu 24.04`, with the level named only when
    it is not plain information."""

    def __init__(self, verbose: bool = False) -> None:
        super().__init__()
        self.verbose = verbose

    def format(self, record: logging.LogRecord) -> str:
        parts = [SYSLOG_IDENTIFIER]
        if self.verbose:
            parts.append(record.name)
        message = super().format(record)
        iso = shown(getattr(record, "iso", None) or "")
        if iso and not message.startswith(f"{iso}:"):  # the service's messages already name their ISO
            parts.append(iso)
        if record.levelno >= logging.WARNING:
            parts.append(record.levelname.lower())
        elif record.levelno < logging.INFO:
            parts.append("debug")
        parts.append(message)
        return ": ".join(parts)


def setup_logging(verbose: bool = False) -> None:
    """Configure logging once for the process: journal fields under systemd, plain stderr lines otherwise.
    isodrop's own loggers log INFO (DEBUG when verbose); other libraries only WARNING and up."""
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_isodrop", False):  # ours from an earlier call (a reload): replace it
            root.removeHandler(old)
            old.close()
    handler: logging.Handler
    if stderr_is_journal() and os.path.exists(JOURNAL_SOCKET):
        handler = JournalHandler(JOURNAL_SOCKET)
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(PlainFormatter(verbose))
    handler._isodrop = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("isodrop").setLevel(logging.DEBUG if verbose else logging.INFO)
