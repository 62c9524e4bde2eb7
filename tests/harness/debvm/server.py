"""The isodrop server VM: a copy of the cached Debian root with the .deb installed, booted with systemd.

Per run: copy the cached debootstrap tree, `chroot ROOT apt-get install ./isodrop_*.deb` (debhelper's
maintainer scripts enable the unit), set the few things a person sets on a new box (network, a root shell
on the serial console; the dnsmasq snippet needs no edit: the booted server runs `isodrop setup-dnsmasq`),
`mkfs.ext4 -d` an image, and boot it with its own kernel and initrd on a tap in the test's bridge. The
console is driven as a shell with echo off, so each command's output is exactly the text before its
exit-status marker.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.harness.e2e.netns import PrivateNet
from tests.harness.e2e.procs import run
from tests.harness.e2e.vm import SerialVM

SERVER_HOST = 10  # last octet of the server VM's address on the test network
SERVER_TAP = "tap1"
IMAGE_SIZE = "3G"


@dataclass
class Result:
    command: str
    output: str
    status: int

    def __str__(self) -> str:
        return f"$ {self.command}\n{self.output}(exit {self.status})"


def server_address(net: PrivateNet) -> str:
    return f"{net.network.rsplit('.', 1)[0]}.{SERVER_HOST}"


def _chroot(root: Path, *argv: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "DEBIAN_FRONTEND": "noninteractive",
        "LC_ALL": "C.UTF-8",
        "HOME": "/root",
    }
    result = subprocess.run(
        ["chroot", str(root), *argv], capture_output=True, text=True, env=env, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"chroot {' '.join(argv)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def install_deb(root: Path, deb: Path) -> str:
    """apt-get install the .deb inside the tree, as a person would on the box; returns apt's output."""
    shutil.copy(deb, root / "tmp" / deb.name)
    resolv = root / "etc/resolv.conf"
    if not resolv.exists() and Path("/etc/resolv.conf").exists():
        shutil.copy("/etc/resolv.conf", resolv)  # only if apt must fetch something: the host's network
    for api in ("proc", "dev"):
        run(["mount", "--bind", f"/{api}", str(root / api)])
    try:
        try:
            result = _chroot(root, "apt-get", "install", "-y", f"/tmp/{deb.name}")
        except RuntimeError:
            # A dependency the cached tree lacks (the package grew one): fetch it from the archive.
            _chroot(root, "apt-get", "update")
            result = _chroot(root, "apt-get", "install", "-y", f"/tmp/{deb.name}")
    finally:
        for api in ("dev", "proc"):
            subprocess.run(["umount", "-l", str(root / api)], check=False)
    (root / "tmp" / deb.name).unlink()
    return result.stdout


def configure(root: Path, net: PrivateNet) -> None:
    """What a person sets on a new server: its address and a console login (the dnsmasq snippet: nothing)."""
    (root / "etc/hostname").write_text("isodrop-server\n")
    (root / "etc/hosts").write_text("127.0.0.1 localhost\n127.0.1.1 isodrop-server\n")
    (root / "etc/fstab").write_text("/dev/vda / ext4 rw,errors=remount-ro 0 1\n")
    (root / "etc/systemd/network/10-lan.network").write_text(
        f"[Match]\nName=eth0\n\n[Network]\nAddress={server_address(net)}/24\nGateway={net.router_ip}\n"
        "LinkLocalAddressing=no\nIPv6AcceptRA=no\n"
    )
    _chroot(root, "systemctl", "enable", "systemd-networkd.service")
    getty = root / "etc/systemd/system/serial-getty@ttyS0.service.d"
    getty.mkdir(parents=True, exist_ok=True)
    (getty / "autologin.conf").write_text(
        "[Service]\nExecStart=\nExecStart=-/sbin/agetty --autologin root --noclear --keep-baud 115200 %I dumb\n"
    )
    snippet = (root / "etc/dnsmasq.d/isodrop.conf").read_text()
    if "CHANGE ME" in snippet or re.search(r"^(interface|dhcp-range)=", snippet, re.M):
        raise AssertionError("the shipped snippet names a network: `isodrop setup-dnsmasq` should, in the VM")


def build_image(cached_root: Path, deb: Path, net: PrivateNet, workdir: Path) -> tuple[Path, Path, Path, str]:
    """(disk image, kernel, initrd, apt's output) for one run; the cached tree is not changed."""
    root = workdir / "root"
    run(["cp", "-a", "--reflink=auto", str(cached_root), str(root)], timeout=600)
    try:
        apt_output = install_deb(root, deb)
        configure(root, net)
        kernel = Path(sorted(glob.glob(str(root / "boot/vmlinuz-*")))[-1])
        initrd = Path(sorted(glob.glob(str(root / "boot/initrd.img-*")))[-1])
        shutil.copy(kernel, workdir / "vmlinuz")
        shutil.copy(initrd, workdir / "initrd.img")
        image = workdir / "server.img"
        run(["mkfs.ext4", "-q", "-F", "-L", "root", "-d", str(root), str(image), IMAGE_SIZE], timeout=600)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return image, workdir / "vmlinuz", workdir / "initrd.img", apt_output


