"""When is a copy complete? The Settler on real files, with its clocks in the test's hands.

The writer is gone (the file is closed) in these tests, so what decides is the rule itself: a seen
close plus settle time, or quiet time without one. A writer still holding the file open is covered
by tests/service/test_service.py (a slow copy with the file kept open).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from isodrop import dropfolder
from isodrop.watch import Settler
from isodrop.writers import writers
from tests.harness.servicekit import ServiceRun


class Clocks:
    def __init__(self) -> None:
        self.now = 1000.0
        self.wall = time.time()

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.wall += seconds


def list_drop(drop_dir: Path) -> dict[str, os.stat_result]:
    """ISOs under the drop folder by relative name (isodrop.dropfolder.list_drop's policies)."""
    return dropfolder.list_drop(drop_dir).isos


def open_for_writing(path: Path) -> bool:
    """True when some process we can see has `path` open for writing (still being copied)."""
    return writers(path)[0]


def settler(clocks: Clocks, settle: float = 1.0, quiet: float = 10.0, hidden: bool = True) -> Settler:
    """By default a writer could be hidden (Samba, another user): the timed rules decide."""
    return Settler(
        settle,
        quiet,
        clock=lambda: clocks.now,
        wall_clock=lambda: clocks.wall,
        see_writers=lambda path: (writers(path)[0], hidden or writers(path)[1]),
    )


def stable(s: Settler, drop: Path) -> dict[str, bool]:
    return {d.name: d.stable for d in s.observe(drop, list_drop(drop))}


def write(path: Path, data: bytes, mtime: float) -> None:
    with open(path, "ab") as handle:
        handle.write(data)
    os.utime(path, (mtime, mtime))


def test_a_pause_in_a_copy_without_close_is_not_taken_for_the_end(tmp_path: Path) -> None:
    clocks, iso = Clocks(), tmp_path / "a.iso"
    s = settler(clocks)
    write(iso, b"x" * 1000, clocks.wall)
    assert stable(s, tmp_path) == {"a.iso": False}
    clocks.advance(5)  # far longer than settle_seconds, but the writer never closed it
    assert stable(s, tmp_path) == {"a.iso": False}
    assert s.pending() == 1
    clocks.advance(5)  # quiet_seconds reached: a writer we cannot see must be done by now
    assert stable(s, tmp_path) == {"a.iso": True}
    assert s.pending() == 0


def test_close_then_settle_time_makes_it_complete(tmp_path: Path) -> None:
    clocks, iso = Clocks(), tmp_path / "a.iso"
    s = settler(clocks)
    write(iso, b"x" * 1000, clocks.wall)
    assert stable(s, tmp_path) == {"a.iso": False}
    s.closed(iso, "a.iso")
    assert stable(s, tmp_path) == {"a.iso": False}, "settle time not over yet"
    clocks.advance(1.1)
    assert stable(s, tmp_path) == {"a.iso": True}


def test_writing_again_after_a_close_needs_a_new_close(tmp_path: Path) -> None:
    clocks, iso = Clocks(), tmp_path / "a.iso"
    s = settler(clocks)
    write(iso, b"x" * 1000, clocks.wall)
    s.closed(iso, "a.iso")
    stable(s, tmp_path)
    write(iso, b"y" * 1000, clocks.wall + 0.5)  # reopened and appended to
    clocks.advance(2)
    assert stable(s, tmp_path) == {"a.iso": False}
    clocks.advance(2)
    assert stable(s, tmp_path) == {"a.iso": False}
    s.closed(iso, "a.iso")
    clocks.advance(1.1)
    assert stable(s, tmp_path) == {"a.iso": True}


def test_an_iso_last_written_long_ago_is_complete_at_once(tmp_path: Path) -> None:
    """A restart: ISOs that were copied while isodrop was down are not made to wait."""
    clocks = Clocks()
    write(tmp_path / "old.iso", b"x" * 100, clocks.wall - 60)
    write(tmp_path / "new.iso", b"x" * 100, clocks.wall)
    assert stable(settler(clocks), tmp_path) == {"old.iso": True, "new.iso": False}


def test_known_versions_are_stable_and_vanished_names_are_forgotten(tmp_path: Path) -> None:
    clocks, iso = Clocks(), tmp_path / "a.iso"
    s = settler(clocks)
    write(iso, b"x" * 10, clocks.wall)
    st = iso.stat()
    assert [d.stable for d in s.observe(tmp_path, list_drop(tmp_path), frozenset({("a.iso", 10, st.st_mtime_ns)}))]
    s.closed(iso, "a.iso")
    iso.unlink()
    assert stable(s, tmp_path) == {}
    write(iso, b"x" * 10, clocks.wall)  # same name, same size again: the old close must not count
    os.utime(iso, ns=(st.st_mtime_ns, st.st_mtime_ns))
    clocks.advance(1.1)
    assert stable(s, tmp_path) == {"a.iso": False}


def test_listing_skips_hidden_files_and_folders(tmp_path: Path) -> None:
    for name in ("a.iso", "B.ISO", ".partial.iso", "notes.txt", "sub/c.iso", ".incoming/d.iso"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    assert sorted(list_drop(tmp_path)) == ["B.ISO", "a.iso", "sub/c.iso"]


def test_a_close_with_no_writer_that_could_hide_is_taken_at_once(tmp_path: Path) -> None:
    """A local cp as the service's user: no settle wait; the clocks do not move at all."""
    clocks, iso = Clocks(), tmp_path / "a.iso"
    s = settler(clocks, hidden=False)
    write(iso, b"x" * 1000, clocks.wall)
    assert stable(s, tmp_path) == {"a.iso": False}, "no close seen yet"
    s.closed(iso, "a.iso")
    assert stable(s, tmp_path) == {"a.iso": True}
    write(iso, b"y", clocks.wall)  # written again after the close: needs a new close
    assert stable(s, tmp_path) == {"a.iso": False}


def test_a_close_while_another_writer_holds_the_file_is_not_taken(tmp_path: Path) -> None:
    import subprocess
    import sys

    clocks, iso = Clocks(), tmp_path / "a.iso"
    s = settler(clocks, hidden=False)
    write(iso, b"x" * 1000, clocks.wall)
    writer = subprocess.Popen([sys.executable, "-c", f"f = open({str(iso)!r}, 'ab'); import time; time.sleep(30)"])
    try:
        ServiceRun.wait_until(lambda: open_for_writing(iso), 10, "the other writer")
        s.closed(iso, "a.iso")  # one writer closed it, the other still has it open
        clocks.advance(100)
        assert stable(s, tmp_path) == {"a.iso": False}
    finally:
        writer.kill()
        writer.wait()
    assert stable(s, tmp_path) == {"a.iso": True}


class Calls:
    """Counts a callback's calls, and waits for the next one."""

    def __init__(self) -> None:
        import threading

        self.count = 0
        self._condition = threading.Condition()

    def __call__(self) -> None:
        with self._condition:
            self.count += 1
            self._condition.notify_all()

    def after(self, action, timeout: float = 5) -> None:
        """Run `action` and wait for at least one call because of it."""
        with self._condition:
            seen = self.count
        action()
        with self._condition:
            assert self._condition.wait_for(lambda: self.count > seen, timeout), f"no call after {action}"

    def none_after(self, action, quiet: float = 0.5) -> None:
        with self._condition:
            seen = self.count
        action()
        time.sleep(quiet)
        with self._condition:
            assert self.count == seen, f"called after {action}"


def isolated_from_other_mounts(body: str, tmp_path: Path) -> None:
    """Run `body(tmp_path)` of this module in a private mount namespace where root can make one: a mount
    anywhere on the machine changes the mount table, which wakes the sentinel (as it should), so other
    work on the machine would count as a call; elsewhere run it here."""

    from tests.harness.faultkit import need_root_namespaces

    try:
        need_root_namespaces()
    except pytest.skip.Exception:
        globals()[body](tmp_path)
        return
    code = (
        f"import sys; from pathlib import Path; from tests.unit import test_watch; test_watch.{body}(Path(sys.argv[1]))"
    )
    done = in_private_mount_namespace(code, tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr


def in_private_mount_namespace(code: str, path: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    """`python -c code path` in a mount namespace of its own (root only), with this checkout importable."""
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", sys.executable, "-c", code, str(path)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        timeout=timeout,
        check=False,
    )


def test_the_path_sentinel_follows_the_names_on_the_way_to_the_drop_folder_only(tmp_path: Path) -> None:
    """Created, renamed away, replaced, an ancestor renamed: each calls; a neighbour's changes do not."""
    isolated_from_other_mounts("names_on_the_way", tmp_path)


def names_on_the_way(tmp_path: Path) -> None:
    from isodrop.watch import PathSentinel

    drop = tmp_path / "srv" / "drop"
    calls = Calls()
    sentinel = PathSentinel(drop, calls)
    sentinel.start()
    try:
        calls.none_after(lambda: (tmp_path / "other").mkdir())  # tmp_path is watched for "srv" only
        calls.after(lambda: (tmp_path / "srv").mkdir())  # missing folders on the way: watched once there
        calls.none_after(lambda: (tmp_path / "srv" / "tftp").mkdir())
        calls.after(drop.mkdir)
        calls.none_after(lambda: (drop / "a.iso").write_bytes(b"x"))  # inside: the watchdog watches' business
        calls.none_after(lambda: (tmp_path / "busy").mkdir())  # above the parent only renames and removals count
        calls.after(lambda: drop.rename(tmp_path / "srv" / "away"))
        calls.after(drop.mkdir)  # a new folder at the path
        calls.after(lambda: drop.rmdir())
        calls.after(lambda: (tmp_path / "srv" / "away").rename(drop))  # back
        calls.after(lambda: (tmp_path / "srv").rename(tmp_path / "srv2"))  # a folder above renamed
        calls.after(lambda: (tmp_path / "srv2").rename(tmp_path / "srv"))
        calls.after(lambda: (drop / "a.iso").unlink() or drop.rmdir())
    finally:
        sentinel.stop()


def test_the_path_sentinel_follows_a_symlink_on_the_way(tmp_path: Path) -> None:
    isolated_from_other_mounts("symlink_on_the_way", tmp_path)


def symlink_on_the_way(tmp_path: Path) -> None:
    from isodrop.watch import PathSentinel

    for real in ("one", "two"):
        (tmp_path / real / "drop").mkdir(parents=True)
    os.symlink("one", tmp_path / "srv")
    calls = Calls()
    sentinel = PathSentinel(tmp_path / "srv" / "drop", calls)
    sentinel.start()
    try:
        calls.none_after(lambda: (tmp_path / "other").mkdir())
        os.symlink("two", tmp_path / "srv.new")
        calls.after(lambda: os.rename(tmp_path / "srv.new", tmp_path / "srv"))  # ln -sfn two srv
        calls.after(lambda: (tmp_path / "two" / "drop").rename(tmp_path / "two" / "old"))  # through the new link
    finally:
        sentinel.stop()


def test_the_path_sentinel_sees_a_mount_on_the_drop_folder(tmp_path: Path) -> None:
    """In a private mount namespace (root only): mounting on the drop folder and unmounting it each call."""

    from tests.harness.faultkit import need_root_namespaces

    need_root_namespaces()
    drop = tmp_path / "drop"
    drop.mkdir()
    code = (
        "import subprocess, sys, threading; from pathlib import Path; from isodrop.watch import PathSentinel\n"
        "seen = threading.Semaphore(0); s = PathSentinel(Path(sys.argv[1]), seen.release); s.start()\n"
        "for step in ('mount -t tmpfs isodrop-test', 'umount'):\n"
        "    subprocess.run(f'{step} {sys.argv[1]}', shell=True, check=True)\n"
        "    print(step.split()[0], seen.acquire(timeout=5), flush=True)\n"
        "s.stop()\n"
    )
    done = in_private_mount_namespace(code, drop, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["mount", "True", "umount", "True"], done.stdout + done.stderr


def test_followed_files_call_back_on_writes_and_rotation_only(tmp_path: Path) -> None:
    """DropWatcher.follow: a file outside the drop folder (a log) is followed through its folder's watch:
    an append, logrotate's rename and a new file call back, another name in the folder and reading the
    file do not; a folder that is not there is no error, and is watched once it exists and follow() is
    called again (the service does after every pass)."""
    import threading

    from isodrop.watch import DropWatcher

    drop, logs, later = tmp_path / "drop", tmp_path / "logs", tmp_path / "later"
    drop.mkdir()
    logs.mkdir()
    log_file, other = logs / "dnsmasq.log", logs / "other.log"
    log_file.write_text("one\n")
    reasons: list[str] = []
    called = threading.Event()

    def changed(reason: str) -> None:
        reasons.append(reason)
        called.set()

    def settled() -> list[str]:
        """The reasons since the last look, once the events stopped coming."""
        while called.wait(0.5):
            called.clear()
        seen, reasons[:] = list(reasons), []
        return seen

    watcher = DropWatcher(drop, lambda _reason: None, Settler(1.0, 10.0))
    watcher.start()
    try:
        watcher.follow({log_file: changed, later / "late.log": changed})
        with other.open("a") as handle:
            handle.write("not ours\n")
        assert log_file.read_text() == "one\n"
        assert settled() == [], "another name in the folder and our own read wake no one"
        with log_file.open("a") as handle:
            handle.write("two\n")
        assert any(r.startswith("modified") and r.endswith("dnsmasq.log") for r in settled())
        log_file.rename(logs / "dnsmasq.log.1")  # logrotate: rename, then create
        assert any(r.startswith("moved") for r in settled()), "renamed away"
        log_file.write_text("new\n")
        assert any(r.startswith("created") for r in settled())
        later.mkdir()
        (later / "late.log").write_text("x\n")
        assert settled() == [], "its folder did not exist when followed"
        watcher.follow({log_file: changed, later / "late.log": changed})
        (later / "late.log").write_text("y\n")
        assert any(r.endswith("late.log") for r in settled())
        watcher.follow({})
        log_file.write_text("z\n")
        assert settled() == [], "no longer followed"
    finally:
        watcher.stop()
