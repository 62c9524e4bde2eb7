"""A Debian 12 (bookworm) root file system for the server VM, built with debootstrap and cached.

The cached tree has systemd, Debian's kernel, and every package the isodrop .deb depends on or recommends,
so that `apt-get install ./isodrop_*.deb` in a per-run copy needs nothing from the network. The mirror is
the one the host's apt uses (read from its sources), so the test asks no other place.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from tests.harness.e2e.cache import cached_dir, recipe_hash

SUITE = "bookworm"
# What the .deb pulls in (Depends + Recommends) plus what a small always-on server needs to boot and be
# driven over its serial console. The recipe (this list and BUILD_VERSION) keys the cache.
PACKAGES = (
    "systemd-sysv",
    "udev",
    "linux-image-amd64",
    "initramfs-tools",
    "kmod",
    "iproute2",
    "procps",
    "less",
    "python3",
    "python3-watchdog",
    "python3-pycdlib",
    "python3-jinja2",
    "python3-sdnotify",
    "dnsmasq",
    "nfs-kernel-server",
    "pxelinux",
    "syslinux-common",
    "syslinux-efi",
)
BUILD_VERSION = "1"


def host_mirror(
    sources_dir: Path = Path("/etc/apt/sources.list.d"), sources_list: Path = Path("/etc/apt/sources.list")
) -> str:
    """The Debian archive URI the host's apt already uses for bookworm (deb822 or one-line format)."""
    texts = [p.read_text() for p in sorted(sources_dir.glob("*.sources"))]
    for text in texts:
        for stanza in re.split(r"\n\s*\n", text):
            uris = re.search(r"^URIs:\s*(\S+)", stanza, re.M)
            suites = re.search(r"^Suites:\s*(.+)$", stanza, re.M)
            if uris and suites and SUITE in suites.group(1).split() and "security" not in uris.group(1):
                return uris.group(1)
    if sources_list.exists():
        for line in sources_list.read_text().splitlines():
            match = re.match(r"deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+" + SUITE + r"\s", line)
            if match and "security" not in match.group(1):
                return match.group(1)
    raise RuntimeError("no bookworm Debian archive in the host's apt sources")


def recipe() -> list[str]:
    return [SUITE, "minbase", ",".join(PACKAGES), BUILD_VERSION]


def _build(work: Path) -> None:
    root = work / "root"
    subprocess.run(
        [
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(PACKAGES)}",
            SUITE,
            str(root),
            host_mirror(),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=1800,
    )
    # Leave no downloaded .debs in the cache.
    shutil.rmtree(root / "var/cache/apt/archives", ignore_errors=True)
    (root / "var/cache/apt/archives/partial").mkdir(parents=True, exist_ok=True)


def cached_rootfs() -> Path:
    """The cached, never modified debootstrap tree (copy it before changing anything)."""
    return cached_dir("debvm-rootfs", recipe_hash(recipe()), _build) / "root"


if __name__ == "__main__":
    print(cached_rootfs())
