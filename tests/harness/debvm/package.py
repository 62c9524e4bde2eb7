"""Build the .deb the way a person (or CI) does: packaging/build-deb.sh OUTPUT_DIR."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
BUILD_TOOLS = ("dpkg-buildpackage", "dh", "dh_python3", "lintian")


def missing_build_tools() -> list[str]:
    missing = [tool for tool in BUILD_TOOLS if shutil.which(tool, path="/usr/sbin:/usr/bin:/sbin:/bin") is None]
    if not Path("/usr/share/perl5/Debian/Debhelper/Buildsystem/pybuild.pm").exists():
        missing.append("dh-python (pybuild)")
    if not Path("/usr/share/dh-python/dhpython/build/plugin_pyproject.py").exists():
        missing.append("pybuild-plugin-pyproject")
    return missing


def build_deb(output_dir: Path) -> Path:
    result = subprocess.run(
        ["sh", str(REPO / "packaging/build-deb.sh"), str(output_dir)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"build-deb.sh failed:\n{result.stdout}\n{result.stderr}")
    deb = Path(result.stdout.strip().splitlines()[-1])
    assert deb.is_file() and deb.name.startswith("isodrop_") and deb.name.endswith("_all.deb"), deb
    return deb
