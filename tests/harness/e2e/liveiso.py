"""Build a small but genuine Debian-live ISO from Debian's packages, cached between runs.

Layout (what live-boot and isodrop's debian-live family expect):
    live/vmlinuz              Debian's kernel (linux-image-amd64), from `apt-get download` + `dpkg -x`
    live/initrd.img           mkinitramfs with Debian's live-boot hooks
    live/filesystem.squashfs  busybox root whose /sbin/init prints a marker on ttyS0 and powers off
    .disk/info, md5sum.txt    as on Debian's own live ISOs

Nothing is installed on the host: the kernel, its modules and live-boot are unpacked into the cache, and
mkinitramfs runs with a private config dir (`-d`) inside a private mount namespace where an overlay adds
the unpacked files to /usr (and /boot shows the unpacked kernel's), so the host's /etc/initramfs-tools,
/lib/modules, /usr and /boot stay untouched.

Command line (used by contrib/see-it-boot.sh): `python3 -m tests.harness.e2e.liveiso NAME [NAME...]` prints
`<iso path> <marker>` per name.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.harness.e2e.cache import cached_dir, candidate_version, package_version, recipe_hash

KERNEL_META = "linux-image-amd64"
LIVE_PACKAGES = ("live-boot", "live-boot-initramfs-tools")
# Host tools whose files end up in the initrd or the root: their versions are part of the recipe.
HOST_PACKAGES = ("busybox-static", "initramfs-tools-core", "klibc-utils", "udev", "kmod", "squashfs-tools")
# Drivers a QEMU PXE client needs to reach its NFS root (live-boot's hook adds all network drivers too).
INITRD_MODULES = ("e1000", "virtio_net", "virtio_pci", "af_packet", "nfs", "nfsv3", "squashfs", "overlay", "loop")
MARKER_PREFIX = "ISODROP-E2E-MARKER"

INITRAMFS_CONF = """\
MODULES=list
BUSYBOX=y
KEYMAP=n
COMPRESS=zstd
DEVICE=
NFSROOT=auto
RUNSIZE=10%
FSTYPE=auto
"""

INIT_SCRIPT = """\
#!/bin/sh
# The whole "live system": proves the NFS root was reached, then switches the VM off.
/bin/busybox mount -t proc proc /proc 2>/dev/null
echo "{marker}" > /dev/ttyS0
/bin/busybox sync
/bin/busybox poweroff -f
"""


@dataclass(frozen=True)
class LiveIso:
    path: Path
    marker: str  # printed on ttyS0 by the live system's init, unique to this ISO
    name: str


def kernel_package() -> str:
    """The versioned kernel package linux-image-amd64 currently points to."""
    out = subprocess.run(["apt-cache", "depends", KERNEL_META], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("Depends: linux-image-"):
            return line.split(":", 1)[1].strip()
    raise RuntimeError(f"cannot resolve {KERNEL_META}: run apt-get update")


def base_recipe() -> list[str]:
    kernel = kernel_package()
    parts = [inspect.getsource(build_base), INITRAMFS_CONF, *INITRD_MODULES, kernel, candidate_version(kernel)]
    parts += [f"{p}={candidate_version(p)}" for p in LIVE_PACKAGES]
    parts += [f"{p}={package_version(p)}" for p in HOST_PACKAGES]
    return parts


def _run(cmd: list[str], **kwargs: object) -> None:
    """Run a build step quietly; on failure raise with the end of its output."""
    result = subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        output = (result.stdout + result.stderr)[-3000:]
        raise RuntimeError(f"{' '.join(cmd[:3])} ... failed ({result.returncode}):\n{output}")


def _merge_into_usr(root: Path) -> None:
    """Debian 12 is merged-/usr: move /bin, /lib, /sbin of unpacked packages below usr/."""
    for top in ("bin", "sbin", "lib"):
        src = root / top
        if not src.is_dir():
            continue
        dest = root / "usr" / top
        dest.mkdir(parents=True, exist_ok=True)
        for child in src.iterdir():
            os.rename(child, dest / child.name)
        src.rmdir()


def build_base(work: Path) -> None:
    """Kernel + initrd into `work` (vmlinuz, initrd.img, kernel-version)."""
    kernel = kernel_package()
    debs = work / "debs"
    debs.mkdir()
    os.chmod(work, 0o755)
    os.chmod(debs, 0o777)  # apt-get download drops to _apt when it can write here
    _run(["apt-get", "download", "-q", kernel, *LIVE_PACKAGES], cwd=debs)
    root = work / "root"
    for deb in sorted(debs.glob("*.deb")):
        _run(["dpkg-deb", "-x", str(deb), str(root)])
    _merge_into_usr(root)
    (kver,) = [p.name for p in (root / "usr/lib/modules").iterdir()]
    _run(["depmod", "-b", str(root / "usr"), kver])

    conf = work / "initramfs"
    for sub in ("conf.d", "hooks", "scripts"):
        (conf / sub).mkdir(parents=True)
    (conf / "initramfs.conf").write_text(INITRAMFS_CONF)
    (conf / "modules").write_text("\n".join(INITRD_MODULES) + "\n")
    live_share = root / "usr/share/initramfs-tools"
    for hook in (live_share / "hooks").iterdir():
        shutil.copy2(hook, conf / "hooks" / hook.name)
    shutil.copy2(live_share / "scripts/live", conf / "scripts/live")

    initrd = work / "initrd.img"
    script = (
        f"mount -t overlay isodrop-e2e -o lowerdir={root / 'usr'}:/usr /usr && "
        f"mount --bind {root / 'boot'} /boot && "  # mkinitramfs reads /boot/config-<kver>
        f"exec mkinitramfs -d {conf} -o {initrd} {kver}"
    )
    _run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script])
    shutil.copy2(root / "boot" / f"vmlinuz-{kver}", work / "vmlinuz")
    (work / "kernel-version").write_text(kver + "\n")
    shutil.rmtree(root)
    shutil.rmtree(debs)


def base_dir() -> Path:
    parts = base_recipe()
    return cached_dir("live-base", recipe_hash(parts), build_base)


def _build_squashfs(dest: Path, marker: str, scratch: Path) -> None:
    rootfs = scratch / "rootfs"
    for sub in ("bin", "sbin", "dev", "proc", "sys", "run", "tmp", "etc/network", "root"):
        (rootfs / sub).mkdir(parents=True)
    shutil.copy2("/bin/busybox", rootfs / "bin/busybox")
    for applet in ("sh", "mount", "echo", "poweroff", "sync", "cat"):
        (rootfs / "bin" / applet).symlink_to("busybox")
    init = rootfs / "sbin/init"
    init.write_text(INIT_SCRIPT.format(marker=marker))
    init.chmod(0o755)
    _run(["mksquashfs", str(rootfs), str(dest), "-noappend", "-all-root", "-quiet", "-no-progress", "-comp", "gzip"])


def build_iso(name: str, unsigned_kernel: bool = False) -> LiveIso:
    """The cached live ISO called `name`; its marker names it, so two names give two markers.
    `unsigned_kernel`: Debian's kernel with its Authenticode signature removed (`sbattach --remove`), as
    a live system with a self-built kernel has: it must not boot with Secure Boot on."""
    base = base_dir()
    recipe = [base.name, name, INIT_SCRIPT, inspect.getsource(_build_squashfs), inspect.getsource(build_iso)]
    recipe += ["unsigned-kernel"] if unsigned_kernel else []
    key = recipe_hash(recipe)
    marker = f"{MARKER_PREFIX}-{name}-{key[:10]}"

    def build(work: Path) -> None:
        tree = work / "tree"
        (tree / "live").mkdir(parents=True)
        (tree / ".disk").mkdir()
        shutil.copy2(base / "vmlinuz", tree / "live/vmlinuz")
        if unsigned_kernel:
            _run(["sbattach", "--remove", str(tree / "live/vmlinuz")])
        shutil.copy2(base / "initrd.img", tree / "live/initrd.img")
        _build_squashfs(tree / "live/filesystem.squashfs", marker, work)
        (tree / ".disk/info").write_text(f"Debian GNU/Linux 12 isodrop e2e {name} Live amd64\n")
        sums = []
        for rel in ("live/vmlinuz", "live/initrd.img", "live/filesystem.squashfs", ".disk/info"):
            sums.append(f"{hashlib.md5((tree / rel).read_bytes()).hexdigest()}  ./{rel}")
        (tree / "md5sum.txt").write_text("\n".join(sums) + "\n")
        _run(
            ["xorriso", "-as", "mkisofs", "-quiet", "-R", "-J", "-V", "ISODROP_E2E", "-o", str(work / f"{name}.iso")]
            + [str(tree)]
        )
        (work / "marker").write_text(marker + "\n")
        shutil.rmtree(work / "rootfs")
        shutil.rmtree(tree)

    folder = cached_dir(f"live-iso-{name}", key, build)
    return LiveIso(path=folder / f"{name}.iso", marker=marker, name=name)


# The live-boot derivatives, laid out as their real ISOs (tests/harness/family_layouts.py: directory names,
# `.disk/info`, version files, their own isolinux menus with their own parameters).
DERIVATIVE_LAYOUTS = ("kali_2024", "clonezilla_3", "gparted_1_6")


def build_derivative(layout: str) -> LiveIso:
    """The fixture layout `layout` of tests/harness/family_layouts.py with its stand-in kernel, initrd and squashfs
    replaced by the real live-boot ones of this module, so live-boot itself runs the family's command line."""
    from tests.harness import family_layouts
    from tests.harness.isofactory import File
    from tests.harness.isofactory import build_iso as write_iso

    make = getattr(family_layouts, layout)
    base = base_dir()
    recipe = [base.name, layout, inspect.getsource(make), INIT_SCRIPT, inspect.getsource(_build_squashfs)]
    key = recipe_hash([*recipe, inspect.getsource(build_derivative)])
    marker = f"{MARKER_PREFIX}-{layout}-{key[:10]}"
    name = f"{layout.replace('_', '-')}.iso"

    def build(work: Path) -> None:
        fixture = make()
        _build_squashfs(work / "filesystem.squashfs", marker, work)
        files = dict(fixture.files)
        files["live/vmlinuz"] = File((base / "vmlinuz").read_bytes())
        files["live/initrd.img"] = File((base / "initrd.img").read_bytes())
        files["live/filesystem.squashfs"] = File((work / "filesystem.squashfs").read_bytes())
        write_iso(work / name, files, volume_id=fixture.volume_id)
        (work / "marker").write_text(marker + "\n")
        shutil.rmtree(work / "rootfs")
        (work / "filesystem.squashfs").unlink()

    folder = cached_dir(f"live-derivative-{layout.replace('_', '-')}", key, build)
    return LiveIso(path=folder / name, marker=marker, name=layout)


def main(argv: list[str]) -> int:
    for name in argv or ["isodrop-demo-live"]:
        iso = build_iso(name)
        print(iso.path, iso.marker)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
