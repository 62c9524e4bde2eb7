"""Who may still be writing a file: our own processes seen in /proc, and file servers whose descriptors
are hidden from the service (isodrop.writers), on real processes."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from isodrop.writers import _FILE_SERVERS, _comm, writers, writers_of
from tests.harness.servicekit import REPO, ServiceRun

PROBE = "import sys; from pathlib import Path; from isodrop.writers import writers; print(writers(Path(sys.argv[1])))"


def open_for_writing(path: Path) -> bool:
    """True when some process we can see has `path` open for writing (still being copied)."""
    return writers(path)[0]


@contextlib.contextmanager
def running(code: str) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen([sys.executable, "-c", code])
    try:
        yield process
    finally:
        process.kill()
        process.wait()


def held_open(path: Path) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]:
    """Another process of ours holding `path` open for writing."""
    return running(f"f = open({str(path)!r}, 'ab'); import time; time.sleep(30)")


def _uid(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("Uid:"))


def seen_by_the_sandboxed_service(iso: Path, other: str) -> str:
    """`writers(iso)` as the service sees it (without CAP_SYS_PTRACE: another user's /proc/PID/fd is
    closed to it) while `other` runs as the user nobody."""
    iso.write_bytes(b"x")
    os.chmod(iso, 0o666)
    with running(f"import os, time; {other}; os.setuid(65534); time.sleep(30)") as process:
        ServiceRun.wait_until(lambda: _uid(process.pid) == 65534, 10, "the other process to become nobody")
        done = subprocess.run(
            ["capsh", "--drop=cap_sys_ptrace", "--", "-c", f"{sys.executable} -c {PROBE!r} {iso}"],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            check=False,
        )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_open_for_writing_sees_our_own_writer_in_another_process(tmp_path: Path) -> None:
    iso = tmp_path / "a.iso"
    iso.write_bytes(b"")
    with held_open(iso):
        ServiceRun.wait_until(lambda: open_for_writing(iso), 10, "the writer")
        assert open_for_writing(iso)
    assert not open_for_writing(iso)


def test_a_file_server_we_cannot_see_makes_the_close_wait(tmp_path: Path) -> None:
    """A Samba child (another user) whose descriptors are hidden from us counts when it may write the file."""
    smbd = "open('/proc/self/comm', 'w').write('smbd')"
    assert seen_by_the_sandboxed_service(tmp_path / "a.iso", smbd) == "(False, True)"


def test_a_hidden_process_that_is_no_file_server_does_not_make_the_close_wait(tmp_path: Path) -> None:
    """A root shell's cp has more capabilities than the service and is hidden from it too; if it was the
    writer, the close event was its own."""
    servers = [pid for pid in os.listdir("/proc") if pid.isdigit() and _comm(pid).startswith(_FILE_SERVERS)]
    if servers:
        pytest.skip(f"a file server runs here ({_comm(servers[0])}, pid {servers[0]}): its writers count as hidden")
    assert seen_by_the_sandboxed_service(tmp_path / "a.iso", "pass") == "(False, False)"


def test_one_walk_answers_for_many_files_and_a_missing_file_has_no_writer(tmp_path: Path) -> None:
    held, free, missing = tmp_path / "held.iso", tmp_path / "free.iso", tmp_path / "gone.iso"
    held.write_bytes(b"")
    free.write_bytes(b"")
    with held_open(held):
        ServiceRun.wait_until(lambda: open_for_writing(held), 10, "the writer")
        seen = writers_of([held, free, missing])
    assert seen[held][0] and not seen[free][0]
    assert seen[missing] == (False, False)
