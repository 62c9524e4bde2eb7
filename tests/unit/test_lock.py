"""One writer per state folder: `isodrop scan` while `isodrop serve` runs is refused, naming the service,
with exit status 4 and nothing changed; once the service is gone (stopped or killed) scan works again.
Real processes: `isodrop serve` and `isodrop scan` as subprocesses (tests/harness/servicekit.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from isodrop.cli import EXIT_LOCKED
from tests.harness.servicekit import REPO, ServiceRun, build_debian_live

pytestmark = pytest.mark.service


def test_scan_while_serve_runs_is_refused_naming_the_service(tmp_path: Path) -> None:
    run = ServiceRun(tmp_path)
    build_debian_live(run.drop / "a.iso")
    run.start()
    try:
        run.wait_for(lambda: "LABEL iso-a\n" in run.menu(), 60, "a.iso in the menu")
        assert run.process is not None
        lock_file = run.state / "lock"
        assert lock_file.read_text().split() == [str(run.process.pid), "isodrop", "serve"]
        done = run.command("scan")
        assert done.returncode == EXIT_LOCKED == 4, done.stderr
        assert f"isodrop serve (pid {run.process.pid}) is running on this state folder ({run.state})" in done.stderr
        assert "Traceback" not in done.stderr
        assert run.process.poll() is None, "the service stopped"
        assert lock_file.read_text().split()[0] == str(run.process.pid), "the refused scan rewrote the lock file"
        second = ServiceRun(tmp_path)  # a second serve on the same folders is refused the same way
        second.write_config()
        done = second.command("serve")
        assert done.returncode == 4 and f"isodrop serve (pid {run.process.pid})" in done.stderr
    finally:
        assert run.stop() == 0
    build_debian_live(run.drop / "b.iso")
    os.utime(run.drop / "b.iso", (time.time() - 60, time.time() - 60))
    done = run.command("scan")
    assert done.returncode == 0, done.stderr
    assert "LABEL iso-b\n" in run.menu()


def test_the_lock_moves_with_state_dir_on_reload_and_a_held_one_keeps_the_old_config(tmp_path: Path) -> None:
    """SIGHUP with a new state_dir: the service locks the new folder and frees the old one; when the new
    folder is held by another isodrop, the reload is refused and the old configuration stays."""
    import signal

    run = ServiceRun(tmp_path)
    build_debian_live(run.drop / "a.iso")
    run.start()
    try:
        run.wait_for(lambda: "LABEL iso-a\n" in run.menu(), 60, "a.iso in the menu")
        old_state, new_state = run.state, tmp_path / "run2"
        run.settings["state_dir"] = str(new_state)
        run.write_config()
        run.process.send_signal(signal.SIGHUP)
        run.wait_until(lambda: (new_state / "lock").exists() and (new_state / "status.json").exists(), 30, "new state")
        probe = ServiceRun(tmp_path, state_dir=str(new_state))
        probe.config = tmp_path / "probe.toml"
        probe.write_config()
        assert probe.command("scan").returncode == EXIT_LOCKED, "the new state folder is not locked"
        old = ServiceRun(tmp_path, state_dir=str(old_state))
        old.config = tmp_path / "old.toml"
        old.write_config()
        freed = old.command("scan")
        assert freed.returncode == 0, f"the old state folder is still locked: {freed.stderr}"
        # a state folder held by another process: that reload is refused, the service keeps running
        holder = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys, fcntl, time; f = open(sys.argv[1], 'a'); "
                "fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)",
                str(old_state / "lock"),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout.readline().strip() == "held"
            run.settings["state_dir"] = str(old_state)
            run.write_config()
            run.process.send_signal(signal.SIGHUP)
            run.wait_until(lambda: "configuration not reloaded" in run.log_text(), 30, "the refused reload")
            assert run.process.poll() is None
            assert probe.command("scan").returncode == EXIT_LOCKED, "the service let go of its state folder"
        finally:
            holder.kill()
            holder.wait()
    finally:
        assert run.stop() == 0


def test_a_killed_service_leaves_no_stale_lock(tmp_path: Path) -> None:
    run = ServiceRun(tmp_path)
    run.start()
    run.kill()  # SIGKILL: no clean-up code runs, the kernel drops the flock
    assert (run.state / "lock").exists()
    done = run.command("scan")
    assert done.returncode == 0, done.stderr
    assert (run.state / "lock").read_text().split()[1:] == ["isodrop", "scan"]


def test_help_documents_the_lock_exit_status() -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, "-m", "isodrop", "--help"], capture_output=True, text=True, env=env, check=False
    )
    assert "  4  serve, scan: another isodrop process" in done.stdout
    assert "/run/isodrop/lock" in done.stdout


def test_an_unusable_state_folder_is_a_clear_error(tmp_path: Path) -> None:
    run = ServiceRun(tmp_path, state_dir=str(tmp_path / "file" / "run"))
    (tmp_path / "file").write_text("a file where the state folder's parent should be\n")
    run.write_config()
    done = run.command("scan")
    assert done.returncode == 2, done.stderr
    assert "cannot open the state folder's lock" in done.stderr and "Traceback" not in done.stderr
