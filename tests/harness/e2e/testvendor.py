"""A "test vendor" with the Secure Boot shape of Ubuntu or Fedora, built from Debian's sources and tools.

Real Ubuntu and Fedora signed binaries cannot be downloaded here, so the tests build a vendor of their own
(issue 19, docs/secure-boot-vendors.md), cached by recipe:

    keys/ca.{key,pem,der}          a stand-in for Microsoft's third-party UEFI CA (signs the shim)
    keys/vendor.{key,pem,der}      the vendor's key: built into the shim, signs GRUB and kernels
    keys/stranger.{key,pem}        a key nobody trusts (for images that must be refused)
    (sign_kernel)                  a kernel re-signed by the vendor key, made per test from Debian's
    OVMF_VARS_4M.testca.fd         Debian's OVMF_VARS_4M.ms.fd (Microsoft's PK, KEK, db; Secure Boot on)
                                   plus the test CA in db, so Debian's real shim keeps booting as well
    shimx64.efi, mmx64.efi         Debian's shim source built with the vendor certificate, signed by the CA
    grubx64-net.efi                GRUB 2.06 from Debian's modules with a vendor's network module set,
    grubx64-cd.efi                 and with the CD set that has no tftp/http; both signed by the vendor key

The OVMF variables are edited offline with `virt-fw-vars` (PyPI virt-firmware; Debian 12 has no
python3-virt-firmware), which keeps Microsoft's keys: db can only be changed inside the firmware with a
KEK-signed update, whose private key only Microsoft holds. The shim source comes from the machine's own
Debian archive through a private apt state (deb-src lists), so the host's apt configuration is untouched.

Command line: `python3 -m tests.harness.e2e.testvendor` builds (or finds) the vendor and prints its folder.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.harness.e2e.cache import cache_root, cached_dir, package_version, recipe_hash
from tests.harness.e2e.vm import OVMF_CODE_SECBOOT

VIRT_FIRMWARE = "virt-firmware==26.10"
# A fixed owner GUID for the test CA's db entry (any GUID works; a fixed one keeps the vars reproducible).
TEST_CA_OWNER = "8be4df61-93ca-11d2-aa0d-00e098032b8c"
OVMF_VARS_MS = Path("/usr/share/OVMF/OVMF_VARS_4M.ms.fd")
GRUB_MODULE_DIR = Path("/usr/lib/grub/x86_64-efi")
# The modules of Debian's and Ubuntu's signed CD image (gcdx64.efi, the one their ISOs carry as
# EFI/BOOT/grubx64.efi): efinet is in, but neither tftp nor http, so it cannot read files from the
# network (debian/build-efi-images in grub2 2.06-13+deb12u2, CD_MODULES plus the x86_64 additions).
CD_MODULES = (
    "all_video", "boot", "btrfs", "cat", "chain", "configfile", "echo", "efifwsetup", "efinet", "ext2", "fat",
    "font", "f2fs", "gettext", "gfxmenu", "gfxterm", "gfxterm_background", "gzio", "halt", "help", "hfsplus",
    "iso9660", "jpeg", "keystatus", "loadenv", "loopback", "linux", "ls", "lsefi", "lsefimmap", "lsefisystab",
    "lssal", "memdisk", "minicmd", "normal", "part_apple", "part_msdos", "part_gpt", "password_pbkdf2", "png",
    "probe", "reboot", "regexp", "search", "search_fs_uuid", "search_fs_file", "search_label", "serial", "sleep",
    "smbios", "squash4", "test", "true", "video", "xfs", "zfs", "zfscrypt", "zfsinfo", "cpuid", "linuxefi", "play",
    "tpm",
)  # fmt: skip
# Ubuntu's network image (grubnetx64.efi) is the CD set plus http and tftp; Fedora's one grubx64.efi also
# has both (and efinet, net), so one "network" set stands for both vendors.
NET_MODULES = (*CD_MODULES, "http", "tftp")
# shim and GRUB refuse a second stage or kernel without an .sbat section under Secure Boot; the generation
# numbers are those of Debian's GRUB 2.06-13+deb12u2, which pass the SBAT level Debian's shim applies.
GRUB_SBAT = """\
sbat,1,SBAT Version,sbat,1,https://github.com/rhboot/shim/blob/main/SBAT.md
grub,5,Free Software Foundation,grub,2.06,https://www.gnu.org/software/grub/
grub.isodroptest,1,isodrop test vendor,grub2,2.06,https://example.invalid/isodrop-test-vendor
"""
# What Debian's debian/rules passes to shim's make, less the Debian certificate, dbx list and EFI folder.
SHIM_MAKE_OPTIONS = (
    "MAKELEVEL=0",
    "ENABLE_HTTPBOOT=true",
    "SBAT_AUTOMATIC_DATE=2025021800",
    "POST_PROCESS_PE_FLAGS=-N",
)
TOOL_PACKAGES = ("shim-unsigned", "grub-efi-amd64-bin", "ovmf", "sbsigntool", "openssl", "gcc")


@dataclass(frozen=True)
class VendorKit:
    folder: Path

    def key(self, name: str) -> Path:
        return self.folder / "keys" / f"{name}.key"

    def cert(self, name: str) -> Path:
        return self.folder / "keys" / f"{name}.pem"

    @property
    def ovmf_vars(self) -> Path:
        return self.folder / "OVMF_VARS_4M.testca.fd"

    @property
    def shim(self) -> Path:
        return self.folder / "shimx64.efi"

    @property
    def mokmanager(self) -> Path:
        return self.folder / "mmx64.efi"

    @property
    def grub_net(self) -> Path:
        return self.folder / "grubx64-net.efi"

    @property
    def grub_cd(self) -> Path:
        return self.folder / "grubx64-cd.efi"


def run(argv: list[str], cwd: Path | None = None) -> None:
    """Run a build step; its output only when it fails (a shim build prints thousands of lines)."""
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} failed ({result.returncode}):\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
        )


def make_key(keys: Path, name: str) -> None:
    """A self-signed RSA-2048 certificate, as PEM (sbsign, virt-fw-vars) and DER (shim's VENDOR_CERT_FILE)."""
    run([
        "openssl", "req", "-new", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "36500",
        "-subj", f"/CN=isodrop test {name}/", "-keyout", str(keys / f"{name}.key"), "-out", str(keys / f"{name}.pem"),
    ])  # fmt: skip
    run(["openssl", "x509", "-in", str(keys / f"{name}.pem"), "-outform", "DER", "-out", str(keys / f"{name}.der")])


def sign(image: Path, key: Path, cert: Path, output: Path) -> None:
    run(["sbsign", "--key", str(key), "--cert", str(cert), "--output", str(output), str(image)])


def virt_fw_vars() -> Path:
    """`virt-fw-vars` in a cached venv that uses Debian's python3-cryptography."""

    def build(folder: Path) -> None:
        run(["/usr/bin/python3", "-m", "venv", "--system-site-packages", str(folder / "venv")])
        run([str(folder / "venv/bin/pip"), "install", "-q", VIRT_FIRMWARE])

    # the venv's scripts name their interpreter by path: it is built in place, not in the temp folder
    folder = cache_root() / f"virt-firmware-{recipe_hash([VIRT_FIRMWARE])}"
    tool = folder / "venv/bin/virt-fw-vars"
    if not tool.exists():
        shutil.rmtree(folder, ignore_errors=True)  # a build that was interrupted
        try:
            build(folder)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
    return tool


def enroll_test_ca(ca_cert: Path, output: Path) -> None:
    run([
        str(virt_fw_vars()), "--input", str(OVMF_VARS_MS), "--output", str(output),
        "--add-db", TEST_CA_OWNER, str(ca_cert),
    ])  # fmt: skip


def private_apt_options(state: Path, source: bool = False, release: str | None = None) -> list[str]:
    """apt options for a private state (lists, cache) whose sources are the host's Debian archive: as
    deb-src lists (`source`) and/or for another `release` (then without the security archive)."""
    (state / "lists/partial").mkdir(parents=True, exist_ok=True)
    (state / "cache/archives/partial").mkdir(parents=True, exist_ok=True)
    (state / "sources.list.d").mkdir(exist_ok=True)
    stanzas = []
    for file in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        for stanza in file.read_text().split("\n\n"):
            if not re.search(r"^Types:.*\bdeb\b", stanza, re.M) or (release and "security" in stanza):
                continue
            if release:
                stanza = re.sub(r"^Suites:.*$", f"Suites: {release}", stanza, flags=re.M)
            if source:
                stanza = re.sub(r"^Types:.*$", "Types: deb-src", stanza, flags=re.M)
            stanzas.append(stanza.strip())
    (state / "sources.list.d" / "host.sources").write_text("\n\n".join(stanzas) + "\n")
    classic = Path("/etc/apt/sources.list")
    lines = []
    for line in classic.read_text().splitlines() if classic.exists() else []:
        match = re.match(r"deb\s+(\[[^]]*\]\s+)?(\S+)\s+(\S+)(.*)", line)
        if match is None or (release and "security" in line):
            continue
        options, uri, suite, components = match.groups()
        lines.append(f"{'deb-src' if source else 'deb'} {options or ''}{uri} {release or suite}{components}\n")
    (state / "sources.list").write_text("".join(lines))
    return [
        "-o", f"Dir::Etc::SourceList={state / 'sources.list'}",
        "-o", f"Dir::Etc::SourceParts={state / 'sources.list.d'}",
        "-o", f"Dir::State::Lists={state / 'lists'}", "-o", f"Dir::Cache={state / 'cache'}",
    ]  # fmt: skip


def build_shim(vendor_der: Path, ca_key: Path, ca_cert: Path, output: Path) -> None:
    """Debian's shim source (the version of the installed shim-unsigned) built with our vendor cert."""
    version = package_version("shim-unsigned")
    with tempfile.TemporaryDirectory(prefix="testvendor-shim-") as tmp:
        work = Path(tmp)
        options = private_apt_options(work / "apt", source=True)
        run(["apt-get", *options, "-qq", "update"])
        run(["apt-get", *options, "-qq", "source", "--download-only", f"shim={version}"], cwd=work)
        dsc = next(work.glob("shim_*.dsc"))
        run(["dpkg-source", "-x", dsc.name, "src"], cwd=work)
        source = work / "src"
        upstream = version.split("-")[0]
        run(
            ["make", "-j2", f"VENDOR_CERT_FILE={vendor_der}", "EFIDIR=isodroptest", f"RELEASE={upstream}",
             *SHIM_MAKE_OPTIONS],
            cwd=source,
        )  # fmt: skip
        for name in ("shimx64.efi", "mmx64.efi"):
            sign(source / name, ca_key, ca_cert, output / name)


def build_grub(
    output: Path, modules: tuple[str, ...] | list[str], key: Path, cert: Path, prefix: str, early_config: str = ""
) -> Path:
    """A monolithic GRUB image from Debian's modules (as the vendors build theirs), signed by `key`.

    `early_config` is embedded and run before normal mode (GRUB's rescue parser: no `if`)."""
    with tempfile.TemporaryDirectory(prefix="testvendor-grub-") as tmp:
        sbat = Path(tmp) / "sbat.csv"
        sbat.write_text(GRUB_SBAT)
        unsigned = Path(tmp) / "grub.efi"
        argv = ["grub-mkimage", "-O", "x86_64-efi", "-d", str(GRUB_MODULE_DIR), "-p", prefix, "--sbat", str(sbat)]
        if early_config:
            config = Path(tmp) / "early.cfg"
            config.write_text(early_config)
            argv += ["-c", str(config)]
        run([*argv, "-o", str(unsigned), *modules])
        sign(unsigned, key, cert, output)
    return output


def sign_kernel(kit: VendorKit, kernel: Path, output: Path, signer: str = "vendor") -> Path:
    """A copy of `kernel` (e.g. Debian's) with its signatures replaced by `signer`'s: a vendor's kernel."""
    with tempfile.TemporaryDirectory(prefix="testvendor-kernel-") as tmp:
        unsigned = Path(tmp) / "vmlinuz"
        shutil.copyfile(kernel, unsigned)
        run(["sbattach", "--remove", str(unsigned)])
        sign(unsigned, kit.key(signer), kit.cert(signer), output)
    return output


def disk_boot_args(esp: Path, vars_copy: Path) -> list[str]:
    """QEMU arguments for a PC with OVMF's Secure Boot build that boots from `esp`, a folder QEMU shows
    as a read-only FAT disk (no mtools or mkfs needed); `vars_copy` is that PC's own variable store."""
    return [
        "-machine", "q35,smm=on", "-no-reboot", "-nic", "none",
        "-global", "driver=cfi.pflash01,property=secure,value=on",
        "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE_SECBOOT}",
        "-drive", f"if=pflash,format=raw,unit=1,file={vars_copy}",
        "-drive", f"if=virtio,format=raw,readonly=on,file=fat:{esp}",
    ]  # fmt: skip


def recipe() -> list[str]:
    return [Path(__file__).read_text(), *(f"{name} {package_version(name)}" for name in TOOL_PACKAGES)]


def build(folder: Path) -> None:
    keys = folder / "keys"
    keys.mkdir()
    for name in ("ca", "vendor", "stranger"):
        make_key(keys, name)
    vendor = VendorKit(folder)
    enroll_test_ca(vendor.cert("ca"), vendor.ovmf_vars)
    build_shim(keys / "vendor.der", vendor.key("ca"), vendor.cert("ca"), folder)
    signing = (vendor.key("vendor"), vendor.cert("vendor"))
    build_grub(vendor.grub_net, NET_MODULES, *signing, prefix="/boot/grub")
    build_grub(vendor.grub_cd, CD_MODULES, *signing, prefix="/boot/grub")


def vendor_kit() -> VendorKit:
    return VendorKit(cached_dir("testvendor", recipe_hash(recipe()), build))


if __name__ == "__main__":
    print(vendor_kit().folder)
    sys.exit(0)
