"""Debian 13 (trixie) boot loaders for the VM tests, downloaded by name from Debian's archive into the
test cache (never installed on the host, never in git).

The same chain of trust as apt's: `dists/trixie/InRelease` is checked with gpgv against the host's
debian-archive-keyring (Debian 12's includes trixie's release keys); it names the SHA256 of
`main/binary-amd64/Packages.xz`; that index names each package's file and SHA256; each `.deb` is checked
against it before `dpkg-deb -x` unpacks it. The unpacked tree is a cache entry keyed on the `.deb` file
names and hashes, so a Debian point release that updates one of them makes a new entry.

Without network: a complete entry from an earlier run is used (said on stdout); with none, the fetch
fails with ArchiveUnreachable, naming the URL and the reason. ISODROP_DEBIAN_MIRROR names another mirror.
"""

from __future__ import annotations

import hashlib
import lzma
import os
import subprocess
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.harness.e2e.cache import cache_root, cached_dir, recipe_hash

DEFAULT_MIRROR = "https://deb.debian.org/debian"
SUITE = "trixie"
KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
INDEX = "main/binary-amd64/Packages.xz"
# shim-helpers-amd64-signed (MokManager, fallback) is left out: a network boot never loads them.
PACKAGES = (
    "shim-signed",  # shimx64.efi.signed: shim 16.1, signed by Microsoft's UEFI CA
    "grub-efi-amd64-signed",  # grubnetx64.efi.signed: GRUB 2.12, signed by Debian
    "grub-efi-amd64-bin",  # the same GRUB's modules (http.mod), for isodrop's grub_modules_dir
    "ipxe",
    "pxelinux",
    "syslinux-common",  # the BIOS modules pxelinux loads (ldlinux.c32, menu.c32, ...)
    "syslinux-efi",
)
LOADERS_KIND = "trixie-loaders"
MANIFEST = "debs.txt"


class ArchiveUnreachable(RuntimeError):
    """Debian's archive could not be read and no earlier download is cached."""


@dataclass(frozen=True, slots=True)
class Deb:
    package: str
    version: str
    filename: str  # pool/main/..., relative to the mirror
    sha256: str


@dataclass(frozen=True, slots=True)
class TrixieLoaders:
    """The unpacked packages (`root` is like `/` of a Debian 13 system with them installed)."""

    root: Path
    debs: tuple[Deb, ...]

    def version(self, package: str) -> str:
        return next(d.version for d in self.debs if d.package == package)

    def isodrop_settings(self) -> dict[str, str]:
        """isodrop config keys that make it serve these loaders instead of the host's."""
        usr = self.root / "usr/lib"
        return {
            "shim_file": str(usr / "shim/shimx64.efi.signed"),
            "grub_efi_file": str(usr / "grub/x86_64-efi-signed/grubnetx64.efi.signed"),
            "grub_modules_dir": str(usr / "grub/x86_64-efi"),
            "pxelinux_file": str(usr / "PXELINUX/pxelinux.0"),
            "syslinux_bios_modules": str(usr / "syslinux/modules/bios"),
            "syslinux_efi_file": str(usr / "SYSLINUX.EFI/efi64/syslinux.efi"),
            "syslinux_efi64_modules": str(usr / "syslinux/modules/efi64"),
            "ipxe_dir": str(usr / "ipxe"),
        }


def mirror() -> str:
    return os.environ.get("ISODROP_DEBIAN_MIRROR", DEFAULT_MIRROR)


def download(path: str) -> bytes:
    url = f"{mirror()}/{path}"
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.read()
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        raise ArchiveUnreachable(f"cannot download {url}: {error}") from error


