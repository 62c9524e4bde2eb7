"""Fixture layouts of real live ISOs: each release's file and directory names, `.disk/info` text,
volume ID and boot menus in their real syntax. Big files (kernels, squashfs images) are tiny
stand-ins; initrds that a family looks inside are real cpio archives.

`LAYOUTS[name]()` returns a `Layout`; `tests/harness/isofactory.build_iso` turns it into an ISO.
"""

from __future__ import annotations

import gzip
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from isodrop.model import ServerContext
from tests.harness.isofactory import Entry, Symlink


@dataclass(frozen=True)
class Layout:
    files: dict[str, Entry]
    volume_id: str


def cpio(members: dict[str, bytes]) -> bytes:
    """A cpio "newc" archive (what initramfs-tools, dracut and mkinitcpio write)."""
    out = bytearray()

    def add(name: str, data: bytes, mode: int) -> None:
        encoded = name.encode() + b"\0"
        fields = [0, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(encoded), 0]
        out.extend(b"070701" + b"".join(b"%08X" % value for value in fields) + encoded)
        out.extend(b"\0" * (-len(out) % 4))
        out.extend(data)
        out.extend(b"\0" * (-len(out) % 4))

    for name, data in members.items():
        add(name, data, 0o100644)
    add("TRAILER!!!", b"", 0)
    out.extend(b"\0" * (-len(out) % 512))
    return bytes(out)


def initramfs(members: dict[str, bytes], microcode: bool = True) -> bytes:
    """An initrd as distributions ship it: an uncompressed early-microcode cpio, then a gzip'd main cpio."""
    early = cpio({"kernel/x86/microcode/GenuineIntel.bin": b"\x01" * 64}) if microcode else b""
    return early + gzip.compress(cpio(members))


def stand_in(what: str) -> bytes:
    return f"stand-in for {what}\n".encode() * 8


def kernel_image() -> bytes:
    """A Linux boot-protocol header ("HdrS" at 0x202) in front of a stand-in body."""
    head = bytearray(0x400)
    head[0x1FE:0x200] = b"\x55\xaa"
    head[0x202:0x206] = b"HdrS"
    return bytes(head) + stand_in("kernel")


CASPER_INITRD = initramfs({"init": b"#!/bin/sh\n", "scripts/casper": b"# casper\n", "conf/uuid.conf": b"4f2c\n"})
LIVE_BOOT_INITRD = initramfs({"init": b"#!/bin/sh\n", "lib/live/boot/9990-main.sh": b"Live ()\n"})

UBUNTU_2204_GRUB = """\
set timeout=30

loadfont unicode

set menu_color_normal=white/black
set menu_color_highlight=black/light-gray

menuentry "Try or Install Ubuntu" {
\tset gfxpayload=keep
\tlinux\t/casper/vmlinuz file=/cdrom/preseed/ubuntu.seed maybe-ubiquity quiet splash ---
\tinitrd\t/casper/initrd
}
menuentry "Ubuntu (safe graphics)" {
\tset gfxpayload=keep
\tlinux\t/casper/vmlinuz nomodeset file=/cdrom/preseed/ubuntu.seed maybe-ubiquity quiet splash ---
\tinitrd\t/casper/initrd
}
grub_platform
if [ "$grub_platform" = "efi" ]; then
menuentry 'Boot from next volume' {
\texit 1
}
menuentry 'UEFI Firmware Settings' {
\tfwsetup
}
else
menuentry 'Test memory' {
\tlinux16 /boot/memtest86+.bin
}
fi
"""


def ubuntu_2204() -> Layout:
    return Layout(
        {
            ".disk/info": 'Ubuntu 22.04.4 LTS "Jammy Jellyfish" - Release amd64 (20240220)',
            ".disk/casper-uuid-generic": "b4e1c2c6-2c4f-4a2b-9d55-6d1f2d9a4c11\n",
            ".disk/base_installable": "",
            ".disk/cd_type": "full_cd/single\n",
            "casper/filesystem.squashfs": stand_in("squashfs"),
            "casper/filesystem.squashfs.gpg": stand_in("signature"),
            "casper/filesystem.manifest": "bash\t5.1-6ubuntu1\n",
            "casper/filesystem.size": "9185820672\n",
            "casper/vmlinuz": kernel_image(),
            "casper/initrd": CASPER_INITRD,
            "preseed/ubuntu.seed": "d-i\tdebian-installer/locale\tstring en_US.UTF-8\n",
            "boot/grub/grub.cfg": UBUNTU_2204_GRUB,
            "boot/grub/i386-pc/eltorito.img": stand_in("grub eltorito"),
            "boot/grub/x86_64-efi/linux.mod": stand_in("grub module"),
            "EFI/boot/bootx64.efi": stand_in("shim"),
            "EFI/boot/grubx64.efi": stand_in("grub"),
            "md5sum.txt": "",
            "ubuntu": Symlink("."),
        },
        "Ubuntu 22.04.4 LTS amd64",
    )


UBUNTU_2404_LAYERS = (
    "minimal",
    "minimal.en",
    "minimal.enhanced-secureboot",
    "minimal.standard",
    "minimal.standard.en",
    "minimal.standard.enhanced-secureboot",
    "minimal.standard.live",
)


