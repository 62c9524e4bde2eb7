"""How fast is extract_iso compared with a plain `cp` of the same image? Prints seconds, MB/s and peak RSS.

    /usr/bin/python3 bench/bench_extract.py [ISO]

Without an ISO, builds (once) a ~300 MB live-like image in /tmp: one 250 MB "squashfs" plus 2,000 small
files, so both the streaming copy and the per-file overhead show. Each command runs in its own child process
with a warm page cache; the best of `--runs` runs is reported. Peak RSS is the extracting process's own
VmHWM (a parent's memory would leak into ru_maxrss through vfork). xorriso's extraction is shown for
comparison when it is installed. Not a test.
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
DEFAULT_ISO = Path(tempfile.gettempdir()) / "isodrop-bench-300M.iso"


def build_default_iso(path: Path) -> Path:
    """A reproducible ~300 MB image; rebuilt only when missing."""
    if path.exists():
        return path
    sys.path.insert(0, str(REPO))
    from tests.harness.isofactory import build_iso

    rng = __import__("random").Random(42)
    files: dict[str, bytes | str] = {
        ".disk/info": "Bench GNU/Linux live\n",
        "live/vmlinuz": rng.randbytes(8 * 1024 * 1024),
        "live/initrd.img": rng.randbytes(40 * 1024 * 1024),
        "live/filesystem.squashfs": rng.randbytes(250 * 1024 * 1024),
    }
    for i in range(2000):
        files[f"pool/main/p{i // 100:02d}/package{i:04d}.deb"] = rng.randbytes(rng.randrange(1, 16 * 1024))
    print(f"building {path} ...", flush=True)
    return build_iso(path.with_suffix(".tmp"), files, volume_id="BENCH").rename(path)


def run_child(argv: list[str]) -> tuple[float, str]:
    """Seconds of one child process, and what it printed on stdout."""
    start = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{argv} failed with status {done.returncode}")
    return elapsed, done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("iso", nargs="?", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    iso = (args.iso or build_default_iso(DEFAULT_ISO)).resolve()
    size_mb = iso.stat().st_size / 1e6
    work = Path(tempfile.mkdtemp(prefix="isodrop-bench-", dir=iso.parent))
    extract_code = (
        "import re, sys; from pathlib import Path; from isodrop.extract import extract_iso; "
        "r = extract_iso(Path(sys.argv[1]), Path(sys.argv[2])); "
        "hwm = re.search(r'VmHWM:\\s+(\\d+)', Path('/proc/self/status').read_text())[1]; "
        "print(f'peak RSS {int(hwm) / 1024:.1f} MiB; {r.files} files, {r.bytes / 1e6:.0f} MB of data')"
    )
    commands = {
        "cp": lambda out: [shutil.which("cp") or "/bin/cp", str(iso), str(out)],
        "extract_iso": lambda out: [sys.executable, "-c", extract_code, str(iso), str(out)],
    }
    if shutil.which("xorriso"):
        commands["xorriso"] = lambda out: ["xorriso", "-osirrox", "on", "-indev", str(iso), "-extract", "/", str(out)]
    os.environ["PYTHONPATH"] = str(REPO)
    print(f"{iso} ({size_mb:.0f} MB), best of {args.runs} runs, warm cache, output in {work}")
    try:
        run_child(commands["cp"](work / "warm"))  # fill the page cache so both read from memory
        best: dict[str, tuple[float, str]] = {}
        for _ in range(args.runs):
            for name, command in commands.items():
                out = work / name
                seconds, said = run_child(command(out))
                best[name] = min(best.get(name, (seconds, said)), (seconds, said))
                _remove(out)
        for name, (seconds, said) in best.items():
            note = said if name == "extract_iso" else ""
            print(f"{name:12s} {seconds:7.2f} s {size_mb / seconds:8.0f} MB/s   {note}")
        print(f"extract_iso / cp = {best['extract_iso'][0] / best['cp'][0]:.2f}x")
    finally:
        _remove(work)


def _remove(path: Path) -> None:
    from isodrop.removal import remove_tree

    remove_tree(path)


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
