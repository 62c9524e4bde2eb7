"""Debian 13's signed shim and network GRUB (grub 2.12), fetched from the host's Debian archive and cached.

Debian 13's `grubnetx64.efi.signed` carries the efinet proxy-DHCP patch that Debian 12's lacks
(docs/secure-boot-vendors.md, section 3); the tests boot it beside a router that names no boot server.
The packages come through a private apt state (tests/e2e/testvendor.py `private_apt_options`), so the host's
apt configuration is untouched and nothing is installed. The folder holds:

    shimx64.efi       shim-signed's /usr/lib/shim/shimx64.efi.signed (Microsoft-signed, Debian's CA inside)
    grubnetx64.efi    grub-efi-amd64-signed's network image (Debian-signed; tftp, http; prefix /grub)
    versions          the two packages' versions
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.e2e.cache import cached_dir, recipe_hash
from tests.e2e.testvendor import private_apt_options, run

RELEASE = "trixie"
FILES = {
    "shim-signed": ("usr/lib/shim/shimx64.efi.signed", "shimx64.efi"),
    "grub-efi-amd64-signed": ("usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed", "grubnetx64.efi"),
}


def build(folder: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="debian13grub-") as tmp:
        work = Path(tmp)
        options = private_apt_options(work / "apt", release=RELEASE)
        run(["apt-get", *options, "-qq", "update"])
        debs = work / "debs"
        debs.mkdir()
        os.chmod(work, 0o755)
        os.chmod(debs, 0o777)  # apt-get download drops to _apt when it can write here
        run(["apt-get", *options, "-qq", "download", *FILES], cwd=debs)
        versions = []
        for package, (inside, name) in FILES.items():
            (deb,) = debs.glob(f"{package}_*.deb")
            run(["dpkg-deb", "-x", str(deb), str(work / package)])
            shutil.copyfile(work / package / inside, folder / name)
            version = subprocess.run(
                ["dpkg-deb", "-f", str(deb), "Version"], capture_output=True, text=True, check=True
            )
            versions.append(f"{package} {version.stdout.strip()}\n")
        (folder / "versions").write_text("".join(versions))


def debian13_grub() -> Path:
    """The cached folder; a new recipe (this file) fetches the release's current packages again."""
    return cached_dir("debian13-grub", recipe_hash([Path(__file__).read_text(), RELEASE]), build)


if __name__ == "__main__":
    print(debian13_grub())