def ubuntu_2404(layers: tuple[str, ...] = UBUNTU_2404_LAYERS) -> Layout:
    files: dict[str, Entry] = {
        ".disk/info": 'Ubuntu 24.04.1 LTS "Noble Numbat" - Release amd64 (20240827)',
        ".disk/casper-uuid-generic": "0d9c6a3e-7f11-4c0e-9a4e-28b4f5b1c0aa\n",
        ".disk/cd_type": "full_cd/single\n",
        "casper/install-sources.yaml": "- default: true\n  id: ubuntu-desktop-minimal\n  path: minimal.squashfs\n",
        "casper/vmlinuz": kernel_image(),
        "casper/initrd": CASPER_INITRD,
        "boot/grub/grub.cfg": (
            "set timeout=30\n\nloadfont unicode\n\n"
            'menuentry "Try or Install Ubuntu" {\n\tset gfxpayload=keep\n'
            "\tlinux\t/casper/vmlinuz  --- quiet splash\n\tinitrd\t/casper/initrd\n}\n"
        ),
        "EFI/boot/bootx64.efi": stand_in("shim"),
    }
    for layer in layers:
        files[f"casper/{layer}.squashfs"] = stand_in(layer)
        files[f"casper/{layer}.manifest"] = "bash\t5.2.21-2ubuntu4\n"
        files[f"casper/{layer}.size"] = "4096\n"
    return Layout(files, "Ubuntu 24.04.1 LTS amd64")


def ubuntu_2404_missing_layer() -> Layout:
    return ubuntu_2404(tuple(layer for layer in UBUNTU_2404_LAYERS if layer != "minimal.standard"))


def ubuntu_server_2404() -> Layout:
    """The live server ISO: layers named after snaps of the installer, no `filesystem.squashfs`."""
    files: dict[str, Entry] = {
        ".disk/info": 'Ubuntu-Server 24.04.1 LTS "Noble Numbat" - Release amd64 (20240827)',
        ".disk/casper-uuid-generic": "8a4e1f20-3c5d-4e6f-8a9b-0c1d2e3f4a5b\n",
        "casper/vmlinuz": kernel_image(),
        "casper/initrd": CASPER_INITRD,
        "casper/install-sources.yaml": "- default: true\n  id: ubuntu-server\n",
        "boot/grub/grub.cfg": (
            "set timeout=30\n\nloadfont unicode\n\n"
            'menuentry "Try or Install Ubuntu Server" {\n\tset gfxpayload=keep\n'
            "\tlinux\t/casper/vmlinuz  ---\n\tinitrd\t/casper/initrd\n}\n"
        ),
    }
    base = "ubuntu-server-minimal"
    for layer in (
        base,
        f"{base}.ubuntu-server",
        f"{base}.ubuntu-server.installer",
        f"{base}.ubuntu-server.installer.generic",
        f"{base}.ubuntu-server.installer.generic-hwe",
    ):
        files[f"casper/{layer}.squashfs"] = stand_in(layer)
        files[f"casper/{layer}.manifest"] = "bash\t5.2.21-2ubuntu4\n"
    return Layout(files, "Ubuntu-Server 24.04.1 LTS amd64")


def linuxmint_22() -> Layout:
    return Layout(
        {
            ".disk/info": 'Linux Mint 22 "Wilma" - Release amd64 20240719',
            ".disk/casper-uuid-generic": "6a4c1a0e-cb5d-4d21-b33c-7d2a8e0f6b3d\n",
            "casper/filesystem.squashfs": stand_in("squashfs"),
            "casper/filesystem.manifest": "mint-meta-cinnamon\t2024.07.19\n",
            "casper/vmlinuz": kernel_image(),
            "casper/initrd.lz": CASPER_INITRD,
            "preseed/linuxmint.seed": "d-i\tdebian-installer/language\tstring en\n",
            "isolinux/isolinux.cfg": (
                "default vesamenu.c32\ntimeout 100\n\nmenu background splash.png\n"
                "menu title Linux Mint 22 Cinnamon 64-bit\n\n"
                "label live\n  menu label Start Linux Mint 22 Cinnamon 64-bit\n  kernel /casper/vmlinuz\n"
                "  append  file=/cdrom/preseed/linuxmint.seed boot=casper initrd=/casper/initrd.lz quiet splash --\n"
                "menu default\nlabel xforcevesa\n  menu label Start in compatibility mode\n  kernel /casper/vmlinuz\n"
                "  append  file=/cdrom/preseed/linuxmint.seed boot=casper xforcevesa nomodeset "
                "b43.blacklist=yes initrd=/casper/initrd.lz ramdisk_size=1048576 root=/dev/ram rw noapic noacpi "
                "nosplash irqpoll --\n"
            ),
            "isolinux/vesamenu.c32": stand_in("vesamenu"),
            "boot/grub/grub.cfg": (
                'menuentry "Start Linux Mint 22 Cinnamon 64-bit" --class linuxmint {\n'
                "\tset gfxpayload=keep\n"
                "\tlinux\t/casper/vmlinuz  file=/cdrom/preseed/linuxmint.seed boot=casper "
                "iso-scan/filename=${iso_path} quiet splash --\n\tinitrd\t/casper/initrd.lz\n}\n"
            ),
        },
        "Linux Mint 22 Cinnamon 64-bit",
    )


def elementary_7() -> Layout:
    return Layout(
        {
            ".disk/info": 'elementary OS 7.1 "Horus" - Stable amd64 (20230926)',
            ".disk/casper-uuid-generic": "3f0e9d2c-5a1b-4c8d-9e2f-1a2b3c4d5e6f\n",
            "casper/filesystem.squashfs": stand_in("squashfs"),
            "casper/filesystem.manifest": "io.elementary.files\t6.5.2\n",
            "casper/vmlinuz": kernel_image(),
            "casper/initrd.gz": CASPER_INITRD,
            "boot/grub/grub.cfg": (
                'menuentry "Try or Install elementary OS" {\n\tset gfxpayload=keep\n'
                "\tlinux\t/casper/vmlinuz boot=casper quiet splash ---\n\tinitrd\t/casper/initrd.gz\n}\n"
            ),
        },
        "elementary OS 7.1 amd64",
    )


