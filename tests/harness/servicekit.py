"""Run `isodrop serve` as a real subprocess on temporary folders, and wait for what it does."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from isodrop.config import Config
from isodrop.reconciler import Reconciler
from isodrop.report import PassReport
from isodrop.site import Site
from tests.harness.isofactory import build_iso

REPO = Path(__file__).resolve().parents[2]


def debian_live_files(marker: str = "one", kernel_size: int = 300_000) -> dict[str, bytes | str]:
    """A Debian-live-like tree: what isodrop needs to recognise and serve it."""
    return {
        ".disk/info": f'Debian GNU/Linux 12 "Bookworm" - Official amd64 LIVE {marker}',
        "live/vmlinuz": (f"kernel-{marker}-".encode() * (kernel_size // 10 + 1))[:kernel_size],
        "live/initrd.img": f"initrd-{marker}".encode() * 1000,
        "live/filesystem.squashfs": f"squashfs-{marker}".encode() * 5000,
        "isolinux/isolinux.cfg": "default live\nlabel live\n  kernel /live/vmlinuz\n",
    }


def build_debian_live(path: Path, marker: str = "one", kernel_size: int = 300_000) -> Path:
    return build_iso(path, debian_live_files(marker, kernel_size), volume_id=f"d-live 12 {marker}")


def context_switches(pid: int) -> dict[str, tuple[str, int]]:
    """Per thread of process `pid` (by thread id): its name and its voluntary + involuntary context
    switches so far. A thread that blocks without a timeout adds none while nothing happens."""
    threads = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            lines = (task / "status").read_text().splitlines()
        except OSError:
            continue  # ended meanwhile
        fields = dict(line.split(":", 1) for line in lines if ":" in line)
        switches = sum(int(fields[key]) for key in ("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"))
        threads[task.name] = (fields["Name"].strip(), switches)
    return threads


def read_only_view(folder: Path, argv: list[str]) -> list[str]:
    """`argv` in a private mount namespace where `folder` is a read-only bind mount of itself: every
    write, create, chmod or removal there fails with EROFS, while others still change it from outside
    (the same inodes, so inotify still sees them). Needs root; the pid stays the command's (exec)."""
    script = 'mount --bind -o ro "$0" "$0" && exec "$@"'
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, str(folder), *argv]


class ServiceRun:
    """One `isodrop serve` process with its own drop folder, TFTP root, exports and state."""

    def __init__(self, root: Path, **settings: object) -> None:
        self.root = root
        self.drop = Path(str(settings.get("drop_dir", root / "drop")))  # another folder: one shared with others
        self.tftp = root / "tftp"
        self.trees = self.tftp / "isodrop"
        self.exports = root / "exports" / "isodrop.exports"
        self.state = root / "run"
        self.log = root / "serve.log"
        self.config = root / "isodrop.toml"
        self.settings: dict[str, object] = {
            "drop_dir": str(self.drop),
            "tftp_root": str(self.tftp),
            "state_dir": str(self.state),
            "exports_file": str(self.exports),
            "exports_reload_command": ["true"],
            "dnsmasq_pid_file": "",
            "server_address": "192.0.2.10",
            "settle_seconds": 1.0,
            "quiet_seconds": 3.0,  # ISOs copied in before the service starts; the close path is the usual one
            "rescan_seconds": 30.0,
        } | settings
        self.drop.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen[bytes] | None = None
        self.extra_env: dict[str, str] = {}  # e.g. a NOTIFY_SOCKET the test reads
        self.read_only_drop = False  # serve sees the drop folder as a read-only mount (a NAS share mounted ro)

    def write_config(self) -> None:
        lines = []
        for key, value in self.settings.items():
            lines.append(f"{key} = {json.dumps(value)}")
        self.config.write_text("\n".join(lines) + "\n")

    def command(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "isodrop", *args, "--config", str(self.config)],
            capture_output=True,
            text=True,
            env=self.env(),
            timeout=120,
            check=False,
        )

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(REPO)
        for name in ("NOTIFY_SOCKET", "JOURNAL_STREAM", "WATCHDOG_USEC", "WATCHDOG_PID"):
            env.pop(name, None)  # not started by systemd: no sd_notify, no watchdog pings
        return env | self.extra_env

    def start(self) -> None:
        self.write_config()
        argv = [sys.executable, "-m", "isodrop", "serve", "--config", str(self.config)]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                read_only_view(self.drop, argv) if self.read_only_drop else argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env(),
            )
        self.wait_for(lambda: (self.state / "status.json").exists(), 20, "the first status file")

    def stop(self) -> int:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
            raise AssertionError("isodrop serve did not stop within 30 s of SIGTERM") from None

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)

    def status(self) -> dict:
        return json.loads((self.state / "status.json").read_text())

    def entry(self, iso: str) -> dict | None:
        try:
            return next((e for e in self.status()["entries"] if e["iso"] == iso), None)
        except (OSError, ValueError):
            return None

    def menu(self) -> str:
        path = self.tftp / "pxelinux.cfg" / "default"
        return path.read_text() if path.exists() else ""

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    @staticmethod
    def wait_until(condition: Callable[[], object], timeout: float, what: str) -> object:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = condition()
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"timed out after {timeout} s waiting for {what}")

    def wait_for(self, condition: Callable[[], object], timeout: float, what: str) -> object:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = condition()
            if value:
                return value
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(
                    f"isodrop serve exited ({self.process.returncode}) while waiting for {what}:\n"
                    f"{self.log_text()[-3000:]}"
                )
            time.sleep(0.05)
        raise AssertionError(f"timed out after {timeout} s waiting for {what}; log:\n{self.log_text()[-3000:]}")


def passes(config: Config, server: str = "192.0.2.1") -> PassReport:
    """The reconciler's passes over `config`'s drop folder until nothing is left to do (as `isodrop scan`)."""
    reconciler = Reconciler(Site.make(config, server))
    reconciler.prepare()
    try:
        return reconciler.run_until_idle(wait_for_copies=1)
    finally:
        reconciler.shutdown()
