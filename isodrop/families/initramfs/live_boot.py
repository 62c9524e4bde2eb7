"""live-boot, Debian's live initramfs (also Kali's, Clonezilla's and GParted's, built with live-build).

`boot=live` runs its script; with `netboot=nfs` it mounts `nfsroot=` with klibc nfsmount and looks for
`live/*.squashfs` there; `ip=dhcp` makes the initramfs configure the network first. live-boot
1:20230131 (9990-main.sh) copies the live media after mounting it, NFS included: `toram` all of it,
`toram=FILE` that squashfs, into a tmpfs; `todisk=DEV` onto a local disk. isodrop streams the root, so an
ISO's own `toram` (GParted's menu has toram=filesystem.squashfs) is not copied onto its line.
"""

from __future__ import annotations

from isodrop.families.initramfs.kind import Initramfs, boot_is, selected_then

SELECT = "boot=live"
NFS = "netboot=nfs nfsroot={server}:{nfs_path} ip=dhcp"

LIVE_BOOT = Initramfs(
    name="live-boot",
    markers=("lib/live/boot", "usr/lib/live/boot", "scripts/live"),
    named_by=boot_is("live"),
    nfs_params=selected_then(SELECT, NFS),
    copies_to_ram=frozenset({"toram", "todisk"}),
)