POP_DIR = "casper_pop-os_22.04_amd64_intel_debug_409"


def popos_2204() -> Layout:
    return Layout(
        {
            ".disk/info": 'Pop_OS 22.04 LTS "Jammy Jellyfish" - Release amd64 (20240416)',
            ".disk/casper-uuid-generic": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d\n",
            f"{POP_DIR}/filesystem.squashfs": stand_in("squashfs"),
            f"{POP_DIR}/filesystem.manifest": "pop-desktop\t1.7.0\n",
            f"{POP_DIR}/vmlinuz.efi": kernel_image(),
            f"{POP_DIR}/initrd.gz": CASPER_INITRD,
            "boot/grub/grub.cfg": (
                "set default=0\nset timeout=5\n\n"
                'menuentry "Pop!_OS" --class pop-os {\n'
                f"\tlinux /{POP_DIR}/vmlinuz.efi boot=casper hostname=pop-os username=pop-os "
                f"live-media-path=/{POP_DIR} noprompt\n"
                f"\tinitrd /{POP_DIR}/initrd.gz\n}}\n"
            ),
            "efi/boot/bootx64.efi": stand_in("systemd-boot"),
            "loader/entries/Pop_OS-current.conf": f"title Pop!_OS\nlinux /{POP_DIR}/vmlinuz.efi\n",
        },
        "Pop_OS 22.04 amd64 Intel",
    )


DEBIAN_11_KVER = "5.10.0-28-amd64"


def debian_11_live() -> Layout:
    """live-wrapper layout (Debian 9-11): only versioned kernel and initrd names; d-i beside them."""
    return Layout(
        {
            ".disk/info": 'Debian GNU/Linux 11.9.0 "Bullseye" - Official amd64 LIVE Binary 20240210-11:27',
            f"live/vmlinuz-{DEBIAN_11_KVER}": kernel_image(),
            f"live/initrd.img-{DEBIAN_11_KVER}": LIVE_BOOT_INITRD,
            "live/filesystem.squashfs": stand_in("squashfs"),
            "live/filesystem.packages": "live-boot 1:20210208\n",
            "d-i/vmlinuz": kernel_image(),
            "d-i/initrd.gz": stand_in("d-i initrd"),
            "isolinux/isolinux.cfg": "include menu.cfg\ndefault vesamenu.c32\nprompt 0\ntimeout 0\n",
            "isolinux/menu.cfg": (
                "menu hshift 0\nmenu width 82\ninclude stdmenu.cfg\nmenu title Boot menu\n"
                "label live-amd64\n\tmenu label ^Debian GNU/Linux Live (kernel 5.10.0-28-amd64)\n\tmenu default\n"
                f"\tlinux /live/vmlinuz-{DEBIAN_11_KVER}\n\tappend boot=live components "
                f"initrd=/live/initrd.img-{DEBIAN_11_KVER}\n\n"
                "label installer\n\tmenu label ^Graphical Debian Installer\n\tlinux /d-i/gtk/vmlinuz\n"
                "\tappend initrd=/d-i/gtk/initrd.gz append video=vesa:ywrap,mtrr vga=788\n"
            ),
            "isolinux/stdmenu.cfg": "menu background splash.png\nmenu color title\t* #FFFFFFFF *\n",
            "boot/grub/grub.cfg": (
                "if loadfont $prefix/font.pf2 ; then\n  set gfxmode=800x600\nfi\n"
                'menuentry "Debian GNU/Linux Live (kernel 5.10.0-28-amd64)" {\n'
                f"  linux  /live/vmlinuz-{DEBIAN_11_KVER} boot=live components findiso=${{iso_path}}\n"
                f"  initrd /live/initrd.img-{DEBIAN_11_KVER}\n}}\n"
            ),
        },
        "d-live 11.9.0 xf amd64",
    )


DEBIAN_12_KVER = "6.1.0-25-amd64"


def debian_12_live() -> Layout:
    """live-build layout (Debian 12): plain names plus versioned ones (hard links on the real ISO)."""
    kernel, initrd = kernel_image(), LIVE_BOOT_INITRD
    return Layout(
        {
            ".disk/info": 'Debian GNU/Linux 12.7.0 "Bookworm" - Official amd64 LIVE/INSTALL Binary 20240831-10:40',
            "live/vmlinuz": kernel,
            f"live/vmlinuz-{DEBIAN_12_KVER}": kernel,
            "live/initrd.img": initrd,
            f"live/initrd.img-{DEBIAN_12_KVER}": initrd,
            "live/filesystem.squashfs": stand_in("squashfs"),
            "live/filesystem.packages": "live-boot 1:20230131\n",
            "install/vmlinuz": kernel_image(),
            "install/initrd.gz": stand_in("d-i initrd"),
            "isolinux/isolinux.cfg": "include menu.cfg\ndefault vesamenu.c32\nprompt 0\ntimeout 0\n",
            "isolinux/menu.cfg": "menu hshift 0\nmenu width 82\n\nmenu title Boot menu\ninclude live.cfg\n",
            "isolinux/live.cfg": (
                f"label live-{DEBIAN_12_KVER}\n\tmenu label ^Live system (amd64)\n\tmenu default\n"
                f"\tlinux /live/vmlinuz-{DEBIAN_12_KVER}\n\tinitrd /live/initrd.img-{DEBIAN_12_KVER}\n"
                "\tappend boot=live components quiet splash findiso=${iso_path}\n\n"
                "label live-fail\n\tmenu label Live system (amd64 fail-safe mode)\n"
                f"\tlinux /live/vmlinuz-{DEBIAN_12_KVER}\n\tinitrd /live/initrd.img-{DEBIAN_12_KVER}\n"
                "\tappend boot=live components memtest noapic noapm nodma nomce nosmp nosplash vga=788\n"
            ),
            "boot/grub/grub.cfg": (
                "source /boot/grub/config.cfg\n\n"
                'menuentry "Live system (amd64)" --hotkey=l {\n'
                f"\tlinux\t/live/vmlinuz-{DEBIAN_12_KVER} boot=live components quiet splash findiso=${{iso_path}}\n"
                f"\tinitrd\t/live/initrd.img-{DEBIAN_12_KVER}\n}}\n"
            ),
        },
        "d-live 12.7.0 xf amd64",
    )


