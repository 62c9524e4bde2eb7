"""The families package as a whole (isodrop.families.recognise over FAMILIES): every fixture layout is built
into a real ISO, then recognised both straight from the image (`IsoTree`) and from an extracted folder
(`DirTree`); the full boot entry is checked. Rules of one family have their own file beside this one
(test_casper, test_dracut, test_generic, test_initramfs, test_memtest, test_unsupported, test_base, ...).

Real ISOs nobody here wrote (Debian's memtest86+ and grub-rescue-pc) are fetched with
`apt-get download` once and cached (conftest.py).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from isodrop.extract import IsoTree
from isodrop.families import FAMILIES, DirTree, recognise
from isodrop.families.bootcfg import default_entry
from isodrop.model import BootEntry, NotBootable, ServerContext
from tests.harness.family_layouts import LAYOUTS, SERVER, context, write_tree

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


# --- real ISOs from Debian's archive -------------------------------------------------------------


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
