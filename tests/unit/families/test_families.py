"""Families: every fixture layout is built into a real ISO, then recognised both straight from the
image (`IsoTree`) and from an extracted folder (`DirTree`); the full boot entry is checked.

Real ISOs nobody here wrote (Debian's memtest86+ and grub-rescue-pc) are fetched with
`apt-get download` once and cached.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from isodrop.extract import IsoTree
from isodrop.families import FAMILIES, DirTree, Tree, initramfs, recognise
from isodrop.families.bootcfg import default_entry, split_params
from isodrop.families.initramfs import read_initrd
from isodrop.model import BootEntry, NotBootable, ServerContext
from tests.harness.e2e.cache import cached_dir, recipe_hash
from tests.harness.family_layouts import LAYOUTS, Layout, cpio, write_tree
from tests.harness.isofactory import build_iso

SERVER = "192.168.50.1"


def context(name: str) -> ServerContext:
    return ServerContext(server=SERVER, nfs_path=f"/srv/tftp/isodrop/{name}", tftp_path=f"isodrop/{name}")


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


NFS = "nfsroot={S}:/srv/tftp/isodrop/{N}"
CASPER = f"boot=casper netboot=nfs {NFS} ip=dhcp"
LIVE = f"boot=live components netboot=nfs {NFS} ip=dhcp"

# name: (family, label, kernel, initrds, command line, one piece of evidence)
BOOTABLE = {
    "ubuntu_2204": (
        "ubuntu",
        "Ubuntu 22.04.4 LTS (Jammy Jellyfish) amd64",
        "casper/vmlinuz",
        ("casper/initrd",),
        CASPER,
        "casper/filesystem.squashfs",
    ),
    "ubuntu_2404": (
        "ubuntu-layered",
        "Ubuntu 24.04.1 LTS (Noble Numbat) amd64",
        "casper/vmlinuz",
        ("casper/initrd",),
        CASPER + " layerfs-path=minimal.standard.live.squashfs",
        "casper/minimal.en.squashfs",
    ),
    "ubuntu_server_2404": (
        "ubuntu-layered",
        "Ubuntu-Server 24.04.1 LTS (Noble Numbat) amd64",
        "casper/vmlinuz",
        ("casper/initrd",),
        CASPER,
        "casper/ubuntu-server-minimal.ubuntu-server.installer.generic-hwe.squashfs",
    ),
    "linuxmint_22": (
        "linuxmint",
        "Linux Mint 22 (Wilma) amd64",
        "casper/vmlinuz",
        ("casper/initrd.lz",),
        CASPER + " file=/cdrom/preseed/linuxmint.seed",
        "preseed/linuxmint.seed",
    ),
    "elementary_7": (
        "elementary",
        "elementary OS 7.1 (Horus) amd64",
        "casper/vmlinuz",
        ("casper/initrd.gz",),
        CASPER,
        ".disk/info or volume ID mentions 'elementary OS'",
    ),
    "popos_2204": (
        "pop-os",
        "Pop!_OS 22.04 LTS (Jammy Jellyfish) amd64",
        "casper_pop-os_22.04_amd64_intel_debug_409/vmlinuz.efi",
        ("casper_pop-os_22.04_amd64_intel_debug_409/initrd.gz",),
        CASPER + " live-media-path=/casper_pop-os_22.04_amd64_intel_debug_409",
        "casper_pop-os_22.04_amd64_intel_debug_409/filesystem.squashfs",
    ),
    "debian_11_live": (
        "debian-live",
        "Debian GNU/Linux 11.9.0 (Bullseye) amd64",
        "live/vmlinuz-5.10.0-28-amd64",
        ("live/initrd.img-5.10.0-28-amd64",),
        LIVE,
        "live/filesystem.squashfs",
    ),
    "debian_12_live": (
        "debian-live",
        "Debian GNU/Linux 12.7.0 (Bookworm) amd64",
        "live/vmlinuz",
        ("live/initrd.img",),
        LIVE,
        "live/filesystem.squashfs",
    ),
    "kali_2024": (
        "kali",
        "Kali GNU/Linux 2024.3 (Kali-last-snapshot) amd64",
        "live/vmlinuz",
        ("live/initrd.img",),
        LIVE + " username=kali hostname=kali",
        ".disk/info or volume ID mentions 'Kali'",
    ),
    "clonezilla_3": (
        "clonezilla",
        "Clonezilla live 3.1.2-22 amd64",
        "live/vmlinuz",
        ("live/initrd.img",),
        "boot=live union=overlay username=user hostname=bookworm config quiet loglevel=0 noswap edd=on nomodeset "
        'enforcing=0 locales= keyboard-layouts= ocs_live_run="ocs-live-general" ocs_live_extra_param="" '
        'ocs_live_batch="no" vga=788 net.ifnames=0 splash i915.blacklist=yes radeonhd.blacklist=yes '
        f"nouveau.blacklist=yes vmwgfx.enable_fbdev=1 netboot=nfs {NFS} ip=dhcp",
        "Clonezilla-Live-Version",
    ),
    "gparted_1_6": (
        "gparted",
        "GParted Live 1.6.0-3 amd64",
        "live/vmlinuz",
        ("live/initrd.img",),
        "boot=live union=overlay username=user config components quiet noswap loglevel=0 "
        f"net.ifnames=0 splash netboot=nfs {NFS} ip=dhcp",  # its menu's toram=filesystem.squashfs dropped
        "GParted-Live-Version",
    ),
    "fedora_41": (
        "fedora",
        "Fedora Workstation Live 41 (1.4)",
        "images/pxeboot/vmlinuz",
        ("images/pxeboot/initrd.img",),
        "root=live:nfs://{S}/srv/tftp/isodrop/{N}/LiveOS/squashfs.img rd.live.image ip=dhcp",
        "images/pxeboot/vmlinuz",
    ),
    "fedora_42": (
        "fedora",
        "Fedora Workstation Live 42 (1.1)",
        "boot/x86_64/loader/linux",
        ("boot/x86_64/loader/initrd",),
        "root=live:nfs://{S}/srv/tftp/isodrop/{N}/LiveOS/squashfs.img rd.live.image ip=dhcp",
        "boot/x86_64/loader/linux",
    ),
    "arch_2023": (
        "arch",
        "Arch Linux 2023.09.01",
        "arch/boot/x86_64/vmlinuz-linux",
        ("arch/boot/amd-ucode.img", "arch/boot/intel-ucode.img", "arch/boot/x86_64/initramfs-linux.img"),
        "archisobasedir=arch archiso_nfs_srv={S}:/srv/tftp/isodrop/{N} copytoram=n ip=dhcp",
        "arch/x86_64/airootfs.sfs",
    ),
    "arch_2024": (
        "arch",
        "Arch Linux 2024.11.01",
        "arch/boot/x86_64/vmlinuz-linux",
        ("arch/boot/x86_64/initramfs-linux.img",),
        "archisobasedir=arch archiso_nfs_srv={S}:/srv/tftp/isodrop/{N} copytoram=n ip=dhcp",
        "arch/x86_64/airootfs.sfs",
    ),
    "systemrescue_11": (
        "systemrescue",
        "SystemRescue 11.03",
        "sysresccd/boot/x86_64/vmlinuz",
        ("sysresccd/boot/amd_ucode.img", "sysresccd/boot/intel_ucode.img", "sysresccd/boot/x86_64/sysresccd.img"),
        "archisobasedir=sysresccd archiso_nfs_srv={S}:/srv/tftp/isodrop/{N} copytoram=n ip=dhcp",
        "sysresccd/x86_64/airootfs.sfs",
    ),
    "manjaro_24": (
        "manjaro",
        "Manjaro KDE 2410",
        "boot/vmlinuz-x86_64",
        ("boot/amd_ucode.img", "boot/intel_ucode.img", "boot/initramfs-x86_64.img"),
        "misobasedir=manjaro miso_nfs_srv={S}:/srv/tftp/isodrop/{N} copytoram=n ip=dhcp",
        "manjaro/x86_64/rootfs.sfs",
    ),
    "memtest86plus_6": ("memtest86+", "Memtest86+ (64-bit)", "boot/floppy.img", (), "", "boot/floppy.img"),
}

# The generic fallback: ISOs no family names, booted the way their own menu does plus NFS.
GUESSED = {
    "blackarch_2023": (
        "generic",
        "BLACKARCH_202304",
        "blackarch/boot/x86_64/vmlinuz-linux",
        (
            "blackarch/boot/intel-ucode.img",
            "blackarch/boot/amd-ucode.img",
            "blackarch/boot/x86_64/initramfs-linux.img",
        ),
        "archisobasedir=blackarch archiso_nfs_srv={S}:/srv/tftp/isodrop/{N} copytoram=n ip=dhcp",
        "initramfs: archiso (from its command line)",
    ),
    "nobara_40": (
        "generic",
        "Nobara-40-KDE",
        "isolinux/vmlinuz",
        ("isolinux/initrd.img",),
        "rd.live.image quiet rhgb root=live:nfs://{S}/srv/tftp/isodrop/{N}/LiveOS/squashfs.img ip=dhcp",
        "initramfs: dracut (from its command line)",
    ),
    "custom_casper": (
        "generic",
        "MYLIVE_1_0",
        "boot/vmlinuz",
        ("boot/initrd.gz",),
        f"live-media-path=/system quiet splash boot=casper netboot=nfs {NFS} ip=dhcp",
        "initramfs: casper (from files inside boot/initrd.gz)",
    ),
}


@pytest.mark.parametrize("name", [*BOOTABLE, *GUESSED])
def test_bootable_layout(make_tree, name: str) -> None:
    family, label, kernel, initrds, cmdline, evidence = (BOOTABLE | GUESSED)[name]
    entry = recognise(make_tree(name), context(name))
    assert isinstance(entry, BootEntry), entry
    assert entry.family == family
    assert entry.label == label
    assert entry.kernel == kernel
    assert entry.initrds == initrds
    assert entry.cmdline == cmdline.format(S=SERVER, N=name)
    assert evidence in entry.evidence
    assert entry.guessed == (name in GUESSED)


# name: (family, words the reason must contain)
NOT_BOOTABLE = {
    "ubuntu_2404_missing_layer": (
        "ubuntu-layered",
        "casper/minimal.standard.en.squashfs sits on casper/minimal.standard.squashfs, which is not in the ISO",
    ),
    "manjaro_24_without_pxe": ("manjaro", "built without miso's network boot hooks (no hooks/miso_pxe_nfs"),
    "arch_custom_without_pxe": ("arch", "has no archiso_pxe_nfs hook, so archiso_nfs_srv= would be ignored"),
    "tails_6": ("tails", "Tails does not support network boot"),
    "knoppix_9": ("knoppix", "looks for its KNOPPIX/KNOPPIX cloop image on local CD, DVD and USB drives"),
    "windows_11": ("windows", "Windows installer"),
    "opensuse_tumbleweed_live": ("opensuse-live", "only over AoE"),
    "grub_rescue": ("grub-rescue", "GRUB-only image"),
    "custom_lz4": ("generic", "boot/initrd.lz4: part of it is lz4-compressed, which the Python standard library"),
}


@pytest.mark.parametrize("name", NOT_BOOTABLE)
def test_not_bootable_layout(make_tree, name: str) -> None:
    family, reason = NOT_BOOTABLE[name]
    result = recognise(make_tree(name), context(name))
    assert isinstance(result, NotBootable), result
    assert (result.family, reason in result.reason) == (family, True), result.reason
    assert result.evidence


def test_manjaro_with_zstd_initramfs_is_read(make_tree) -> None:
    """Manjaro's default zstd initramfs is read (Python 3.14's zstd module, else Debian's zstd command)."""
    result = recognise(make_tree("manjaro_24_zstd"), context("m"))
    assert isinstance(result, BootEntry), result
    assert "misobasedir=manjaro" in result.params and any(p.startswith("miso_nfs_srv=") for p in result.params)