def kali_2024() -> Layout:
    return Layout(
        {
            ".disk/info": 'Kali GNU/Linux 2024.3 "Kali-last-snapshot" - Official amd64 LIVE/INSTALL Binary 20240909',
            "live/vmlinuz": kernel_image(),
            "live/initrd.img": LIVE_BOOT_INITRD,
            "live/filesystem.squashfs": stand_in("squashfs"),
            "live/filesystem.packages": "kali-linux-default\t2024.3.0\n",
            "install/vmlinuz": kernel_image(),
            "install/initrd.gz": stand_in("d-i initrd"),
            "isolinux/isolinux.cfg": "include menu.cfg\ndefault vesamenu.c32\nprompt 0\ntimeout 0\n",
            "isolinux/menu.cfg": "menu title Kali Linux\ninclude live.cfg\n",
            "isolinux/live.cfg": (
                "label live-amd64\n\tmenu label ^Live system (amd64)\n\tmenu default\n\tlinux /live/vmlinuz\n"
                "\tinitrd /live/initrd.img\n\tappend boot=live components quiet splash noeject\n"
            ),
        },
        "Kali Live",
    )


def clonezilla_3() -> Layout:
    cfg = """\
# Created by generate-pxe-menu! Do NOT edit unless you know what you are doing!
# Keep those comment "MENU DEFAULT" and "MENU HIDE"! Do NOT remove them.
# Note!!! If "serial" directive exists, it must be the first directive
default vesamenu.c32
timeout 300
prompt 0
noescape 1
MENU MARGIN 5
MENU BACKGROUND ocswp.png
# Allow client to edit the parameters
ALLOWOPTIONS 1

# simple menu title
MENU TITLE clonezilla.org, clonezilla.nchc.org.tw

# Since no network setting in the squashfs image, therefore if ip=, the network is disabled.
label Clonezilla live
  MENU DEFAULT
  # MENU HIDE
  MENU LABEL Clonezilla live (VGA 800x600)
  # MENU PASSWD
  kernel /live/vmlinuz
  append initrd=/live/initrd.img boot=live union=overlay username=user hostname=bookworm config quiet \
loglevel=0 noswap edd=on nomodeset enforcing=0 locales= keyboard-layouts= ocs_live_run="ocs-live-general" \
ocs_live_extra_param="" ocs_live_batch="no" vga=788 ip= net.ifnames=0  splash i915.blacklist=yes \
radeonhd.blacklist=yes nouveau.blacklist=yes vmwgfx.enable_fbdev=1
  TEXT HELP
  * Boot menu for BIOS machine
  * Clonezilla live version: 3.1.2-22-amd64. (C) 2003-2024, NCHC, Taiwan
  * Disclaimer: Clonezilla comes with ABSOLUTELY NO WARRANTY
  ENDTEXT

label Clonezilla live (To RAM)
  # MENU DEFAULT
  # MENU HIDE
  MENU LABEL Clonezilla live (VGA 800x600 & To RAM)
  kernel /live/vmlinuz
  append initrd=/live/initrd.img boot=live union=overlay username=user config quiet toram=live,syslinux \
noswap ip= net.ifnames=0 splash
  TEXT HELP
  append initrd=/this/is/help/text/not/a/command
  ENDTEXT
"""
    cfg = cfg.replace("\\\n", "")
    return Layout(
        {
            "Clonezilla-Live-Version": "clonezilla-live-3.1.2-22-amd64\n",
            "GPL": "GNU GENERAL PUBLIC LICENSE\n",
            "live/vmlinuz": kernel_image(),
            "live/initrd.img": LIVE_BOOT_INITRD,
            "live/filesystem.squashfs": stand_in("squashfs"),
            "live/filesystem.packages": "clonezilla\t5.6.26-drbl1\n",
            "syslinux/isolinux.cfg": cfg,
            "syslinux/syslinux.cfg": cfg,
            "syslinux/vesamenu.c32": stand_in("vesamenu"),
            "boot/grub/grub.cfg": (
                'menuentry "Clonezilla live (VGA 800x600)" --id live-default {\n'
                "  search --set -f /live/vmlinuz\n"
                "  linux /live/vmlinuz boot=live union=overlay username=user config quiet ip= net.ifnames=0\n"
                "  initrd /live/initrd.img\n}\n"
            ),
            "EFI/boot/bootx64.efi": stand_in("shim"),
        },
        "3.1.2-22-amd64",
    )


