"""Helpers for fault tests: `isodrop serve` inside a private mount namespace, and hostile-drop checks.

`NamespacedRun` starts the service under `unshare --mount --propagation private`, after mounting small
tmpfs file systems on the folders the test names; nothing is mounted on the host. The test then changes
those mounts (fill, grow, unmount, remount) and copies files into them with `nsenter` into the
service's namespace, so what the service sees is exactly what a vanished USB disk or a full disk gives.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness.servicekit import ServiceRun

# The directives the pxelinux/syslinux menus isodrop writes may contain; anything else is a broken menu.
MENU_WORDS = {
    "DEFAULT",
    "UI",
    "PROMPT",
    "TIMEOUT",
    "MENU",
    "LABEL",
    "LINUX",
    "KERNEL",
    "INITRD",
    "APPEND",
    "LOCALBOOT",
    "SERIAL",
    "CONSOLE",
    "TEXT",
    "ENDTEXT",
    "IPAPPEND",
    "SYSAPPEND",
    "COM32",
    "CONFIG",
    "INCLUDE",
    "ONTIMEOUT",
    "TOTALTIMEOUT",
    "NOESCAPE",
    "ALLOWOPTIONS",
    "IMPLICIT",
    "SAY",
    "EXIT",
}


def need_root_namespaces() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: mounts a tmpfs in a private mount namespace")
    probe = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", "mount -t tmpfs none /mnt"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs in a private mount namespace here: {probe.stderr.strip()}")


class NamespacedRun(ServiceRun):
    """ServiceRun whose service runs in its own mount namespace, with tmpfs mounts set up first."""

    def __init__(self, root: Path, mounts: dict[Path, str], **settings: object) -> None:
        super().__init__(root, **settings)
        self.mounts = mounts  # folder -> tmpfs options, e.g. {run.tftp: "size=2m"}

    def start(self) -> None:
        self.write_config()
        script = "set -e; "
        for folder, options in self.mounts.items():
            folder.mkdir(parents=True, exist_ok=True)
            script += f"mount -t tmpfs -o {shlex.quote(options)} isodrop-test {shlex.quote(str(folder))}; "
        command = [sys.executable, "-m", "isodrop", "serve", "--config", str(self.config)]
        script += "exec " + " ".join(shlex.quote(part) for part in command)
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env(),
            )
        self.wait_for(lambda: (self.state / "status.json").exists(), 20, "the first status file")

    def ns(self, script: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a shell script in the service's mount namespace. --root/--wd: entering a mount namespace
        resets the root to that namespace's own, which inside a chroot (CI's fresh machine) is outside it."""
        assert self.process is not None
        proc = f"/proc/{self.process.pid}"
        result = subprocess.run(
            ["nsenter", f"--mount={proc}/ns/mnt", f"--root={proc}/root", f"--wd={proc}/cwd", "sh", "-c", script],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"in the service's namespace, {script!r} failed: {result.stderr}")
        return result

    def ns_menu(self) -> str:
        path = shlex.quote(str(self.tftp / "pxelinux.cfg" / "default"))
        return self.ns(f"cat {path} 2>/dev/null || true").stdout


def status_json(run: ServiceRun) -> dict:
    """`isodrop status --json`, as a user would ask for it."""
    result = run.command("status", "--json")
    assert "Traceback" not in result.stderr, result.stderr
    return json.loads(result.stdout)


def ignored_reason(doc: dict, name: str) -> str:
    return next((item["reason"] for item in doc.get("ignored", []) if item["iso"] == name), "")


def assert_menu_well_formed(menu: str) -> None:
    """Every line of the BIOS menu is a known directive (or blank / a comment): no name or sidecar value
    broke a line, and there is no NUL."""
    assert "\0" not in menu
    in_text = False
    for line in menu.splitlines():
        stripped = line.strip()
        if in_text:
            in_text = stripped.upper() != "ENDTEXT"
            continue
        if not stripped or stripped.startswith("#"):
            continue
        in_text = stripped.upper().startswith("TEXT HELP")
        word = re.split(r"\s", stripped, maxsplit=1)[0].upper()
        assert word in MENU_WORDS, f"unexpected menu line {line!r}"
    labels = re.findall(r"^LABEL (\S+)$", menu, flags=re.M)
    assert len(labels) == len(set(labels)), f"duplicate labels: {labels}"
