"""A Fedora-Workstation-Live-layout test ISO whose initrd is Debian's dracut, built and cached here.

Fedora's initramfs code is dracut (dmsquash-live, livenet, nfs, url-lib); Debian ships the same code
(`dracut-core`, `dracut-live`, `dracut-network`). dracut conflicts with initramfs-tools, which the host
needs, so it is installed in a copy of the debootstrap tree tests/harness/debvm/rootfs.py caches (the "dracut
initrd builder", cached on its own recipe) and run there in a private mount namespace. The kernel is the
one in that tree (Debian's linux-image-amd64).

The ISO follows the real Fedora layouts:
    Fedora 41 (lorax):  images/pxeboot/vmlinuz, images/pxeboot/initrd.img, LiveOS/squashfs.img holding
                        the root directly (Fedora switched to a plain squashfs root in 41)
    Fedora 42 (kiwi):   boot/x86_64/loader/linux, boot/x86_64/loader/initrd, LiveOS/squashfs.img holding
                        LiveOS/rootfs.img (ext4), as kiwi's dmsquash live images do
    both:               .discinfo, EFI/BOOT/grub.cfg, boot/grub2/grub.cfg, volume ID Fedora-WS-Live-<rel>-1-1
The root is a busybox system whose /sbin/init prints a marker on ttyS0 and powers off (as tests/harness/e2e/liveiso.py).

Command line: `python3 -m tests.harness.e2e.dracutiso 41 42` prints `<iso path> <marker>` per release.
"""

from __future__ import annotations

import inspect
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.harness.debvm.rootfs import cached_rootfs
from tests.harness.e2e.cache import cached_dir, recipe_hash
from tests.harness.e2e.liveiso import INIT_SCRIPT, MARKER_PREFIX, _run

BUILDER_PACKAGES = ("dracut-core", "dracut-live", "dracut-network", "nfs-common", "rpcbind", "curl", "e2fsprogs")
# dracut modules: what a Fedora live initrd has for network boots (Fedora uses network-manager; Debian's
# tree has no NetworkManager, so network-legacy brings `ip=dhcp` up with dhclient).
DRACUT_MODULES = ("dmsquash-live", "livenet", "nfs", "url-lib", "network-legacy")
# url-lib's nfs handler calls basename, which Fedora's initrd has (coreutils) and Debian's module list lacks.
# Only what a QEMU client needs: keeps the initrd small enough for TFTP under TCG.
DRACUT_DRIVERS = (
    "e1000 virtio_net virtio_pci af_packet nfs nfsv3 sunrpc squashfs overlay loop ext4 dm_mod dm_snapshot isofs"
)
# The network module installs every NIC driver; the big server ones are left out, halving the initrd
# (TFTP under TCG on a shared CPU is then the slow part of the boot).
DRACUT_OMIT_DRIVERS = (
    "mlx5_core mlx4_core mlx4_en mlxsw_.* ice i40e iavf ixgbe bnx2x bnxt_en qed qede qlcnic cxgb3 cxgb4 nfp sfc "
    "sfc-siena sfc-falcon ib_core stmmac atlantic liquidio liquidio_vf amd-xgbe hinic bna be2net netxen_nic"
)
DRACUT_OMIT = "plymouth i18n resume btrfs crypt lvm mdraid multipath iscsi nbd fcoe cifs"


@dataclass(frozen=True)
class DracutIso:
    path: Path
    marker: str
    release: str
    volume_id: str
    dracut_version: str


def _ns_chroot(root: Path, script: str, binds: dict[Path, str] | None = None, timeout: float = 1800) -> str:
    """Run `script` (sh) chrooted in `root`, in a private mount namespace with /proc, /sys, /dev and tmpfs
    /tmp and /var/tmp, so nothing of the host (and nothing persistent of the tree but what apt writes) changes."""
    mounts = [
        f"mount -t proc proc {root}/proc",
        f"mount -t sysfs sys {root}/sys",
        f"mount --rbind /dev {root}/dev",
        f"mount -t tmpfs tmpfs {root}/tmp",
        f"mount -t tmpfs tmpfs {root}/var/tmp",
    ]
    for source, target in (binds or {}).items():
        mounts += [f"mkdir -p {root}{target}", f"mount --bind {source} {root}{target}"]
    env = "PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 HOME=/root"
    outer = " && ".join(mounts) + f' && exec chroot {root} /usr/bin/env -i {env} sh -ec "$0"'
    result = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-ec", outer, script],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"chroot step failed ({result.returncode}):\n{(result.stdout + result.stderr)[-4000:]}")
    return result.stdout


