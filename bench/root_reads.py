"""How much of its squashfs a live system reads over NFS while it boots: one real VM boot, measured.

    sudo /usr/bin/python3 bench/root_reads.py [--iso-name e2e-one]

The setup of tests/system/test_e2e_boot.py (tests/harness/e2e: namespace, dnsmasq, rpcbind + nfs-ganesha, `isodrop
serve`) serves the test's Debian-live ISO (tests/harness/e2e/liveiso.py: Debian's kernel and live-boot initramfs,
a busybox "live system" that prints a marker and powers off); a BIOS QEMU PC boots it through pxelinux.
While it boots, strace follows every ganesha thread's read calls (`-y` names each descriptor's file), so
the figure is what the NFS server read from the extracted live/filesystem.squashfs to answer the PC: the
bytes the PC pulled of its root. The bridge's transmit counter (server to PC: TFTP kernel + initrd, DHCP,
NFS) is printed beside it. No page cache is dropped. Processes started here are stopped by PID.
Needs root and the VM test's packages. Not a test.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.harness.e2e.liveiso import build_iso  # noqa: E402
from tests.harness.e2e.servers import DHCP_SNIPPET  # noqa: E402
from tests.harness.e2e.stack import running_stack  # noqa: E402
from tests.harness.e2e.vm import BOOT_FAILURES, MAX_BOOT_SECONDS  # noqa: E402

READ_CALL = re.compile(r"^(?:\d+\s+|\[pid\s+\d+\]\s+)?(pread64|preadv2?|read)\((\d+)<([^>]*)>.*=\s+(\d+)\s*$")
MB = 1_000_000


def bytes_read_per_file(strace_log: str) -> Counter[str]:
    """Sum the byte counts that successful read calls returned, per file path (strace -y output)."""
    totals: Counter[str] = Counter()
    for line in strace_log.splitlines():
        match = READ_CALL.match(line.strip())
        if match:
            totals[match.group(3)] += int(match.group(4))
    return totals


def bridge_tx_bytes(namespace_exec: list[str], bridge: str) -> int:
    path = f"/sys/class/net/{bridge}/statistics/tx_bytes"
    return int(subprocess.run([*namespace_exec, "cat", path], capture_output=True, text=True, check=True).stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iso-name", default="e2e-one", help="the tests/harness/e2e/liveiso.py ISO to boot")
    args = parser.parse_args()
    iso = build_iso(args.iso_name)
    with running_stack(DHCP_SNIPPET, with_router=False, menu_default="first") as stack:
        slug = stack.drop(iso.path)
        squashfs = stack.service.trees / slug / "live/filesystem.squashfs"
        ganesha_pid = int(Path(stack.proc("ganesha").pid_file).read_text().split()[0])  # type: ignore[attr-defined]
        strace_log = stack.work / "ganesha-reads.strace"
        tracer = subprocess.Popen(
            ["strace", "-f", "-qq", "-y", "-e", "trace=read,pread64,preadv,preadv2", "-o", str(strace_log)]
            + ["-p", str(ganesha_pid)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(2)  # strace attaches to every thread before the PC asks for anything
        tx_before = bridge_tx_bytes(stack.net.ns_exec(), stack.net.bridge)
        vm = stack.vm("bios", name="root-reads")
        try:
            seconds = vm.wait_for(iso.marker, MAX_BOOT_SECONDS + 10, BOOT_FAILURES)
            vm.wait_exit(30)
        finally:
            vm.close()
        tx_bytes = bridge_tx_bytes(stack.net.ns_exec(), stack.net.bridge) - tx_before
        tracer.terminate()
        tracer.wait(10)
        per_file = bytes_read_per_file(strace_log.read_text(errors="replace"))
        size = squashfs.stat().st_size
        read = sum(count for path, count in per_file.items() if path.endswith(f"/{slug}/live/filesystem.squashfs"))
        print(f"marker after {seconds:.0f} s")
        print(f"squashfs {squashfs.name}: {size} bytes ({size / MB:.2f} MB)")
        print(f"read of it by ganesha during the boot: {read} bytes ({read / MB:.2f} MB, {100 * read / size:.0f} %)")
        for path, count in per_file.most_common(8):
            print(f"  {count:>12} bytes  {path}")
        print(f"bridge transmit (server to PC, all protocols): {tx_bytes} bytes ({tx_bytes / MB:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
