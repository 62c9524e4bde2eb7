"""A QEMU PXE client on the test network's tap, its serial console captured and typeable.

The serial port is a unix socket QEMU waits on (server=on,wait=on) until we connect, so no byte of
output is lost; a reader thread copies everything into a log file and a buffer that `wait_for` searches
(ANSI escapes stripped, since firmware, menus and systemd colour their output).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import sys
import threading
import time
from pathlib import Path

from tests.harness.e2e.netns import PrivateNet
from tests.harness.e2e.procs import Proc, wait_for

OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS.fd")
# Secure Boot: the SMM build of OVMF (needs q35 with SMM and a write-protected flash) and variables with
# Microsoft's keys enrolled and Secure Boot enabled, as on a PC bought in a shop.
OVMF_CODE_SECBOOT = Path("/usr/share/OVMF/OVMF_CODE_4M.secboot.fd")
OVMF_VARS_MS = Path("/usr/share/OVMF/OVMF_VARS_4M.ms.fd")
ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]|\x1b[=>78cDEHMZ]")
MAX_BOOT_SECONDS = 180
# Console text that means the boot cannot succeed any more: stop waiting at once.
BOOT_FAILURES = (
    "Unable to find a medium containing a live file system",
    "Kernel panic - not syncing",
    "read: Connection refused",
    "mount call failed",
    "Could not find kernel image",
    "No DEFAULT or UI configuration directive found",
    "Failed to load",
    "\nboot:",  # pxelinux fell back to its prompt: the chosen label did not boot
)


def kvm_usable() -> bool:
    """KVM only with real hardware virtualisation: nested paravirtual KVM here fails in firmware code."""
    try:
        fd = os.open("/dev/kvm", os.O_RDWR)
    except OSError:
        return False
    os.close(fd)
    flags = Path("/proc/cpuinfo").read_text()
    return bool(re.search(r"^flags\s*:.*\b(vmx|svm)\b", flags, re.M))


class BootFailed(AssertionError):
    pass


class SerialVM:
    """A QEMU machine in the test namespace whose serial console we read and type on.

    `qemu_args` says what machine it is (firmware, disks, NICs, boot order); memory, CPU, accelerator,
    display and the serial socket are added here, so every VM the tests start is captured the same way.
    """

    def __init__(
        self, net: PrivateNet, workdir: Path, name: str, qemu_args: list[str], echo: bool = False, memory: int = 1024
    ) -> None:
        self.name = name
        self.echo = echo  # also copy the console to our stdout (the demo shows it)
        self.workdir = workdir
        self.log_path = workdir / f"{name}-serial.log"
        self.sock_path = workdir / f"{name}-serial.sock"
        self.output = bytearray()
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._reader: threading.Thread | None = None
        argv = [
            *net.ns_exec(),
            "qemu-system-x86_64",
            "-accel",
            "kvm" if kvm_usable() else "tcg",
            "-m",
            str(memory),
            "-smp",
            "1",
            "-display",
            "none",
            *qemu_args,
            "-chardev",
            f"socket,id=ser0,path={self.sock_path},server=on,wait=on",
            "-serial",
            "chardev:ser0",
            "-monitor",
            "none",
        ]
        self.started = time.monotonic()
        self.proc = Proc(f"qemu-{name}", argv, workdir / f"{name}-qemu.log")
        try:
            self._connect()
        except BaseException:
            self.proc.stop()
            raise

    def _connect(self) -> None:
        def try_connect() -> socket.socket | None:
            self.proc.check_alive()
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(str(self.sock_path))
            except OSError:
                sock.close()
                return None
            return sock

        self._sock = wait_for(try_connect, 20, f"QEMU serial socket {self.sock_path}")
        self.started = time.monotonic()  # the guest starts running once we are connected
        self._reader = threading.Thread(target=self._read, name=f"{self.name}-serial", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._sock is not None
        with open(self.log_path, "ab") as log:
            while True:
                try:
                    data = self._sock.recv(4096)
                except OSError:
                    return
                if not data:
                    return
                log.write(data)
                log.flush()
                if self.echo:
                    sys.stdout.buffer.write(data)
                    sys.stdout.buffer.flush()
                with self._lock:
                    self.output += data

    def text(self) -> str:
        with self._lock:
            raw = bytes(self.output)
        return ANSI.sub(b"", raw).replace(b"\r", b"").decode("utf-8", "replace")

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def wait_for(self, wanted: str, timeout: float, failures: tuple[str, ...] = (), since: int = 0) -> float:
        """Wait until `wanted` appears on the console (after char `since`); returns seconds since VM start.

        Raises BootFailed at once when one of `failures` appears first, or QEMU exits without `wanted`.
        """
        deadline = time.monotonic() + timeout
        while True:
            text = self.text()[since:]
            if wanted in text:
                return self.elapsed()
            for failure in failures:
                if failure in text:
                    raise BootFailed(f"{self.name}: console shows {failure!r} before {wanted!r}:\n{self.tail()}")
            if not self.proc.alive():
                time.sleep(0.3)  # let the reader drain the socket
                if wanted in self.text()[since:]:
                    return self.elapsed()
                raise BootFailed(f"{self.name}: QEMU exited before {wanted!r}:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: no {wanted!r} within {timeout:.0f} s:\n{self.tail()}")
            time.sleep(0.2)

    def tail(self, chars: int = 3000) -> str:
        return self.text()[-chars:]

    def type(self, keys: str, delay: float = 0.15) -> None:
        """Type on the serial console, one key at a time as a person would (firmware drops bursts)."""
        assert self._sock is not None
        for key in keys:
            self._sock.sendall(key.encode())
            time.sleep(delay)

    def wait_exit(self, timeout: float) -> None:
        wait_for(lambda: not self.proc.alive(), timeout, f"{self.name} to power off")

    def close(self) -> None:
        self.proc.stop(timeout=5)
        if self._sock is not None:
            self._sock.close()
        if self._reader is not None:
            self._reader.join(timeout=5)


class VM(SerialVM):
    """A PC that network-boots (`-boot n`) from the test bridge: SeaBIOS or OVMF, an e1000 NIC (iPXE ROM).

    `secure_boot` (UEFI only): OVMF's Secure Boot build with Microsoft's keys, Secure Boot on.
    `firmware_pxe` (UEFI only): a virtio NIC without option ROM (`romfile=`), so OVMF's own network
    stack (VirtioNetDxe + PxeBcDxe) does the PXE boot, as on a real PC, not QEMU's iPXE ROM.
    `mac`: another PC on the same network (another address from the DHCP server).
    `secure_boot_vars`: the variable store to copy for Secure Boot (e.g. one whose db adds a test CA).
    `reboot`: a reset (GRUB's `reboot`) restarts the PC, which network-boots again, instead of ending QEMU.
    """

    def __init__(
        self,
        net: PrivateNet,
        workdir: Path,
        firmware: str = "bios",
        name: str = "vm",
        echo: bool = False,
        secure_boot: bool = False,
        firmware_pxe: bool = False,
        mac: str = "52:54:00:12:34:56",
        secure_boot_vars: Path = OVMF_VARS_MS,
        reboot: bool = False,
    ) -> None:
        if firmware not in ("bios", "uefi"):
            raise ValueError(firmware)
        if (secure_boot or firmware_pxe) and firmware != "uefi":
            raise ValueError("secure_boot and firmware_pxe are UEFI options")
        self.firmware = firmware
        machine = "q35" if firmware == "uefi" else "pc"
        nic = "virtio-net-pci,romfile=" if firmware_pxe else "e1000"
        args = [
            "-machine",
            f"{machine},smm=on" if secure_boot else machine,
            *([] if reboot else ["-no-reboot"]),
            "-netdev",
            f"tap,id=n0,ifname={net.tap},script=no,downscript=no",
            "-device",
            f"{nic},netdev=n0,mac={mac}",
            "-boot",
            "n",
        ]
        if firmware == "uefi":
            code, vars_file = (OVMF_CODE_SECBOOT, secure_boot_vars) if secure_boot else (OVMF_CODE, OVMF_VARS)
            vars_copy = workdir / f"{name}-{vars_file.name}"
            shutil.copyfile(vars_file, vars_copy)
            if secure_boot:
                args += ["-global", "driver=cfi.pflash01,property=secure,value=on"]
            args += [
                "-drive",
                f"if=pflash,format=raw,unit=0,readonly=on,file={code}",
                "-drive",
                f"if=pflash,format=raw,unit=1,file={vars_copy}",
            ]
        super().__init__(net, workdir, name, args, echo=echo)
