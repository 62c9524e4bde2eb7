"""casper, Ubuntu's live initramfs (also Linux Mint's, elementary OS's and Pop!_OS's).

`boot=casper` runs its script; with `netboot=nfs` it mounts `nfsroot=` with klibc nfsmount on /cdrom
and then looks for its squashfs in `/cdrom/<live-media-path>` (default "casper"); `ip=dhcp` is required
for it to bring the network up. After that mount, `toram` copies the root into RAM and `todisk=` onto a
local disk (scripts/casper): an ISO's own such words are not carried over.
"""

from __future__ import annotations

from isodrop.families.initramfs.kind import Initramfs, boot_is, selected_then

SELECT = "boot=casper"
NFS = "netboot=nfs nfsroot={server}:{nfs_path} ip=dhcp"
LINE = f"{SELECT} {NFS}"  # a family's parameter template starts with it

CASPER = Initramfs(
    name="casper",
    markers=("scripts/casper", "usr/share/initramfs-tools/scripts/casper"),
    named_by=boot_is("casper"),
    nfs_params=selected_then(SELECT, NFS),
    copies_to_ram=frozenset({"toram", "todisk"}),
)