def _build_builder(work: Path) -> None:
    root = work / "root"
    subprocess.run(["cp", "-a", "--reflink=auto", str(cached_rootfs()), str(root)], check=True)
    shutil.copy2("/etc/resolv.conf", root / "etc/resolv.conf")
    (root / "usr/sbin/policy-rc.d").write_text("#!/bin/sh\nexit 101\n")  # no services start in the chroot
    (root / "usr/sbin/policy-rc.d").chmod(0o755)
    packages = " ".join(BUILDER_PACKAGES)
    _ns_chroot(
        root,
        f"apt-get update -q && apt-get install -y -q --no-install-recommends {packages} && apt-get clean && "
        "rm -rf /var/lib/apt/lists/*",
    )
    (root / "usr/sbin/policy-rc.d").unlink()


def builder_root() -> Path:
    """The cached dracut initrd builder tree (never modified after it is built)."""
    key = recipe_hash([cached_rootfs().parent.name, *BUILDER_PACKAGES, inspect.getsource(_build_builder)])
    return cached_dir("dracut-builder", key, _build_builder) / "root"


def _build_base(work: Path, nfs: bool = True) -> None:
    root = builder_root()
    (kver,) = [p.name for p in (root / "usr/lib/modules").iterdir()]
    out = work / "out"
    out.mkdir()
    version = _ns_chroot(root, "dpkg-query -W -f='${Version}' dracut-core").strip()
    modules = [m for m in DRACUT_MODULES if nfs or m != "nfs"]
    omit = DRACUT_OMIT + ("" if nfs else " nfs")
    _ns_chroot(
        root,
        f"dracut --no-hostonly --no-hostonly-cmdline --force --gzip --add '{' '.join(modules)}' "
        f"--omit '{omit}' --drivers '{DRACUT_DRIVERS}' --omit-drivers '{DRACUT_OMIT_DRIVERS}' "
        f"--install basename /out/initrd.img {kver}",
        binds={out: "/out"},
    )
    shutil.move(out / "initrd.img", work / "initrd.img")
    out.rmdir()
    shutil.copy2(root / "boot" / f"vmlinuz-{kver}", work / "vmlinuz")
    (work / "kernel-version").write_text(kver + "\n")
    (work / "dracut-version").write_text(version + "\n")
    (work / "initrd.img").chmod(0o644)


def base_dir(nfs: bool = True) -> Path:
    """Kernel + dracut initrd (and the dracut version that built it), cached on their recipe. Without
    `nfs` the initrd lacks dracut's nfs module (livenet then only has its HTTP/FTP handlers)."""
    key = recipe_hash(
        [builder_root().parent.name, *DRACUT_MODULES, DRACUT_DRIVERS, DRACUT_OMIT, DRACUT_OMIT_DRIVERS]
        + [inspect.getsource(_build_base)]
        + ([] if nfs else ["without nfs"])
    )
    return cached_dir("dracut-base" + ("" if nfs else "-nonfs"), key, lambda work: _build_base(work, nfs))


GRUB_CFG = """\
set default="0"

function load_video {{
  insmod all_video
}}

load_video
set gfxpayload=keep
insmod gzio
insmod part_gpt
insmod ext2
insmod chain

set timeout=60
### END /etc/grub.d/00_header ###

search --no-floppy --set=root -l '{volume_id}'

### BEGIN /etc/grub.d/10_linux ###
menuentry 'Start Fedora-Workstation-Live {release}' --class fedora --class gnu-linux --class gnu --class os {{
\tlinux /{kernel} root=live:CDLABEL={volume_id} {live_params} rd.live.image quiet rhgb
\tinitrd /{initrd}
}}
menuentry 'Test this media & start Fedora-Workstation-Live {release}' --class fedora --class gnu-linux {{
\tlinux /{kernel} root=live:CDLABEL={volume_id} {live_params} rd.live.image rd.live.check quiet
\tinitrd /{initrd}
}}
"""