def test_manjaro_with_broken_zstd_initramfs_is_explained(make_tree) -> None:
    """A zstd stream that cannot be unpacked: the outcome says so instead of guessing."""
    result = recognise(make_tree("manjaro_24_zstd_corrupt"), context("m"))
    assert isinstance(result, NotBootable)
    assert "could not check" in result.reason and "corrupt" in result.reason


def test_data_disc_is_left_unrecognised(make_tree) -> None:
    result = recognise(make_tree("data_disc"), context("photos"))
    assert isinstance(result, NotBootable) and result.guessed and not result.family
    assert "no known live system" in result.reason


def test_every_family_has_a_fixture() -> None:
    """Adding a family without a fixture layout that exercises it fails here."""
    covered = {spec[0] for spec in (BOOTABLE | GUESSED).values()} | {spec[0] for spec in NOT_BOOTABLE.values()}
    assert {family.name for family in FAMILIES} <= covered


def test_http_url_does_not_change_nfs_recipes(make_tree) -> None:
    """NFS stays the root even with HTTP configured: dracut's livenet copies an HTTP image into RAM."""
    ctx = ServerContext(SERVER, "/srv/tftp/isodrop/f", "isodrop/f", http_url="http://192.168.50.1/isodrop/f")
    entry = recognise(make_tree("fedora_41"), ctx)
    assert isinstance(entry, BootEntry)
    assert entry.params[0] == "root=live:nfs://192.168.50.1/srv/tftp/isodrop/f/LiveOS/squashfs.img"


