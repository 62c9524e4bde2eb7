"""What a drop folder full of junk costs: `isodrop scan` over N empty `*.iso` files and one real ISO.

    /usr/bin/python3 bench/bench_junk.py [--junk 5000] [--fds 20000] [--code DIR]

Prints the seconds of the first scan (every file new) and of a second one (as after a restart: every
junk file has its failed record and is due for a retry), and when the real ISO's record appeared.
Whether a file is still being written is seen in /proc, so its cost grows with the open descriptors of
all processes: a helper process holds --fds of them, as the daemons of a busy server do.
--code runs another checkout of isodrop (e.g. `git archive OLD | tar -x -C DIR`) for a before/after
figure. The machine is shared: compare runs made at the same time. Not a test.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def scan(code: Path, root: Path, real_record: Path) -> tuple[float, float]:
    """Seconds of one `isodrop scan`, and seconds until the real ISO's record appeared (-1: never)."""
    env = dict(os.environ, PYTHONPATH=str(code))
    env.pop("JOURNAL_STREAM", None)
    started = time.monotonic()
    child = subprocess.Popen(
        [sys.executable, "-m", "isodrop", "scan", "--root", str(root)],
        env=env,
        cwd=root,  # not the checkout: `-m` would import the isodrop found in the current folder
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    served = -1.0
    while child.poll() is None:
        if served < 0 and real_record.exists():
            served = time.monotonic() - started
        time.sleep(0.05)
    total = time.monotonic() - started
    return total, served if served >= 0 else (total if real_record.exists() else -1.0)


BUSY = (
    "import os, resource, sys\n"
    "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
    "resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))\n"
    "held = [os.open('/dev/null', os.O_RDONLY) for _ in range(min(int(sys.argv[1]), hard - 16))]\n"
    "print(len(held), flush=True)\n"
    "sys.stdin.read()\n"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--junk", type=int, default=5000)
    parser.add_argument("--fds", type=int, default=20000, help="descriptors held open meanwhile by a helper")
    parser.add_argument("--code", type=Path, default=REPO, help="the isodrop checkout to run")
    args = parser.parse_args()
    from tests.harness.servicekit import build_debian_live

    work = Path(tempfile.mkdtemp(prefix="isodrop-junk-", dir="/var/tmp"))
    busy = subprocess.Popen([sys.executable, "-c", BUSY, str(args.fds)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert busy.stdout is not None
        held = int(busy.stdout.readline())
        drop = work / "demo/drop"
        drop.mkdir(parents=True)
        build_debian_live(drop / "zz-real.iso")  # sorted last: behind every junk file
        long_ago = time.time() - 600
        for number in range(args.junk):
            (drop / f"junk-{number:05}.iso").touch()
        for path in drop.iterdir():
            os.utime(path, (long_ago, long_ago))  # copied long ago: scan need not wait for them
        record = work / "demo/tftp/isodrop/.state/zz-real.json"
        total, served = scan(args.code, work / "demo", record)
        print(f"first scan, {args.junk} junk + 1 ISO, {held} more descriptors open: {total:.1f} s;", end=" ")
        print(f"the real ISO recorded after {served:.1f} s")
        total, _served = scan(args.code, work / "demo", record)
        print(f"the same scan again (as after a restart): {total:.1f} s")
        print(f"load average: {os.getloadavg()[0]:.1f}")
    finally:
        busy.communicate(b"")
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
