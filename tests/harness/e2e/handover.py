"""The hand-over to an ISO's own Secure Boot chain (issue 19): the pieces tests/system/test_vendor_handover.py
builds, and what isodrop must reproduce.

- dnsmasq `tftp-unique-root=mac` serves every file a PC asks for from `<tftp-root>/<client folder>/` once
  that folder exists; `client_folder_name` is dnsmasq's name for it (`%.2x-%.2x-...` in src/tftp.c).
- `vendor_net_grub`: the test vendor's network GRUB built from Debian 13's GRUB 2.12 modules, whose
  `efinet` carries Fedora's proxy-DHCP patch (Debian 12's 2.06 modules ignore proxy offers), with Fedora's
  CD-image prefix `/EFI/BOOT`, signed by the vendor key; cached by recipe like the test vendor.
- `vendor_kernels`: Debian's live kernel signed by the vendor, by the stranger, and unsigned; cached.
- `write_client_folder`: the per-PC folder, files hard-linked from a tree as isodrop would.
- `LogFollower`: dnsmasq's log file read as it grows, each line with the monotonic time it was seen.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tests.harness.e2e.cache import cached_dir, recipe_hash
from tests.harness.e2e.liveiso import base_dir
from tests.harness.e2e.testvendor import GRUB_SBAT, NET_MODULES, VendorKit, run, sign, sign_kernel
from tests.harness.e2e.trixie_debs import trixie_loaders

# GRUB 2.12 folded linuxefi into linux; the rest of the network set is the same as the 2.06 one.
NET_MODULES_212 = tuple(m for m in NET_MODULES if m != "linuxefi")
GRUB212_NAME = "grubx64-net212.efi"
FEDORA_CD_PREFIX = "/EFI/BOOT"  # grub.macros `efi_mkimage ... -p /EFI/BOOT` (docs/secure-boot-vendors.md section 1)


def client_folder_name(mac: str) -> str:
    """The folder dnsmasq's tftp-unique-root=mac looks for: the MAC in lower-case hex, joined by dashes."""
    octets = re.split(r"[:-]", mac)
    if len(octets) != 6 or not all(re.fullmatch(r"[0-9a-fA-F]{2}", o) for o in octets):
        raise ValueError(f"not an Ethernet MAC: {mac!r}")
    return "-".join(o.lower() for o in octets)


def vendor_net_grub(kit: VendorKit) -> Path:
    """The vendor's network GRUB from Debian 13's 2.12 modules (proxy patch), prefix /EFI/BOOT, cached.

    Debian 12's grub-mkimage assembles 2.12 modules fine (the image format did not change); the embedded
    .sbat is the test vendor's (grub,5 passes the level the test shim applies)."""
    loaders = trixie_loaders()
    modules = loaders.root / "usr/lib/grub/x86_64-efi"

    def build(folder: Path) -> None:
        with tempfile.TemporaryDirectory(prefix="vendor-grub212-") as tmp:
            sbat, unsigned = Path(tmp) / "sbat.csv", Path(tmp) / "grub.efi"
            sbat.write_text(GRUB_SBAT)
            run([
                "grub-mkimage", "-O", "x86_64-efi", "-d", str(modules), "-p", FEDORA_CD_PREFIX,
                "--sbat", str(sbat), "-o", str(unsigned), *NET_MODULES_212,
            ])  # fmt: skip
            sign(unsigned, kit.key("vendor"), kit.cert("vendor"), folder / GRUB212_NAME)

    recipe = [Path(__file__).read_text(), kit.folder.name, loaders.version("grub-efi-amd64-bin")]
    return cached_dir("vendor-grub212", recipe_hash(recipe), build) / GRUB212_NAME


@dataclass(frozen=True)
class VendorKernels:
    vendor: Path  # re-signed by the vendor key: the vendor's shim trusts it
    stranger: Path  # signed by a key nobody trusts
    unsigned: Path  # no signature at all


def vendor_kernels(kit: VendorKit) -> VendorKernels:
    """Debian's live kernel three ways, cached per kit and kernel."""
    debian = base_dir() / "vmlinuz"

    def build(folder: Path) -> None:
        sign_kernel(kit, debian, folder / "vmlinuz-vendor", "vendor")
        sign_kernel(kit, debian, folder / "vmlinuz-stranger", "stranger")
        shutil.copyfile(debian, folder / "vmlinuz-unsigned")
        subprocess.run(["sbattach", "--remove", str(folder / "vmlinuz-unsigned")], check=True, capture_output=True)

    recipe = [Path(__file__).read_text(), kit.folder.name, base_dir().name]
    folder = cached_dir("vendor-kernels", recipe_hash(recipe), build)
    return VendorKernels(folder / "vmlinuz-vendor", folder / "vmlinuz-stranger", folder / "vmlinuz-unsigned")


def write_client_folder(tftp_root: Path, mac: str, links: dict[str, Path], texts: dict[str, str]) -> Path:
    """`<tftp_root>/<client folder>/` with each of `links` (path in the folder -> file in the tree, which
    must be on the same file system) as a hard link and each of `texts` written; made under a temporary
    name and renamed into place, so dnsmasq never serves a half-made folder."""
    final = tftp_root / client_folder_name(mac)
    work = tftp_root / f".{final.name}.new"
    shutil.rmtree(work, ignore_errors=True)
    for relative, source in links.items():
        (work / relative).parent.mkdir(parents=True, exist_ok=True)
        os.link(source, work / relative)
    for relative, text in texts.items():
        (work / relative).parent.mkdir(parents=True, exist_ok=True)
        (work / relative).write_text(text)
    for folder in [work, *(p for p in work.rglob("*") if p.is_dir())]:
        folder.chmod(0o755)  # dnsmasq reads it after dropping privileges
    os.rename(work, final)
    return final


class LogFollower:
    """dnsmasq's log file as it grows: every line with the time.monotonic() at which it was read (polled
    every 50 ms, so a time is at most that late)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name=f"follow-{path.name}", daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        offset, partial = 0, b""
        while not self._stop.is_set():
            try:
                with open(self.path, "rb") as log:
                    log.seek(offset)
                    data = log.read()
            except FileNotFoundError:
                data = b""
            offset += len(data)
            now = time.monotonic()
            *complete, partial = (partial + data).split(b"\n")
            with self._lock:
                self.lines += [(now, line.decode(errors="replace")) for line in complete]
            self._stop.wait(0.05)

    def wait_for(self, pattern: str, timeout: float, after: float = 0.0) -> tuple[float, re.Match[str]]:
        """The first line seen after monotonic time `after` that matches `pattern`: (time seen, match)."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while True:
            with self._lock:
                lines = list(self.lines)
            for seen, line in lines:
                match = regex.search(line)
                if seen > after and match:
                    return seen, match
            if time.monotonic() > deadline:
                tail = "\n".join(line for _, line in lines[-30:])
                raise TimeoutError(f"no line matching {pattern!r} in {self.path} within {timeout:.0f} s:\n{tail}")
            time.sleep(0.05)

    def text(self) -> str:
        with self._lock:
            return "\n".join(line for _, line in self.lines)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