def test_fedora_initrd_without_nfs_module_uses_http_when_configured(make_tree) -> None:
    tree = make_tree("fedora_41_without_nfs")
    result = recognise(tree, context("f"))
    assert isinstance(result, NotBootable)
    assert "has dracut's livenet module but not its nfs module" in result.reason
    ctx = ServerContext(SERVER, "/srv/tftp/isodrop/f", "isodrop/f", http_url="http://192.168.50.1/isodrop/f/")
    entry = recognise(tree, ctx)
    assert isinstance(entry, BootEntry)
    assert entry.cmdline == "root=live:http://192.168.50.1/isodrop/f/LiveOS/squashfs.img rd.live.image ip=dhcp"
    # livenet downloads an HTTP image whole into the initramfs's tmpfs: the entry says how much RAM that takes
    image = tree.size("LiveOS/squashfs.img")
    assert image and entry.copies_to_ram_bytes == image
    assert entry.ram_needed_bytes == image + 512 * 1024 * 1024
    assert f"needs at least {-(-entry.ram_needed_bytes // 2**20)} MiB of RAM" in entry.root_line()
    assert BootEntry.from_dict(entry.to_dict()) == entry, "the record keeps the figure"


def test_fedora_initrd_without_livenet_cannot_boot_from_the_network(make_tree) -> None:
    ctx = ServerContext(SERVER, "/srv/tftp/isodrop/f", "isodrop/f", http_url="http://192.168.50.1/isodrop/f")
    result = recognise(make_tree("fedora_41_without_livenet"), ctx)
    assert isinstance(result, NotBootable)
    assert result.family == "fedora" and "no dracut livenet module" in result.reason


