"""A PXE client whose keyboard the test types on through QEMU's QMP socket (`send-key`).

Debian's iPXE builds for BIOS draw their menu on the VGA text screen only (no serial console compiled
in), so a test cannot type on the serial port there: it presses keys on the emulated PS/2 keyboard, as a
person at the PC does, and reads the serial console for what the kernel prints. Under UEFI iPXE writes to
the firmware console, which OVMF mirrors to the serial port, so the menu is readable there too.
"""

from __future__ import annotations

import json
import shutil
import socket
import time
from pathlib import Path

from tests.harness.e2e.netns import PrivateNet
from tests.harness.e2e.procs import wait_for
from tests.harness.e2e.vm import OVMF_CODE, OVMF_VARS, SerialVM


class KeyboardVM(SerialVM):
    """`firmware` "bios": SeaBIOS + e1000 (QEMU's iPXE ROM). "uefi-own-stack": OVMF + virtio-net without
    option ROM (romfile=""), so OVMF's own PXE client loads the boot file, as on most real UEFI PCs."""

    def __init__(self, net: PrivateNet, workdir: Path, firmware: str, name: str) -> None:
        self.qmp_path = workdir / f"{name}-qmp.sock"
        args = ["-no-reboot", "-netdev", f"tap,id=n0,ifname={net.tap},script=no,downscript=no"]
        if firmware == "bios":
            args += ["-machine", "pc", "-device", "e1000,netdev=n0,mac=52:54:00:12:34:57", "-boot", "n"]
        elif firmware == "uefi-own-stack":
            vars_copy = workdir / f"{name}-OVMF_VARS.fd"
            shutil.copyfile(OVMF_VARS, vars_copy)
            args += [
                "-machine",
                "q35",
                "-device",
                "virtio-net-pci,netdev=n0,mac=52:54:00:12:34:58,romfile=,bootindex=1",
                "-drive",
                f"if=pflash,format=raw,readonly=on,file={OVMF_CODE}",
                "-drive",
                f"if=pflash,format=raw,file={vars_copy}",
            ]
        else:
            raise ValueError(firmware)
        args += ["-qmp", f"unix:{self.qmp_path},server=on,wait=off"]
        super().__init__(net, workdir, name, args)
        self._qmp = wait_for(self._qmp_connect, 20, f"QMP socket {self.qmp_path}")

    def _qmp_connect(self) -> socket.socket | None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(str(self.qmp_path))
        except OSError:
            sock.close()
            return None
        self._qmp_lines = sock.makefile("r")
        self._qmp_lines.readline()  # QMP greeting
        self._qmp_sock = sock
        self._command("qmp_capabilities")
        return sock

    def _command(self, execute: str, **arguments: object) -> dict[str, object]:
        message = {"execute": execute} | ({"arguments": arguments} if arguments else {})
        self._qmp_sock.sendall(json.dumps(message).encode() + b"\n")
        while True:  # skip asynchronous events until our reply
            reply = json.loads(self._qmp_lines.readline())
            if "error" in reply:
                raise RuntimeError(f"QMP {execute}: {reply['error']}")
            if "return" in reply:
                return reply

    def press(self, key: str) -> None:
        """One key on the PS/2 keyboard: "2", "a", "ret", "esc" (QEMU qcode names)."""
        self._command("send-key", keys=[{"type": "qcode", "data": key}])
        time.sleep(0.1)

    def close(self) -> None:
        super().close()
        if getattr(self, "_qmp_sock", None) is not None:
            self._qmp_sock.close()