def gparted_1_6() -> Layout:
    cfg = (
        "default vesamenu.c32\ntimeout 300\nprompt 0\nnoescape 1\nMENU MARGIN 5\n MENU BACKGROUND splash.png\n"
        "MENU TITLE GParted Live (1.6.0-3-amd64)\n\n"
        "label GParted Live (Default settings)\n  MENU DEFAULT\n  # MENU HIDE\n"
        "  MENU LABEL GParted Live (Default settings)\n  # MENU PASSWD\n  kernel /live/vmlinuz\n"
        "  append initrd=/live/initrd.img boot=live union=overlay username=user config components quiet noswap  "
        "loglevel=0 toram=filesystem.squashfs ip= net.ifnames=0  splash\n"
        "  TEXT HELP\n  * GParted live version: 1.6.0-3-amd64. Live version maintainer: Steven Shiau\n"
        "  * Disclaimer: GParted live comes with ABSOLUTELY NO WARRANTY\n  ENDTEXT\n\n"
        "label GParted Live (To RAM)\n  MENU LABEL GParted Live (To RAM, boot media can be removed later)\n"
        "  kernel /live/vmlinuz\n  append initrd=/live/initrd.img boot=live union=overlay username=user config "
        "components quiet noswap toram=filesystem.squashfs ip= net.ifnames=0 nosplash\n"
    )
    return Layout(
        {
            "GParted-Live-Version": "gparted-live-1.6.0-3-amd64\n",
            "live/vmlinuz": kernel_image(),
            "live/initrd.img": LIVE_BOOT_INITRD,
            "live/filesystem.squashfs": stand_in("squashfs"),
            "isolinux/isolinux.cfg": cfg,
            "syslinux/syslinux.cfg": cfg,
            "boot/grub/grub.cfg": (
                'menuentry "GParted Live (Default settings)" {\n  linux /live/vmlinuz boot=live union=overlay '
                "username=user config components quiet noswap ip= net.ifnames=0 splash\n"
                "  initrd /live/initrd.img\n}\n"
            ),
        },
        "GParted-live",
    )


def dracut_initrd(*modules: str) -> bytes:
    """A dracut initrd with the files its livenet and nfs modules install."""
    members = {"usr/lib/dracut/modules.txt": "\n".join(("dmsquash-live", *modules)).encode()}
    if "livenet" in modules:
        members["usr/sbin/livenetroot"] = b"#!/bin/sh\n"
    if "nfs" in modules:
        members["usr/lib/nfs-lib.sh"] = b"#!/bin/sh\n"
    return initramfs(members)


def fedora_41(initrd: bytes | None = None) -> Layout:
    label = "Fedora-WS-Live-41-1-4"
    grub = (
        'set default="1"\n\nfunction load_video {\n  insmod all_video\n}\n\nload_video\nset gfxpayload=keep\n'
        f"insmod gzio\nset timeout=60\n\nsearch --no-floppy --set=root -l '{label}'\n\n"
        "menuentry 'Start Fedora-Workstation-Live 41' --class fedora --class gnu-linux --class gnu --class os {\n"
        f"\tlinux /images/pxeboot/vmlinuz root=live:CDLABEL={label}  rd.live.image quiet rhgb\n"
        "\tinitrd /images/pxeboot/initrd.img\n}\n"
        "menuentry 'Test this media & start Fedora-Workstation-Live 41' --class fedora --class gnu-linux {\n"
        f"\tlinux /images/pxeboot/vmlinuz root=live:CDLABEL={label}  rd.live.image rd.live.check quiet\n"
        "\tinitrd /images/pxeboot/initrd.img\n}\n"
    )
    return Layout(
        {
            "images/pxeboot/vmlinuz": kernel_image(),
            "images/pxeboot/initrd.img": initrd or dracut_initrd("livenet", "nfs"),
            "images/eltorito.img": stand_in("grub eltorito"),
            "LiveOS/squashfs.img": stand_in("squashfs"),
            "boot/grub2/grub.cfg": grub,
            "EFI/BOOT/BOOTX64.EFI": stand_in("shim"),
            "EFI/BOOT/grub.cfg": grub,
        },
        label,
    )


def fedora_41_without_nfs() -> Layout:
    return fedora_41(dracut_initrd("livenet"))


def fedora_41_without_livenet() -> Layout:
    return fedora_41(dracut_initrd())


def fedora_42() -> Layout:
    """Fedora 42 live ISOs are built with kiwi: kernel and initrd in boot/x86_64/loader/."""
    label = "Fedora-WS-Live-42-1-1"
    grub = (
        "set btrfs_relative_path=y\nsearch --file --set=root /boot/0x5fd5f6ec\nset default=0\nset timeout=10\n"
        f'menuentry "Start Fedora-Workstation-Live 42" --class fedora --class os {{\n'
        f"    linux ($root)/boot/x86_64/loader/linux root=live:CDLABEL={label} rd.live.image quiet rhgb\n"
        "    initrd ($root)/boot/x86_64/loader/initrd\n}\n"
    )
    return Layout(
        {
            "boot/x86_64/loader/linux": kernel_image(),
            "boot/x86_64/loader/initrd": dracut_initrd("livenet", "nfs"),
            "boot/x86_64/loader/eltorito.img": stand_in("grub eltorito"),
            "boot/0x5fd5f6ec": "",
            "boot/grub2/grub.cfg": grub,
            "LiveOS/squashfs.img": stand_in("erofs image"),
            "EFI/BOOT/BOOTX64.EFI": stand_in("shim"),
            "EFI/BOOT/grub.cfg": grub,
        },
        label,
    )


ARCHISO_HOOKS = ("archiso", "archiso_loop_mnt", "archiso_pxe_common", "archiso_pxe_nbd", "archiso_pxe_http")


