"""Fixtures the family tests share: a layout as a Tree read from a built ISO or from an extracted folder, and
real ISOs from Debian's archive (memtest86+, grub-rescue-pc), fetched once and cached."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from isodrop.extract import IsoTree
from isodrop.families import DirTree, Tree
from tests.harness.e2e.cache import cached_dir, recipe_hash
from tests.harness.family_layouts import LAYOUTS, write_tree
from tests.harness.isofactory import build_iso


@pytest.fixture(params=["iso", "dir"])
def make_tree(request: pytest.FixtureRequest, tmp_path: Path):
    """Turn a layout name into a Tree: read from a built ISO, or from the same files extracted."""

    def make(name: str) -> Tree:
        layout = LAYOUTS[name]()
        if request.param == "iso":
            iso = build_iso(tmp_path / f"{name}.iso", layout.files, volume_id=layout.volume_id)
            return IsoTree(iso)
        return DirTree(write_tree(tmp_path / name, layout), volume_id=layout.volume_id, iso_name=f"{name}.iso")

    return make


REAL_PACKAGES = ("memtest86+", "grub-rescue-pc")


def _candidate_versions() -> list[str]:
    out = subprocess.run(["apt-cache", "policy", *REAL_PACKAGES], capture_output=True, text=True, check=False)
    return [line.split()[-1] for line in out.stdout.splitlines() if "Candidate:" in line]


@pytest.fixture(scope="module")
def debian_isos() -> Path:
    """memtest86+x64.iso and grub-rescue-cdrom.iso, unpacked from their .debs (cached between runs)."""
    if shutil.which("apt-get") is None or shutil.which("dpkg") is None:
        pytest.skip("needs apt-get and dpkg to fetch Debian's memtest86+ and grub-rescue-pc packages")
    versions = _candidate_versions()
    if len(versions) != len(REAL_PACKAGES) or "(none)" in versions:
        pytest.skip(f"apt does not know {REAL_PACKAGES} here (candidates: {versions})")

    def build(work: Path) -> None:
        debs = work / "debs"
        debs.mkdir()
        subprocess.run(["apt-get", "download", *REAL_PACKAGES], cwd=debs, check=True, capture_output=True)
        for deb in debs.glob("*.deb"):
            subprocess.run(["dpkg", "-x", str(deb), str(work / "root")], check=True)
        for iso in (work / "root").rglob("*.iso"):
            shutil.copy(iso, work / iso.name)
        shutil.rmtree(debs)
        shutil.rmtree(work / "root")

    try:
        return cached_dir("debian-isos", recipe_hash([*REAL_PACKAGES, *versions]), build)
    except subprocess.CalledProcessError as error:
        pytest.skip(f"apt-get download failed (no network or archive?): {error.stderr!r}")
