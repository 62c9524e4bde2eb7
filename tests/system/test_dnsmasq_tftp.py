"""A real dnsmasq, in a network namespace this test creates, serves isodrop's TFTP root.

DHCP is enabled only on a veth pair inside that namespace (so that dnsmasq re-reads its DHCP
hosts file on SIGHUP and logs it: that is how we see isodrop's signal arrive). Nothing outside the
namespace sees any of this; dnsmasq is stopped by its PID and the namespace deleted afterwards.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.servicekit import ServiceRun, build_debian_live, debian_live_files

pytestmark = pytest.mark.network

ADDRESS = "10.123.0.1"


def _needs() -> str:
    if os.geteuid() != 0:
        return "needs root to create a network namespace"
    for tool in ("ip", "dnsmasq", "curl"):
        if shutil.which(tool) is None:
            return f"needs {tool} (tests/setup.sh installs it)"
    return ""


@pytest.fixture
def namespace() -> Iterator[str]:
    if _needs():
        pytest.skip(_needs())
    name = f"isodrop-tftp-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:

        def inside(*cmd: str) -> None:
            subprocess.run(["ip", "netns", "exec", name, *cmd], check=True)

        inside("ip", "link", "set", "lo", "up")
        inside("ip", "link", "add", "tftp0", "type", "veth", "peer", "name", "tftp1")
        inside("ip", "addr", "add", f"{ADDRESS}/24", "dev", "tftp0")
        inside("ip", "link", "set", "tftp0", "up")
        inside("ip", "link", "set", "tftp1", "up")
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def run_dnsmasq(namespace: str, base: Path, user: str) -> Iterator[dict[str, Path]]:
    """dnsmasq serving base/srv/tftp over TFTP inside `namespace`, as `user` once started."""
    files = {
        "tftp": base / "srv/tftp",
        "pid": base / "dnsmasq.pid",
        "log": base / "dnsmasq.log",
        "hosts": base / "dhcp-hosts",
    }
    files["tftp"].mkdir(parents=True)
    files["hosts"].write_text("")
    process = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            namespace,
            "dnsmasq",
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--port=0",
            "--interface=tftp0",
            "--bind-interfaces",
            "--dhcp-range=10.123.0.50,10.123.0.60",
            f"--dhcp-hostsfile={files['hosts']}",
            "--enable-tftp",
            f"--tftp-root={files['tftp']}",
            f"--pid-file={files['pid']}",
            f"--log-facility={files['log']}",
            f"--user={user}",
        ]
    )
    try:
        ServiceRun.wait_until(lambda: files["pid"].exists() and files["log"].exists(), 10, "dnsmasq to start")
        yield files
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def dnsmasq(namespace: str, tmp_path: Path) -> Iterator[dict[str, Path]]:
    yield from run_dnsmasq(namespace, tmp_path, "root")


@pytest.fixture
def dnsmasq_as_its_user(namespace: str) -> Iterator[dict[str, Path]]:
    """dnsmasq as Debian runs it: privileges dropped to user dnsmasq (nobody without the package's user),
    serving a TFTP root that user can reach (pytest's own folders are private to root)."""
    user = (
        "dnsmasq" if subprocess.run(["id", "dnsmasq"], capture_output=True, check=False).returncode == 0 else "nobody"
    )
    base = Path(tempfile.mkdtemp(prefix="isodrop-tftp-", dir="/var/tmp"))
    try:
        os.chmod(base, 0o755)
        yield from run_dnsmasq(namespace, base, user)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def tftp_fetches(namespace: str, path: str, out: Path) -> bool:
    """Does dnsmasq's TFTP hand out `path` (into `out`), asked by curl from inside the namespace?"""
    curl = ["curl", "-sS", "--max-time", "30", "-o", str(out), f"tftp://{ADDRESS}/{path}"]
    return subprocess.run(["ip", "netns", "exec", namespace, *curl], capture_output=True, check=False).returncode == 0


def tftp_get(namespace: str, path: str, out: Path) -> bytes:
    assert tftp_fetches(namespace, path, out), f"TFTP fetch of {path} failed"
    return out.read_bytes()


def test_dnsmasq_serves_menu_and_kernel_and_gets_sighup(
    namespace: str, dnsmasq: dict[str, Path], tmp_path: Path
) -> None:
    root = dnsmasq["tftp"].parent
    service = ServiceRun(
        root, tftp_root=str(dnsmasq["tftp"]), dnsmasq_pid_file=str(dnsmasq["pid"]), server_address=ADDRESS
    )
    try:
        service.start()
        reads_before = dnsmasq["log"].read_text().count("read " + str(dnsmasq["hosts"]))
        build_debian_live(service.drop / "debian-live-12.iso")
        service.wait_for(lambda: "LABEL iso-debian-live-12" in service.menu(), 20, "the menu entry")
        service.wait_for(
            lambda: dnsmasq["log"].read_text().count("read " + str(dnsmasq["hosts"])) > reads_before,
            10,
            "dnsmasq to log its SIGHUP re-read",
        )
        service.wait_for(lambda: "sent SIGHUP to dnsmasq" in service.log_text(), 5, "isodrop to log the SIGHUP")

        assert tftp_get(namespace, "pxelinux.0", tmp_path / "p") == Path("/usr/lib/PXELINUX/pxelinux.0").read_bytes()
        assert (
            tftp_get(namespace, "ldlinux.c32", tmp_path / "l")[:4]
            == Path("/usr/lib/syslinux/modules/bios/ldlinux.c32").read_bytes()[:4]
        )
        menu = tftp_get(namespace, "pxelinux.cfg/default", tmp_path / "m").decode()
        assert menu == service.menu()
        kernel = re.search(r"^\s*LINUX (\S+)$", menu, re.M)
        assert kernel is not None, menu
        assert tftp_get(namespace, kernel.group(1), tmp_path / "k") == debian_live_files()["live/vmlinuz"]
        efi_menu = tftp_get(namespace, "efi64/pxelinux.cfg/default", tmp_path / "e").decode()
        assert "LINUX ::isodrop/debian-live-12/live/vmlinuz" in efi_menu
        assert "sent /" in dnsmasq["log"].read_text()
    finally:
        service.stop()


def test_state_records_are_not_served_over_tftp(namespace: str, dnsmasq_as_its_user: dict[str, Path]) -> None:
    """The trees folder is in the TFTP root; dnsmasq (as its own user) serves the trees but not `.state/`
    (drop-folder names, inodes, fingerprints) nor `.tmp/`: 0700 folders, 0600 records."""
    files = dnsmasq_as_its_user
    root = files["tftp"].parent
    service = ServiceRun(root, tftp_root=str(files["tftp"]), server_address=ADDRESS)
    out = root / "fetched"
    try:
        service.start()
        build_debian_live(service.drop / "debian-live-12.iso")
        service.wait_for(lambda: "LABEL iso-debian-live-12" in service.menu(), 20, "the menu entry")
        record = "isodrop/.state/debian-live-12.json"
        assert (files["tftp"] / record).is_file()
        kernel = tftp_get(namespace, "isodrop/debian-live-12/live/vmlinuz", out)
        assert kernel == debian_live_files()["live/vmlinuz"], "a tree file is served"
        assert not tftp_fetches(namespace, record, out), "a state record was served over TFTP"
        (service.trees / ".tmp" / "probe").write_text("temporary")
        os.chmod(service.trees / ".tmp" / "probe", 0o644)
        assert not tftp_fetches(namespace, "isodrop/.tmp/probe", out), "a temporary was served over TFTP"
        # the control: with the modes an older version left, the same fetch works (so the refusal above is
        # the modes', not a wrong path)
        os.chmod(service.trees / ".state", 0o755)
        os.chmod(files["tftp"] / record, 0o644)
        assert tftp_fetches(namespace, record, out) and b"debian-live-12.iso" in out.read_bytes()
    finally:
        service.stop()


def test_stale_dnsmasq_pid_file_is_a_warning_not_a_crash(tmp_path: Path) -> None:
    pid_file = tmp_path / "dnsmasq.pid"
    pid_file.write_text("999999\n")
    service = ServiceRun(tmp_path / "srv", dnsmasq_pid_file=str(pid_file))
    try:
        service.start()
        build_debian_live(service.drop / "a.iso")
        service.wait_for(lambda: "LABEL iso-a\n" in service.menu(), 20, "the entry")
        service.wait_for(lambda: "stale pid file" in service.log_text(), 5, "the warning in the log")
        service.wait_for(lambda: "stale pid file" in service.status()["system"].get("dnsmasq", ""), 5, "status")
        pid_file.unlink()
        (service.drop / "a.iso").unlink()
        service.wait_for(lambda: "LABEL iso-a\n" not in service.menu(), 10, "the entry to go")
        service.wait_for(lambda: "does not exist" in service.status()["system"].get("dnsmasq", ""), 5, "status")
    finally:
        assert service.stop() == 0
