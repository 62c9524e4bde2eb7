"""Ubuntu casper. casper compares `.disk/casper-uuid-*` with the initrd's uuid.conf, so the
tree must carry `.disk`; `ip=dhcp` is required for netboot=nfs."""

from isodrop.families.base import Family

CASPER = Family(
    name="casper",
    menu_group="Ubuntu",
    requires=("casper/*.squashfs",),
    kernel=("casper/vmlinuz", "casper/vmlinuz.efi"),
    initrds=(("casper/initrd", "casper/initrd.lz", "casper/initrd.gz"),),
    params="boot=casper netboot=nfs nfsroot={server}:{nfs_path} ip=dhcp",
)
