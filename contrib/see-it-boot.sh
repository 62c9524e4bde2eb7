#!/bin/sh
# See it boot: on a fresh Debian 12 machine, install what the demo needs, build (and cache) a small
# Debian live ISO, start isodrop serve + dnsmasq + nfs-ganesha inside a private network namespace,
# drop the ISO and watch a QEMU PC network-boot it on its serial console.
#
#   sudo contrib/see-it-boot.sh          BIOS PC through the pxelinux menu
#   sudo contrib/see-it-boot.sh --uefi   UEFI PC (OVMF) through Debian's signed shim + GRUB
#
# Nothing reaches your LAN: the bridge, the tap and every server live in a namespace that is deleted at
# the end. Packages are installed with apt-get (no kernel, no live-boot on this machine); the ISO is
# cached in ${ISODROP_TEST_CACHE:-/var/cache/isodrop-tests}.
set -eu

if [ "$(id -u)" != 0 ]; then
    exec sudo -- "$0" "$@"
fi
repo=$(cd "$(dirname "$0")/.." && pwd)

packages="python3 python3-pycdlib python3-watchdog python3-jinja2 python3-sdnotify
 dnsmasq-base pxelinux syslinux-common syslinux-efi xorriso iproute2 util-linux
 qemu-system-x86 ipxe-qemu seabios ovmf nfs-ganesha nfs-ganesha-vfs rpcbind
 initramfs-tools-core busybox-static klibc-utils cpio udev kmod zstd squashfs-tools"
missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "== Installing:$missing"
    apt-get update -q
    # On a systemd machine rpcbind and nfs-ganesha start as services on install; the demo does not use
    # them (it runs its own in a private namespace and mount namespace), so they do not clash.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
fi

cd "$repo"
exec env PYTHONPATH="$repo" /usr/bin/python3 -m tests.harness.e2e.demo "$@"
