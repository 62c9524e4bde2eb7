"""isodrop.journal: native journal records and plain terminal lines.

The mock: journald does not run here, so a real unix datagram socket bound in the test's temp dir stands in
for /run/systemd/journal/socket; the test parses each datagram with the native protocol's rules. The VM test
(tests/system/test_deb_vm.py) checks the same fields with the real journald and `journalctl ISODROP_ISO=...`.
"""

from __future__ import annotations

import array
import logging
import os
import socket
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from isodrop import journal

ROOT = Path(__file__).resolve().parents[2]


def parse_native(datagram: bytes) -> dict[str, str]:
    """Parse journald's native protocol (KEY=value lines, or KEY\\n + u64 LE length + data + \\n)."""
    fields: dict[str, str] = {}
    pos = 0
    while pos < len(datagram):
        newline = datagram.index(b"\n", pos)
        line = datagram[pos:newline]
        if b"=" in line:
            key, _, value = line.partition(b"=")
            fields[key.decode()] = value.decode()
            pos = newline + 1
        else:
            (size,) = struct.unpack("<Q", datagram[newline + 1 : newline + 9])
            start = newline + 9
            fields[line.decode()] = datagram[start : start + size].decode()
            assert datagram[start + size : start + size + 1] == b"\n", "binary field not closed by a newline"
            pos = start + size + 1
    return fields


@pytest.fixture
def fake_journald(tmp_path: Path):
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = tmp_path / "journal.socket"
    server.bind(str(path))
    server.settimeout(5)
    yield server, str(path)
    server.close()


def receive(server: socket.socket) -> dict[str, str]:
    """One record; a record sent as a memfd (too big for a datagram) is read from the passed descriptor."""
    fds = array.array("i")
    data, ancdata, _flags, _addr = server.recvmsg(1 << 20, socket.CMSG_SPACE(fds.itemsize))
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - (len(payload) % fds.itemsize)])
    if fds:
        with os.fdopen(fds[0], "rb") as memfd:
            memfd.seek(0)
            data = memfd.read()
    return parse_native(data)


def make_logger(handler: logging.Handler, name: str) -> logging.Logger:
    logger = logging.getLogger(name)
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger


def test_record_fields_reach_the_socket(fake_journald):
    server, path = fake_journald
    handler = journal.JournalHandler(path)
    logger = make_logger(handler, "isodrop.test.fields")
    logger.warning("served as %s", "Ubuntu 24.04", extra={"iso": "ubuntu.iso", "system": "casper", "outcome": "served"})
    fields = receive(server)
    assert fields["MESSAGE"] == "served as Ubuntu 24.04"
    assert fields["PRIORITY"] == "4"
    assert fields["SYSLOG_IDENTIFIER"] == "isodrop"
    assert fields["ISODROP_ISO"] == "ubuntu.iso"
    assert fields["ISODROP_SYSTEM"] == "casper"
    assert fields["ISODROP_OUTCOME"] == "served"
    assert fields["CODE_FILE"] == __file__
    assert fields["CODE_FUNC"] == "test_record_fields_reach_the_socket"
    assert int(fields["CODE_LINE"]) > 0
    handler.close()


def test_priorities_and_absent_fields(fake_journald):
    server, path = fake_journald
    handler = journal.JournalHandler(path)
    logger = make_logger(handler, "isodrop.test.priorities")
    expected = {logger.debug: "7", logger.info: "6", logger.error: "3", logger.critical: "2"}
    for method, priority in expected.items():
        method("plain", extra={"iso": "only-iso.iso"})
        fields = receive(server)
        assert fields["PRIORITY"] == priority
        assert fields["ISODROP_ISO"] == "only-iso.iso"
        assert "ISODROP_SYSTEM" not in fields and "ISODROP_OUTCOME" not in fields
    handler.close()


def test_multiline_message_and_traceback_arrive_whole(fake_journald):
    server, path = fake_journald
    handler = journal.JournalHandler(path)
    logger = make_logger(handler, "isodrop.test.traceback")
    try:
        raise ValueError("bad ISO header")
    except ValueError:
        logger.exception("extraction failed", extra={"iso": "broken.iso", "outcome": "failed"})
    fields = receive(server)
    assert fields["MESSAGE"].startswith("extraction failed\nTraceback")
    assert "ValueError: bad ISO header" in fields["MESSAGE"]
    assert fields["ISODROP_OUTCOME"] == "failed"
    handler.close()


# ISO names as a hostile drop folder can spell them: a colour escape, a forged log line, a bidi override
HOSTILE_NAME = "red\x1b[31m.iso\nisodrop: error: forged.iso: failed \u202egpj.iso\u2066"
HOSTILE_SHOWN = "red\\x1b[31m.iso\\nisodrop: error: forged.iso: failed \\u202egpj.iso\\u2066"


def assert_no_raw_controls(text: str) -> None:
    for raw in ("\x1b", "\u202e", "\u2066", "\nisodrop: error: forged"):
        assert raw not in text, f"{raw!r} reached the output raw: {text!r}"


def test_outside_text_in_messages_and_fields_is_escaped(fake_journald):
    """The message (its arguments), the ISODROP_* fields and an exception's text all arrive as visible
    escapes; a traceback keeps its own lines."""
    server, path = fake_journald
    handler = journal.JournalHandler(path)
    logger = make_logger(handler, "isodrop.test.hostile")
    try:
        raise OSError(f"cannot read {HOSTILE_NAME}")
    except OSError:
        logger.exception("%s: failed", HOSTILE_NAME, extra={"iso": HOSTILE_NAME, "system": "x\x1by"})
    fields = receive(server)
    first, *traceback = fields["MESSAGE"].split("\n")
    assert first == f"{HOSTILE_SHOWN}: failed"
    assert traceback[0] == "Traceback (most recent call last):"
    assert traceback[-1] == f"OSError: cannot read {HOSTILE_SHOWN}"
    assert fields["ISODROP_ISO"] == HOSTILE_SHOWN and fields["ISODROP_SYSTEM"] == "x\\x1by"
    for value in fields.values():
        assert_no_raw_controls(value)
    handler.close()