def archiso_initrd(nfs: bool = True) -> bytes:
    """A mkinitcpio initramfs with archiso's hooks (real ones are zstd; gzip keeps it readable here)."""
    hooks = ARCHISO_HOOKS + (("archiso_pxe_nfs",) if nfs else ())
    return initramfs({"init": b"#!/usr/bin/ash\n", **{f"hooks/{hook}": b"run_hook() { :; }\n" for hook in hooks}})


def _archiso(base: str, version: str, volume: str, ucode: tuple[str, ...], initramfs_name: str) -> Layout:
    files: dict[str, Entry] = {
        f"{base}/version": version + "\n",
        f"{base}/boot/x86_64/vmlinuz-linux": kernel_image(),
        f"{base}/boot/x86_64/{initramfs_name}": archiso_initrd(),
        f"{base}/x86_64/airootfs.sfs": stand_in("squashfs"),
        f"{base}/x86_64/airootfs.sha512": "0123  airootfs.sfs\n",
        f"{base}/pkglist.x86_64.txt": "linux 6.6.1.arch1-1\n",
        "boot/syslinux/syslinux.cfg": "DEFAULT select\n\nLABEL select\nCOM32 whichsys.c32\n",
        "EFI/BOOT/BOOTx64.EFI": stand_in("systemd-boot"),
    }
    for name in ucode:
        files[f"{base}/boot/{name}"] = stand_in(name)
    return Layout(files, volume)


def arch_2023() -> Layout:
    layout = _archiso("arch", "2023.09.01", "ARCH_202309", ("intel-ucode.img", "amd-ucode.img"), "initramfs-linux.img")
    layout.files["boot/syslinux/archiso_sys-linux.cfg"] = (
        "LABEL arch64\nTEXT HELP\nBoot the Arch Linux install medium on BIOS.\nENDTEXT\n"
        "MENU LABEL Arch Linux install medium (x86_64, BIOS)\nLINUX /arch/boot/x86_64/vmlinuz-linux\n"
        "INITRD /arch/boot/intel-ucode.img,/arch/boot/amd-ucode.img,/arch/boot/x86_64/initramfs-linux.img\n"
        "APPEND archisobasedir=arch archisolabel=ARCH_202309\n"
    )
    return layout


def arch_2024() -> Layout:
    """Since 2024 the microcode is inside the initramfs: no separate *-ucode.img. Its initramfs is
    zstd-compressed, as the real one is: isodrop cannot look inside before Python 3.14 and trusts it."""
    layout = _archiso("arch", "2024.11.01", "ARCH_202411", (), "initramfs-linux.img")
    layout.files["arch/boot/x86_64/initramfs-linux.img"] = b"\x28\xb5\x2f\xfd" + stand_in("zstd frame")
    layout.files["loader/entries/01-archiso-x86_64-linux.conf"] = (
        "title    Arch Linux install medium (x86_64, UEFI)\nsortkey  01\n"
        "linux    /arch/boot/x86_64/vmlinuz-linux\ninitrd   /arch/boot/x86_64/initramfs-linux.img\n"
        "options  archisobasedir=arch archisosearchuuid=2024-11-01-07-02-24-00\n"
    )
    return layout


def arch_custom_without_pxe() -> Layout:
    """A home-built archiso image whose profile dropped the PXE hooks."""
    layout = arch_2023()
    layout.files["arch/boot/x86_64/initramfs-linux.img"] = archiso_initrd(nfs=False)
    return layout


def systemrescue_11() -> Layout:
    return Layout(
        {
            "sysresccd/boot/x86_64/vmlinuz": kernel_image(),
            "sysresccd/boot/x86_64/sysresccd.img": archiso_initrd(),
            "sysresccd/boot/intel_ucode.img": stand_in("intel microcode"),
            "sysresccd/boot/amd_ucode.img": stand_in("amd microcode"),
            "sysresccd/x86_64/airootfs.sfs": stand_in("squashfs"),
            "sysresccd/x86_64/airootfs.sha512": "0123  airootfs.sfs\n",
            "sysresccd/pkglist.x86_64.txt": "linux-lts 6.6.47-1\n",
            "sysresccd/boot/syslinux/sysresccd_sys.cfg": (
                "LABEL sysresccd\nTEXT HELP\nBoot the SystemRescue live medium.\nENDTEXT\n"
                "MENU LABEL Boot SystemRescue using default options\nLINUX /sysresccd/boot/x86_64/vmlinuz\n"
                "INITRD /sysresccd/boot/intel_ucode.img,/sysresccd/boot/amd_ucode.img,"
                "/sysresccd/boot/x86_64/sysresccd.img\nAPPEND archisobasedir=sysresccd archisolabel=RESCUE1103 "
                "iomem=relaxed\n"
            ),
            "boot/grub/grubsrcd.cfg": "set default=0\n",
            "sysrescue.d/100-defaults.yaml": "global:\n    copytoram: false\n",
            "autorun/autorun": "",
            "EFI/boot/bootx64.efi": stand_in("grub"),
        },
        "RESCUE1103",
    )


