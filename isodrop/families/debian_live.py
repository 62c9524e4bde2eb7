"""Debian live-boot: Debian live images (and, later, its derivatives).

live-boot's initramfs script mounts `nfsroot=` with klibc nfsmount when `netboot=nfs` is given;
`ip=dhcp` makes the initramfs configure the network first.
"""

from isodrop.families.base import Family

DEBIAN_LIVE = Family(
    name="debian-live",
    menu_group="Debian live",
    requires=("live/filesystem.squashfs",),
    kernel=("live/vmlinuz", "live/vmlinuz-*"),
    initrds=(("live/initrd.img", "live/initrd.img-*"),),
    params="boot=live netboot=nfs nfsroot={server}:{nfs_path} ip=dhcp",
)