def test_outside_text_in_terminal_lines_is_escaped(capfd):
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(journal.PlainFormatter())
    logger = make_logger(handler, "isodrop.test.hostile_plain")
    logger.warning("queued for extraction", extra={"iso": HOSTILE_NAME})
    logger.info("%s: served as %s", "ok.iso", "Ubuntu\u202e 24.04")
    err = capfd.readouterr().err
    assert err.splitlines() == [
        f"isodrop: {HOSTILE_SHOWN}: warning: queued for extraction",
        "isodrop: ok.iso: served as Ubuntu\\u202e 24.04",
    ]
    assert_no_raw_controls(err)


def test_record_too_big_for_a_datagram_goes_as_memfd(fake_journald):
    server, path = fake_journald
    server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    handler = journal.JournalHandler(path)
    logger = make_logger(handler, "isodrop.test.big")
    big = "x" * (4 << 20)  # beyond any unix datagram limit: EMSGSIZE
    logger.info(big, extra={"iso": "big.iso"})
    fields = receive(server)
    assert fields["MESSAGE"] == big
    assert fields["ISODROP_ISO"] == "big.iso"
    handler.close()


def test_unreachable_journal_falls_back_to_stderr(tmp_path, capfd):
    handler = journal.JournalHandler(str(tmp_path / "no-such-socket"))
    logger = make_logger(handler, "isodrop.test.fallback")
    logger.error("still visible", extra={"iso": "x.iso"})
    assert "<3>still visible" in capfd.readouterr().err
    handler.close()


def run_child(code: str, stderr_path: Path, journal_stream: bool, socket_path: str) -> str:
    """Run setup_logging in a real child process whose stderr is a file, with JOURNAL_STREAM naming that file
    (as systemd does for a service's stderr) or not."""
    env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
    env["PYTHONPATH"] = str(ROOT)
    with open(stderr_path, "wb") as stderr:
        if journal_stream:
            stat = os.fstat(stderr.fileno())
            env["JOURNAL_STREAM"] = f"{stat.st_dev}:{stat.st_ino}"
        program = f"import isodrop.journal as j\nj.JOURNAL_SOCKET = {socket_path!r}\n" + textwrap.dedent(code)
        subprocess.run([sys.executable, "-c", program], stderr=stderr, env=env, check=True, timeout=30)
    return stderr_path.read_text()


CHILD_LOGS = """
    import logging
    j.setup_logging()
    j.setup_logging()  # a second call (reload) must not double the output
    log = logging.getLogger("isodrop.service")
    log.info("served as Ubuntu 24.04", extra={"iso": "ubuntu.iso", "system": "casper", "outcome": "served"})
    log.warning("no md5sum.txt")
    log.debug("hidden unless verbose")
    logging.getLogger("watchdog").info("library chatter is hidden")
"""


def test_under_systemd_records_go_to_the_journal(fake_journald, tmp_path):
    server, path = fake_journald
    stderr = run_child(CHILD_LOGS, tmp_path / "stderr", journal_stream=True, socket_path=path)
    assert stderr == "", "under systemd nothing should be written to stderr"
    first, second = receive(server), receive(server)
    assert first["MESSAGE"] == "served as Ubuntu 24.04" and first["ISODROP_ISO"] == "ubuntu.iso"
    assert first["PRIORITY"] == "6" and first["LOGGER"] == "isodrop.service"
    assert second["MESSAGE"] == "no md5sum.txt" and second["PRIORITY"] == "4"
    server.settimeout(0.3)
    with pytest.raises(TimeoutError):
        server.recv(65536)


def test_in_a_terminal_plain_lines(fake_journald, tmp_path):
    server, path = fake_journald
    stderr = run_child(CHILD_LOGS, tmp_path / "stderr", journal_stream=False, socket_path=path)
    assert stderr.splitlines() == [
        "isodrop: ubuntu.iso: served as Ubuntu 24.04",
        "isodrop: warning: no md5sum.txt",
    ]
    server.settimeout(0.3)
    with pytest.raises(TimeoutError):
        server.recv(65536)


def test_inherited_journal_stream_with_other_stderr_is_plain(fake_journald, tmp_path):
    """A child of a service keeps JOURNAL_STREAM but its stderr is elsewhere: it must print lines."""
    _server, path = fake_journald
    code = 'import os\nos.environ["JOURNAL_STREAM"] = "1:2"\n' + textwrap.dedent(CHILD_LOGS)
    stderr = run_child(code, tmp_path / "stderr", journal_stream=False, socket_path=path)
    assert "isodrop: ubuntu.iso: served as Ubuntu 24.04" in stderr


def test_verbose_shows_debug_with_logger_name(tmp_path):
    code = """
        import logging
        j.setup_logging(verbose=True)
        logging.getLogger("isodrop.watch").debug("event", extra={"iso": "a.iso"})
    """
    stderr = run_child(code, tmp_path / "stderr", journal_stream=False, socket_path=str(tmp_path / "none"))
    assert stderr.strip() == "isodrop: isodrop.watch: a.iso: debug: event"