def verified_release() -> str:
    """The text of InRelease whose signature gpgv accepted with Debian's archive keyring."""
    signed = download(f"dists/{SUITE}/InRelease")
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "InRelease").write_bytes(signed)
        result = subprocess.run(
            ["gpgv", "--keyring", str(KEYRING), "--output", "-", str(Path(tmp) / "InRelease")],
            capture_output=True,
            check=False,
        )
    if result.returncode != 0:
        raise RuntimeError(
            f"{mirror()}/dists/{SUITE}/InRelease: bad signature: {result.stderr.decode(errors='replace')}"
        )
    return result.stdout.decode()


def index_sha256(release: str) -> str:
    """The SHA256 InRelease gives for the amd64 Packages.xz of main."""
    in_sha256 = False
    for line in release.splitlines():
        if not line.startswith(" "):
            in_sha256 = line.startswith("SHA256:")
        elif in_sha256 and line.split()[-1] == INDEX:
            return line.split()[0]
    raise RuntimeError(f"{SUITE}'s InRelease names no SHA256 for {INDEX}")


def checked(data: bytes, sha256: str, what: str) -> bytes:
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise RuntimeError(f"{what}: SHA256 {actual}, the archive's index says {sha256}")
    return data


def parse_stanzas(text: str, wanted: tuple[str, ...]) -> dict[str, Deb]:
    """The amd64 (or all) stanza of each wanted package in a Packages file."""
    found: dict[str, Deb] = {}
    for stanza in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in stanza.splitlines() if ": " in line and not line[0].isspace())
        name = fields.get("Package", "")
        if name in wanted and fields.get("Architecture") in ("amd64", "all"):
            found[name] = Deb(name, fields["Version"], fields["Filename"], fields["SHA256"])
    missing = [name for name in wanted if name not in found]
    if missing:
        raise RuntimeError(f"{SUITE}'s {INDEX} has no package {' '.join(missing)}")
    return found


def current_debs() -> tuple[Deb, ...]:
    """The packages as Debian 13 has them today (index cached by its hash: only InRelease is fetched
    again when nothing changed)."""
    sha256 = index_sha256(verified_release())

    def build(work: Path) -> None:
        text = lzma.decompress(checked(download(f"dists/{SUITE}/{INDEX}"), sha256, INDEX)).decode()
        stanzas = parse_stanzas(text, PACKAGES)
        (work / MANIFEST).write_text(
            "".join(f"{d.package} {d.version} {d.filename} {d.sha256}\n" for d in stanzas.values())
        )

    return read_manifest(cached_dir("trixie-index", sha256[:16], build) / MANIFEST)


def read_manifest(path: Path) -> tuple[Deb, ...]:
    return tuple(Deb(*line.split()) for line in path.read_text().splitlines())


def unpacked(debs: tuple[Deb, ...]) -> Path:
    def build(work: Path) -> None:
        root = work / "root"
        root.mkdir()
        for deb in debs:
            file = work / Path(deb.filename).name
            file.write_bytes(checked(download(deb.filename), deb.sha256, deb.filename))
            subprocess.run(["dpkg-deb", "-x", str(file), str(root)], check=True)
            file.unlink()
        (work / MANIFEST).write_text("".join(f"{d.package} {d.version} {d.filename} {d.sha256}\n" for d in debs))

    return cached_dir(LOADERS_KIND, recipe_hash(f"{d.filename} {d.sha256}" for d in debs), build)


def trixie_loaders() -> TrixieLoaders:
    """Debian 13's loaders unpacked in the test cache: downloaded once per set of package versions."""
    try:
        entry = unpacked(current_debs())
    except ArchiveUnreachable as error:
        earlier = sorted(p for p in cache_root().glob(f"{LOADERS_KIND}-*") if (p / ".complete").exists())
        if not earlier:
            raise ArchiveUnreachable(f"Debian 13's boot loaders are not cached and {error}") from error
        entry = earlier[-1]
        print(f"[e2e] Debian's archive unreachable ({error}): using the cached {entry.name}")
    return TrixieLoaders(entry / "root", read_manifest(entry / MANIFEST))
