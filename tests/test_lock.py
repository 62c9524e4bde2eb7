"""One writer per state folder: `isodrop scan` while `isodrop serve` runs is refused, naming the service,
with exit status 4 and nothing changed; once the service is gone (stopped or killed) scan works again.
Real processes: `isodrop serve` and `isodrop scan` as subprocesses (tests/servicekit.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from isodrop.cli import EXIT_LOCKED
from tests.servicekit import REPO, ServiceRun, build_debian_live

pytestmark = pytest.mark.service


def test_scan_while_serve_runs_is_refused_naming_the_service(tmp_path: Path) -> None:
    run = ServiceRun(tmp_path)
    build_debian_live(run.drop / "a.iso")
    run.start()
    try:
        run.wait_for(lambda: "LABEL a\n" in run.menu(), 60, "a.iso in the menu")
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
    assert "LABEL b\n" in run.menu()


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