def test_split_params_keeps_quoted_values() -> None:
    assert split_params('a=1  ocs_live_run="ocs-live-general x" b ""') == [
        "a=1",
        'ocs_live_run="ocs-live-general x"',
        "b",
        '""',
    ]


def test_grub_default_by_index_and_by_id(tmp_path: Path) -> None:
    cfg = (
        'set default="1"\nmenuentry "one" {\n linux /a root=x\n}\n'
        "menuentry 'two' --id second {\n linux /b one=1\n initrd /b.img\n}\n"
    )
    tree = DirTree(write_tree(tmp_path / "a", Layout({"boot/grub/grub.cfg": cfg}, "")))
    entry = default_entry(tree)
    assert entry is not None and (entry.kernel, entry.initrds, entry.params) == ("b", ["b.img"], ["one=1"])
    cfg2 = cfg.replace('set default="1"', "set default=second")
    tree2 = DirTree(write_tree(tmp_path / "b", Layout({"boot/grub/grub.cfg": cfg2}, "")))
    entry2 = default_entry(tree2)
    assert entry2 is not None and entry2.title == "two"


@pytest.mark.parametrize("chunk", [777, 4 * 1024 * 1024])
def test_initrd_reader_sees_every_concatenated_archive(tmp_path: Path, monkeypatch, chunk: int) -> None:
    """An early-microcode cpio, a gzip'd, an xz'd and a bzip2'd cpio, as initrds concatenate them;
    small chunks make headers and file data straddle the pieces fed to the decompressors."""
    monkeypatch.setattr(initramfs, "CHUNK", chunk)
    monkeypatch.setattr(initramfs, "PIECE", chunk)  # decompressed pieces straddle headers too
    many = {f"usr/lib/modules/6.1/kernel/m{i}.ko": bytes([i % 251]) * (i * 37 % 5000) for i in range(300)}
    data = (
        cpio({"kernel/x86/microcode/AuthenticAMD.bin": b"x" * 3})
        + gzip.compress(cpio({"scripts/casper": b"#", **many}))
        + lzma.compress(cpio({"usr/lib/dracut/modules.txt": b"x" * 70_000}))
        + bz2.compress(cpio({"hooks/archiso": b"run_hook"}))
    )
    tree = DirTree(write_tree(tmp_path / "t", Layout({"initrd": data}, "")))
    contents = read_initrd(tree, "initrd")
    assert contents.problem == ""
    expected = {"kernel/x86/microcode/AuthenticAMD.bin", "scripts/casper", "usr/lib/dracut/modules.txt"}
    assert contents.names == expected | {"hooks/archiso"} | set(many)
    assert contents.kinds() == ["casper", "dracut", "archiso"]