LAYOUTS = {
    # release: (kernel, initrd, root image inside the squashfs, extra live parameters of its own menu)
    "41": ("images/pxeboot/vmlinuz", "images/pxeboot/initrd.img", "plain", ""),
    "42": ("boot/x86_64/loader/linux", "boot/x86_64/loader/initrd", "ext4", "rd.live.overlay.overlayfs=1"),
}


def _root_tree(scratch: Path, marker: str) -> Path:
    rootfs = scratch / "rootfs"
    for sub in ("bin", "sbin", "dev", "proc", "sys", "run", "tmp", "etc", "root", "sysroot"):
        (rootfs / sub).mkdir(parents=True)
    shutil.copy2("/bin/busybox", rootfs / "bin/busybox")
    for applet in ("sh", "mount", "echo", "poweroff", "sync", "cat"):
        (rootfs / "bin" / applet).symlink_to("busybox")
    init = rootfs / "sbin/init"
    init.write_text(INIT_SCRIPT.format(marker=marker))
    init.chmod(0o755)
    (rootfs / "etc/os-release").write_text('NAME="isodrop e2e dracut root"\n')  # systemd's switch-root checks it
    return rootfs


def _squashfs(source: Path, dest: Path) -> None:
    _run(["mksquashfs", str(source), str(dest), "-noappend", "-all-root", "-quiet", "-no-progress", "-comp", "xz"])


def build_iso(release: str, nfs: bool = True) -> DracutIso:
    """The cached Fedora `release` ("41" or "42") Workstation Live layout with Debian's dracut initrd
    (without dracut's nfs module when `nfs` is false)."""
    kernel_rel, initrd_rel, root_kind, live_params = LAYOUTS[release]
    base = base_dir(nfs)
    volume_id = f"Fedora-WS-Live-{release}-1-1"
    key = recipe_hash(
        [base.name, release, *LAYOUTS[release], GRUB_CFG, INIT_SCRIPT, inspect.getsource(_root_tree)]
        + [inspect.getsource(build_iso)]
    )
    marker = f"{MARKER_PREFIX}-fedora{release}{'' if nfs else '-nonfs'}-{key[:10]}"
    name = f"Fedora-Workstation-Live-x86_64-{release}-1.1.iso"

    def build(work: Path) -> None:
        tree = work / "tree"
        for rel, src in ((kernel_rel, base / "vmlinuz"), (initrd_rel, base / "initrd.img")):
            (tree / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, tree / rel)
        (tree / "LiveOS").mkdir()
        rootfs = _root_tree(work, marker)
        if root_kind == "plain":
            _squashfs(rootfs, tree / "LiveOS/squashfs.img")
        else:
            inner = work / "inner"
            (inner / "LiveOS").mkdir(parents=True)
            _run(["mkfs.ext4", "-q", "-L", "_/", "-d", str(rootfs), str(inner / "LiveOS/rootfs.img"), "16M"])
            _squashfs(inner, tree / "LiveOS/squashfs.img")
            shutil.rmtree(inner)
        cfg = GRUB_CFG.format(
            volume_id=volume_id, release=release, kernel=kernel_rel, initrd=initrd_rel, live_params=live_params
        )
        for rel in ("EFI/BOOT/grub.cfg", "boot/grub2/grub.cfg"):
            (tree / rel).parent.mkdir(parents=True, exist_ok=True)
            (tree / rel).write_text(cfg)
        (tree / ".discinfo").write_text(f"{time.time():.6f}\n{release}\nx86_64\n")
        _run(["xorriso", "-as", "mkisofs", "-quiet", "-R", "-J", "-V", volume_id, "-o", str(work / name), str(tree)])
        (work / "marker").write_text(marker + "\n")
        shutil.rmtree(rootfs)
        shutil.rmtree(tree)

    folder = cached_dir(f"dracut-iso-f{release}" + ("" if nfs else "-nonfs"), key, build)
    version = (base / "dracut-version").read_text().strip()
    return DracutIso(path=folder / name, marker=marker, release=release, volume_id=volume_id, dracut_version=version)


def main(argv: list[str]) -> int:
    for release in argv or list(LAYOUTS):
        iso = build_iso(release)
        print(iso.path, iso.marker, f"dracut {iso.dracut_version}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