def add_server_tap(net: PrivateNet) -> str:
    net.ip("tuntap", "add", SERVER_TAP, "mode", "tap")
    net.ip("link", "set", SERVER_TAP, "master", net.bridge)
    net.ip("link", "set", SERVER_TAP, "up")
    return SERVER_TAP


class ServerVM(SerialVM):
    """The Debian server VM on the e2e harness's serial capture (socket, reader thread, wait_for): direct kernel
    boot from a disk image, a virtio NIC on its own tap, the ISOs on a read-only 9p share."""

    def __init__(self, net: PrivateNet, workdir: Path, image: Path, kernel: Path, initrd: Path, share: Path) -> None:
        self._markers = itertools.count(1)
        tap = add_server_tap(net)
        qemu_args = [
            "-machine",
            "pc",
            "-kernel",
            str(kernel),
            "-initrd",
            str(initrd),
            "-append",
            "root=/dev/vda rw console=ttyS0,115200 net.ifnames=0 systemd.show_status=0 loglevel=3",
            "-drive",
            f"file={image},format=raw,if=virtio,cache=unsafe",
            "-netdev",
            f"tap,id=n0,ifname={tap},script=no,downscript=no",
            "-device",
            "virtio-net-pci,netdev=n0,mac=52:54:00:00:00:10",
            "-virtfs",
            f"local,path={share},mount_tag=isos,security_model=none,readonly=on",
        ]
        super().__init__(net, workdir, "server", qemu_args)

    def login(self, timeout: float = 240) -> float:
        """Wait for the autologin shell and make it machine-friendly (no echo, no prompt, no pager, no colour,
        no kernel messages on the console). Returns seconds from start to the shell."""
        self.wait_for("root@isodrop-server", timeout, failures=("Kernel panic", "emergency mode"))
        time.sleep(1)
        self._send("stty -echo; PS1=''; PS2=''; export TERM=dumb SYSTEMD_PAGER=cat PAGER=cat SYSTEMD_COLORS=0")
        self._send("dmesg -n 1; echo SHELL-READY-$((6*7))")
        return self.wait_for("SHELL-READY-42", 60)

    def _send(self, line: str) -> None:
        assert self._sock is not None
        self._sock.sendall(line.encode() + b"\n")

    def sh(self, command: str, timeout: float = 120) -> Result:
        """Run one shell command line; its output and exit status."""
        marker = f"__RC{next(self._markers)}__"
        start = len(self.text())
        self._send(command)
        self._send(f"echo {marker}$?")
        deadline = time.monotonic() + timeout
        pattern = re.compile(re.escape(marker) + r"(\d+)")
        while True:
            text = self.text()[start:]
            match = pattern.search(text)
            if match:
                return Result(command, text[: match.start()], int(match.group(1)))
            if not self.proc.alive():
                raise RuntimeError(f"server VM exited during {command!r}:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"server VM: {command!r} did not finish within {timeout:.0f} s:\n{text[-2000:]}")
            time.sleep(0.1)

    def ok(self, command: str, timeout: float = 120) -> str:
        """Run a command that must succeed; its output."""
        result = self.sh(command, timeout)
        assert result.status == 0, str(result)
        return result.output

    def wait_until(self, command: str, timeout: float, interval: float = 2) -> str:
        """Repeat a command until it succeeds; its last output."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.sh(command)
            if result.status == 0:
                return result.output
            if time.monotonic() > deadline:
                raise TimeoutError(f"still failing after {timeout:.0f} s:\n{result}")
            time.sleep(interval)

    def ok_detached(self, command: str, timeout: float, diagnose: str = "") -> str:
        """Run a long command in the background of the VM's shell (so a hang can still be looked at): its
        output when it exits 0; on failure or timeout, an AssertionError with its output and `diagnose`'s."""
        tag = f"/tmp/detached{next(self._markers)}"
        self.ok(f"( {command} ) > {tag}.log 2>&1 < /dev/null; echo $? > {tag}.rc &")
        deadline = time.monotonic() + timeout
        while self.sh(f"test -f {tag}.rc").status != 0:
            if time.monotonic() > deadline:
                looked = self.sh(diagnose, 60).output if diagnose else ""
                log = self.sh(f"tail -c 3000 {tag}.log").output
                raise AssertionError(f"{command!r} still running after {timeout:.0f} s:\n{log}\n{looked}")
            time.sleep(2)
        output = self.sh(f"cat {tag}.log").output
        status = int(self.ok(f"cat {tag}.rc").strip())
        assert status == 0, f"{command!r} exited {status}:\n{output}"
        return output

    def diagnose(self, unit: str) -> str:
        """What a person looks at when a unit misbehaves (for failure messages)."""
        return self.sh(
            f"systemctl status --no-pager -l {unit} 2>&1 | head -30; journalctl -b -u {unit} --no-pager | tail -40", 60
        ).output

    def wait_active(self, unit: str, timeout: float) -> None:
        try:
            self.wait_until(f"systemctl is-active {unit}", timeout)
        except TimeoutError as exc:
            raise AssertionError(f"{unit} is not active:\n{self.diagnose(unit)}") from exc

    def poweroff(self) -> None:
        self._send("systemctl poweroff")
        with contextlib.suppress(TimeoutError):
            self.wait_exit(60)
        self.close()