def manjaro_24(initrd: bytes | None = None) -> Layout:
    """Manjaro KDE 24.1; `initrd` decides whether its initramfs carries miso's PXE hooks."""
    hooks = {"init": b"#!/usr/bin/ash\n", "hooks/miso": b"run_hook() { :; }\n", "hooks/miso_pxe_common": b""}
    hooks["hooks/miso_pxe_nfs"] = b"run_hook() { :; }\n"
    return Layout(
        {
            "manjaro/x86_64/rootfs.sfs": stand_in("rootfs"),
            "manjaro/x86_64/desktopfs.sfs": stand_in("desktopfs"),
            "manjaro/x86_64/mhwdfs.sfs": stand_in("mhwdfs"),
            "manjaro/x86_64/livefs.sfs": stand_in("livefs"),
            "manjaro/x86_64/rootfs.md5": "0123  rootfs.sfs\n",
            "boot/vmlinuz-x86_64": kernel_image(),
            "boot/initramfs-x86_64.img": initrd if initrd is not None else initramfs(hooks, microcode=False),
            "boot/intel_ucode.img": stand_in("intel microcode"),
            "boot/amd_ucode.img": stand_in("amd microcode"),
            "boot/grub/grub.cfg": (
                'set default=0\nmenuentry "Boot with open source drivers" --class=manjaro {\n'
                "\tlinux /boot/vmlinuz-x86_64 driver=free nouveau.modeset=1 i915.modeset=1 radeon.modeset=1 "
                "tz=utc lang=en_US keytable=us misobasedir=manjaro misolabel=MANJARO_KDE_2410 quiet splash\n"
                "\tinitrd /boot/intel_ucode.img /boot/amd_ucode.img /boot/initramfs-x86_64.img\n}\n"
            ),
            "EFI/boot/bootx64.efi": stand_in("grub"),
        },
        "MANJARO_KDE_2410",
    )


def manjaro_24_without_pxe() -> Layout:
    return manjaro_24(initramfs({"init": b"#!/usr/bin/ash\n", "hooks/miso": b"run_hook() { :; }\n"}, False))


def manjaro_24_zstd() -> Layout:
    """The default since mkinitcpio 30: a zstd initramfs (made with Debian's zstd command), with the PXE hooks."""
    hooks = {"init": b"#!/usr/bin/ash\n", "hooks/miso": b"run_hook() { :; }\n", "hooks/miso_pxe_nfs": b"nfs\n"}
    packed = subprocess.run(["zstd", "-q", "-c"], input=cpio(hooks), capture_output=True, check=True).stdout
    return manjaro_24(packed)


def manjaro_24_zstd_corrupt() -> Layout:
    """A zstd initramfs cut short: the outcome says it cannot be checked, it does not guess."""
    return manjaro_24(b"\x28\xb5\x2f\xfd" + stand_in("zstd frame"))


def memtest86plus_6() -> Layout:
    """Debian's memtest86+x64.iso (memtest86+ 6.10): the whole ISO is these files."""
    floppy = bytearray(kernel_image())
    floppy[0x236:0x238] = b"\x09\x00"  # xloadflags: 64-bit kernel, EFI handover
    floppy.extend(b"\0" * 4096)
    return Layout(
        {"boot/floppy.img": bytes(floppy), "EFI/BOOT/bootx64.efi": b"MZ" + stand_in("memtest.efi")}, "MT86PLUS_64"
    )


def tails_6() -> Layout:
    return Layout(
        {
            "live/vmlinuz": kernel_image(),
            "live/initrd.img": LIVE_BOOT_INITRD,
            "live/filesystem.squashfs": stand_in("squashfs"),
            "live/Tails.module": "filesystem.squashfs\n",
            "isolinux/isolinux.cfg": "include menu.cfg\ndefault vesamenu.c32\n",
            "isolinux/live64.cfg": (
                "label live-amd64\n\tmenu label Tails\n\tlinux /live/vmlinuz\n\tinitrd /live/initrd.img\n"
                "\tappend boot=live config live-media=removable nopersistence noprompt timezone=Etc/UTC "
                "splash noautologin module=Tails slab_nomerge\n"
            ),
            "utils/linux/syslinux": stand_in("syslinux installer"),
            "EFI/debian/grub.cfg": "set timeout=4\n",
        },
        "TAILS 6.8 - 20241008",
    )


def knoppix_9() -> Layout:
    return Layout(
        {
            "KNOPPIX/KNOPPIX": stand_in("cloop image"),
            "KNOPPIX/KNOPPIX1": stand_in("cloop image 2"),
            "KNOPPIX/knoppix-cheatcodes.txt": "knoppix 2 ...\n",
            "boot/isolinux/linux64": kernel_image(),
            "boot/isolinux/minirt.gz": stand_in("minirt"),
            "boot/isolinux/isolinux.cfg": (
                "DEFAULT linux\nLABEL linux\nKERNEL linux64\n"
                "APPEND ramdisk_size=100000 lang=en vt.default_utf8=0 apm=power-off initrd=minirt.gz nosplash\n"
            ),
        },
        "KNOPPIX_9",
    )


def windows_11() -> Layout:
    return Layout(
        {
            "bootmgr": stand_in("bootmgr"),
            "bootmgr.efi": stand_in("bootmgr.efi"),
            "boot/bcd": stand_in("bcd"),
            "boot/etfsboot.com": stand_in("etfsboot"),
            "efi/boot/bootx64.efi": stand_in("bootx64"),
            "efi/microsoft/boot/bcd": stand_in("bcd"),
            "sources/boot.wim": stand_in("winpe"),
            "sources/install.wim": stand_in("windows image"),
            "setup.exe": stand_in("setup"),
            "autorun.inf": "[AutoRun.Amd64]\nopen=setup.exe\n",
        },
        "CCCOMA_X64FRE_EN-US_DV9",
    )


def opensuse_tumbleweed_live() -> Layout:
    label = "openSUSE_Tumbleweed_KDE_Live"
    return Layout(
        {
            "boot/x86_64/loader/linux": kernel_image(),
            "boot/x86_64/loader/initrd": stand_in("kiwi-live initrd"),
            "boot/grub2/grub.cfg": (
                'menuentry "openSUSE Tumbleweed KDE Live" --class os --unrestricted {\n'
                f"    linux ($root)/boot/x86_64/loader/linux ${{extra_cmdline}} root=live:CDLABEL={label} "
                "rd.live.image\n    initrd ($root)/boot/x86_64/loader/initrd\n}\n"
            ),
            "LiveOS/squashfs.img": stand_in("squashfs"),
            "EFI/BOOT/bootx64.efi": stand_in("shim"),
        },
        label,
    )


