"""Slow test artefacts (kernels, initrds, ISOs) cached between runs, keyed on a hash of their recipe.

A cache entry is a folder `<cache root>/<kind>-<hash>`; it is built in a temporary sibling folder and
renamed into place only when complete, so an interrupted build never leaves a half entry behind.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path


def cache_root() -> Path:
    root = Path(os.environ.get("ISODROP_TEST_CACHE", "/var/cache/isodrop-tests"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def recipe_hash(parts: Iterable[str | bytes]) -> str:
    """A short stable hash of everything that shapes an artefact (script text, package versions)."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()[:16]


def cached_dir(kind: str, key: str, build: Callable[[Path], None]) -> Path:
    """Return the cache folder for (kind, key), calling `build(tmpdir)` to fill it if missing.

    Building a new recipe of a kind deletes the entries of older recipes of that kind."""
    final = cache_root() / f"{kind}-{key}"
    if (final / ".complete").exists():
        return final
    work = Path(tempfile.mkdtemp(prefix=f".{kind}-{key}-", dir=cache_root()))
    try:
        build(work)
        (work / ".complete").write_text(key + "\n")
        if final.exists():  # a leftover without .complete
            shutil.rmtree(final)
        work.chmod(0o755)
        os.rename(work, final)
        for stale in cache_root().glob(f"{kind}-*"):  # older recipes of the same artefact
            if stale != final and len(stale.name) == len(final.name):
                shutil.rmtree(stale, ignore_errors=True)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return final


def package_version(name: str) -> str:
    """Installed version of a Debian package, or its candidate version when it is not installed."""
    result = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status} ${Version}", name], capture_output=True, text=True, check=False
    )
    if result.returncode == 0 and result.stdout.startswith("install ok installed"):
        return result.stdout.split()[-1]
    return candidate_version(name)


def candidate_version(name: str) -> str:
    result = subprocess.run(["apt-cache", "policy", name], capture_output=True, text=True, check=True)
    for line in result.stdout.splitlines():
        if line.strip().startswith("Candidate:"):
            version = line.split(":", 1)[1].strip()
            if version and version != "(none)":
                return version
    raise RuntimeError(f"apt knows no version of {name}: run apt-get update (tests/setup.sh)")