def test_initrd_reader_reports_a_truncated_stream(tmp_path: Path) -> None:
    data = gzip.compress(cpio({"scripts/casper": b"#" * 100_000}))
    tree = DirTree(write_tree(tmp_path / "t", Layout({"initrd": data[: len(data) // 2]}, "")))
    contents = read_initrd(tree, "initrd")
    assert "part of it is corrupt" in contents.problem


# --- real ISOs from Debian's archive -------------------------------------------------------------

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


@pytest.mark.parametrize(("iso", "label"), [("memtest86+x64.iso", "64-bit"), ("memtest86+ia32.iso", "32-bit")])
def test_real_memtest86plus_iso_boots_its_floppy_image_as_a_kernel(debian_isos: Path, iso: str, label: str) -> None:
    entry = recognise(IsoTree(debian_isos / iso), context("memtest"))
    assert isinstance(entry, BootEntry), entry
    assert (entry.family, entry.kernel, entry.initrds, entry.params) == ("memtest86+", "boot/floppy.img", (), ())
    assert entry.label == f"Memtest86+ ({label})"
    assert entry.firmware == (("bios",) if label == "32-bit" else ("bios", "efi64"))


def test_real_grub_rescue_iso_is_grub_only(debian_isos: Path) -> None:
    result = recognise(IsoTree(debian_isos / "grub-rescue-cdrom.iso"), context("grub"))
    assert isinstance(result, NotBootable), result
    assert result.family == "grub-rescue" and "no Linux kernel" in result.reason


def test_real_isos_recognised_the_same_extracted(debian_isos: Path, tmp_path: Path) -> None:
    """Extract with xorriso (another reader of the same ISO) and recognise the folder: same result."""
    if shutil.which("xorriso") is None:
        pytest.skip("xorriso is not installed (tests/apt-packages.txt lists it)")
    for iso, expected in (("memtest86+x64.iso", "memtest86+"), ("grub-rescue-cdrom.iso", "grub-rescue")):
        out = tmp_path / iso
        subprocess.run(
            ["xorriso", "-osirrox", "on", "-indev", str(debian_isos / iso), "-extract", "/", str(out)],
            check=True,
            capture_output=True,
        )
        result = recognise(DirTree(out, volume_id=IsoTree(debian_isos / iso).volume_id), context("x"))
        assert result is not None and result.family == expected


def test_casper_live_layer_named_by_the_isos_own_grub_menu_wins(tmp_path: Path) -> None:
    """A remix whose GRUB menu names another layer boots that one, and only one layerfs-path= is passed."""
    layout = LAYOUTS["ubuntu_2404"]()
    files = dict(layout.files)
    files["boot/grub/grub.cfg"] = (
        'menuentry "Try Ubuntu (English)" {\n\tlinux\t/casper/vmlinuz layerfs-path=minimal.standard.en.squashfs'
        " --- quiet splash\n\tinitrd\t/casper/initrd\n}\n"
    )
    tree = DirTree(write_tree(tmp_path / "remix", Layout(files, layout.volume_id)), volume_id=layout.volume_id)
    entry = recognise(tree, context("remix"))
    assert isinstance(entry, BootEntry)
    assert [p for p in entry.params if p.startswith("layerfs-path=")] == ["layerfs-path=minimal.standard.en.squashfs"]


def test_layered_casper_without_a_live_layer_leaves_the_initrds_default(make_tree) -> None:
    """The live server ISO has no `*.live.squashfs`: its initrd's own default layer must apply."""
    entry = recognise(make_tree("ubuntu_server_2404"), context("ubuntu_server_2404"))
    assert isinstance(entry, BootEntry)
    assert not any(p.startswith("layerfs-path=") for p in entry.params)


PROVEN_BY_A_BOOT = {"debian-live", "kali", "clonezilla", "gparted", "fedora", "memtest86+"}
NOT_PROVEN = {"ubuntu", "ubuntu-layered", "linuxmint", "elementary", "pop-os", "arch", "systemrescue", "manjaro"}


def test_every_family_says_how_far_it_is_proven() -> None:
    """Only families a VM test boots with their own initramfs code claim a boot (tests/test_e2e_*.py);
    casper, archiso and miso (not in Debian) say they are checked against the layout only."""
    from isodrop.families import proof

    names = {family.name for family in FAMILIES}
    assert names >= PROVEN_BY_A_BOOT | NOT_PROVEN
    for name in PROVEN_BY_A_BOOT:
        assert proof(name).startswith("booted in a VM"), name
    for name in NOT_PROVEN:
        assert proof(name) == "checked against the layout, not booted", name
    assert "not booted" in proof("generic")


@pytest.mark.parametrize("name", ["live/vmlinuz-99 evil", "live/vmlinuz-99\nAPPEND init=sh"])
def test_kernel_names_a_menu_cannot_carry_are_not_bootable(tmp_path: Path, name: str) -> None:
    """A blank would split a LINUX line, a newline would add menu lines: both become a clear verdict."""
    layout = LAYOUTS["debian_12_live"]()
    root = write_tree(tmp_path / "tree", layout)
    (root / "live/vmlinuz").unlink()
    (root / name).write_bytes(b"kernel")
    result = recognise(DirTree(root, volume_id=layout.volume_id), context("d"))
    assert isinstance(result, NotBootable) and result.family == "debian-live" and not result.guessed
    assert repr(name) in result.reason and "blank or a control character" in result.reason


# What makes each initramfs copy its root into RAM (or onto a disk) although it can read it over NFS.
COPYING = ("toram", "todisk", "rd.live.ram", "copytoram=y", "fetch=", "url=")


@pytest.mark.parametrize("name", [*BOOTABLE, *GUESSED])
def test_every_line_streams_its_root_over_nfs(make_tree, name: str) -> None:
    """Every family's NFS line reads the root on demand: nothing on it copies the root into RAM, archiso's
    and miso's lines say copytoram=n (their NFS hooks copy otherwise), and the entry says 0 bytes copied."""
    entry = recognise(make_tree(name), context(name))
    assert isinstance(entry, BootEntry), entry
    assert not [p for p in entry.params if p.startswith(COPYING)], entry.params
    if any(p.startswith(("archiso_nfs_srv=", "miso_nfs_srv=")) for p in entry.params):
        assert "copytoram=n" in entry.params
    assert entry.copies_to_ram_bytes == 0 and entry.ram_needed_bytes == 0
    no_root = entry.family == "memtest86+"  # memtest is the kernel alone
    assert ("none (the kernel runs on its own)" if no_root else "nothing copied into RAM") in entry.root_line()


@pytest.mark.parametrize(
    ("layout_name", "menu", "own"),
    [
        ("gparted_1_6", "syslinux/syslinux.cfg", "toram=filesystem.squashfs todisk=/dev/sda1"),  # GParted's toram
        ("clonezilla_3", "syslinux/syslinux.cfg", "toram=live,syslinux todisk=/dev/sda1"),  # Clonezilla's own form
        ("custom_casper", "isolinux/isolinux.cfg", "toram todisk=/dev/sda1"),
        ("nobara_40", "isolinux/isolinux.cfg", "rd.live.ram=1"),
    ],
)
def test_an_isos_own_copy_to_ram_parameter_is_dropped(tmp_path: Path, layout_name: str, menu: str, own: str) -> None:
    """live-boot and casper honour toram/todisk after their NFS mount and dracut rd.live.ram: an ISO's own
    menu asking for it (GParted's does) would copy the root into every PC's RAM; the line streams instead."""
    layout = LAYOUTS[layout_name]()
    text = str(layout.files[menu])  # every entry asks for it, the default one too
    layout.files[menu] = re.sub(r"(?i)\b(append\s+)", rf"\1{own} quiet ", text)
    tree = DirTree(write_tree(tmp_path / layout_name, layout), volume_id=layout.volume_id)
    assert set(own.split()) <= set(default_entry(tree, (menu,)).params)  # type: ignore[union-attr]
    entry = recognise(tree, context(layout_name))
    assert isinstance(entry, BootEntry), entry
    assert not [p for p in entry.params if p.startswith(COPYING)], entry.params
    assert "quiet" in entry.params, "the ISO's other parameters stay"
    assert entry.copies_to_ram_bytes == 0


def test_generic_archiso_own_copytoram_is_replaced_by_n(tmp_path: Path) -> None:
    """Over NFS archiso copies the root image into RAM unless the command line says copytoram=n: an
    archiso derivative's own `copytoram=y` must not survive next to isodrop's `copytoram=n`."""
    layout = LAYOUTS["blackarch_2023"]()
    menu = "boot/syslinux/archiso_sys.cfg"
    layout.files[menu] = layout.files[menu].replace("APPEND ", "APPEND copytoram=y ")
    tree = DirTree(write_tree(tmp_path / "blackarch", layout), volume_id=layout.volume_id)
    result = recognise(tree, context("b"))
    assert isinstance(result, BootEntry), result
    assert [p for p in result.params if p.startswith("copytoram")] == ["copytoram=n"], result.params


@pytest.mark.parametrize(
    ("layout_name", "rel", "content", "kept"),
    [
        ("clonezilla_3", "Clonezilla-Live-Version", "live-" * 60_000 + " x\n", 256),  # hours for its pattern
        ("debian_12_live", ".disk/info", "a" + " " * 200_000 + "b\n", 1),  # half a minute for the .disk/info pattern
        ("arch_2024", "arch/version", "2024." * 50_000 + "\n", 256),
    ],
    ids=["clonezilla-version", "disk-info", "arch-version"],
)
def test_one_line_files_are_read_bounded(tmp_path: Path, layout_name: str, rel: str, content: str, kept: int) -> None:
    """Version files and `.disk/info` are ISO content: only the first 256 characters of their first line
    are looked at, so a huge one neither stalls a pattern nor makes a huge label."""
    layout = LAYOUTS[layout_name]()
    layout.files[rel] = content
    tree = DirTree(write_tree(tmp_path / layout_name, layout), volume_id=layout.volume_id)
    assert tree.first_line(rel) == content[:4096].strip()[:kept]
    result = recognise(tree, context("x"))
    assert isinstance(result, BootEntry), result
    assert len(result.label) <= 300, result.label