def grub_rescue() -> Layout:
    """Debian's grub-rescue-pc `grub-rescue-cdrom.iso`: GRUB, its modules, a sample grub.cfg, no Linux."""
    sample = (
        'set timeout=30\nset default=gnulinux\n\nmenuentry "GNU/Linux" --id gnulinux {\n'
        "\tset root=(hd0,msdos1)\n\tlinux /vmlinuz root=/dev/sda1\n\tinitrd /initrd.img\n}\n"
    )
    return Layout(
        {
            "boot/grub/grub.cfg": sample,
            "boot/grub/i386-pc/eltorito.img": stand_in("eltorito"),
            "boot/grub/i386-pc/linux.mod": stand_in("linux.mod"),
            "boot/grub/i386-pc/normal.mod": stand_in("normal.mod"),
            "boot/grub/fonts/unicode.pf2": stand_in("font"),
        },
        "ISOIMAGE",
    )


def blackarch_2023() -> Layout:
    """An archiso derivative no family names: the generic fallback reads its syslinux menu."""
    layout = _archiso(
        "blackarch", "2023.04.01", "BLACKARCH_202304", ("intel-ucode.img", "amd-ucode.img"), "initramfs-linux.img"
    )
    layout.files["boot/syslinux/syslinux.cfg"] = "DEFAULT arch64\nINCLUDE archiso_sys.cfg\n"
    layout.files["boot/syslinux/archiso_sys.cfg"] = (
        "LABEL arch64\nTEXT HELP\nBoot the BlackArch Linux live medium.\nENDTEXT\n"
        "MENU LABEL BlackArch Linux (x86_64)\nLINUX /blackarch/boot/x86_64/vmlinuz-linux\n"
        "INITRD /blackarch/boot/intel-ucode.img,/blackarch/boot/amd-ucode.img,"
        "/blackarch/boot/x86_64/initramfs-linux.img\nAPPEND archisobasedir=blackarch archisolabel=BLACKARCH_202304\n"
    )
    return layout


def nobara_40() -> Layout:
    """A Fedora remix with an ISOLINUX menu (no `Fedora` in its name): dracut, told by its command line."""
    return Layout(
        {
            "isolinux/vmlinuz": kernel_image(),
            "isolinux/initrd.img": stand_in("dracut initramfs"),
            "isolinux/isolinux.cfg": (
                "default vesamenu.c32\ntimeout 600\nmenu title Nobara 40\n\n"
                "label linux\n  menu label ^Start Nobara 40\n  menu default\n  kernel vmlinuz\n"
                "  append initrd=initrd.img root=live:CDLABEL=Nobara-40-KDE rd.live.image quiet rhgb\n\n"
                "label check\n  menu label Test this ^media & start Nobara 40\n  kernel vmlinuz\n"
                "  append initrd=initrd.img root=live:CDLABEL=Nobara-40-KDE rd.live.image rd.live.check quiet\n"
            ),
            "LiveOS/squashfs.img": stand_in("squashfs"),
        },
        "Nobara-40-KDE",
    )


def custom_casper() -> Layout:
    """A home-made casper system: nothing on its command line says so, only files inside its initrd."""
    return Layout(
        {
            "boot/vmlinuz": kernel_image(),
            "boot/initrd.gz": CASPER_INITRD,
            "system/filesystem.squashfs": stand_in("squashfs"),
            "isolinux/isolinux.cfg": (
                "UI menu.c32\nPROMPT 0\nTIMEOUT 50\nDEFAULT mylive\n\nLABEL mylive\n  MENU LABEL My live system\n"
                "  KERNEL /boot/vmlinuz\n  APPEND initrd=/boot/initrd.gz live-media-path=/system quiet splash\n"
            ),
        },
        "MYLIVE_1_0",
    )


def custom_lz4() -> Layout:
    """Same, with an lz4 initrd: isodrop must say it cannot look inside, not guess."""
    return Layout(
        {
            "boot/vmlinuz": kernel_image(),
            "boot/initrd.lz4": b"\x02\x21\x4c\x18" + stand_in("lz4 legacy frame"),
            "isolinux/isolinux.cfg": (
                "DEFAULT mylive\nLABEL mylive\n  KERNEL /boot/vmlinuz\n  INITRD /boot/initrd.lz4\n  APPEND quiet\n"
            ),
        },
        "MYLIVE_LZ4",
    )


def data_disc() -> Layout:
    return Layout({"photos/2024/summer.jpg": stand_in("jpeg"), "README.txt": "holiday pictures\n"}, "PHOTOS")


LAYOUTS: dict[str, Callable[[], Layout]] = {
    name: function
    for name, function in dict(globals()).items()
    if callable(function)
    and not name.startswith("_")
    and getattr(function, "__annotations__", {}).get("return") == "Layout"
}


def write_tree(root: Path, layout: Layout) -> Path:
    """The layout as an extracted folder (what `isodrop.extract` leaves on disk)."""
    for rel, value in layout.files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(value, Symlink):
            path.symlink_to(value.target)
        else:
            path.write_bytes(value.encode() if isinstance(value, str) else value)
    return root


SERVER = "192.168.50.1"


def context(name: str) -> ServerContext:
    return ServerContext(server=SERVER, nfs_path=f"/srv/tftp/isodrop/{name}", tftp_path=f"isodrop/{name}")
