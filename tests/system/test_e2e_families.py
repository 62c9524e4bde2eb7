"""Each family's own initramfs code boots isodrop's command line for it, in a QEMU PXE client.

The same real parts as tests/system/test_e2e_boot.py (dnsmasq from contrib/, rpcbind + nfs-ganesha, `isodrop
serve`, nginx for HTTP, QEMU under TCG), with ISOs laid out as the real releases:
- live-boot derivatives: Debian's live-boot test image (tests/harness/e2e/liveiso.py) in the Kali, Clonezilla and
  GParted layouts of tests/harness/family_layouts.py (their directories, `.disk/info`, version files and isolinux
  menus, whose own parameters the Clonezilla/GParted rules copy), so live-boot runs each family's line;
- live-boot's HTTP root: `fetch=` (a sidecar adds it), the squashfs copied into RAM from nginx;
- Fedora Workstation Live 41 and 42 layouts with an initrd from Debian's own dracut (dmsquash-live,
  livenet, nfs; tests/harness/e2e/dracutiso.py), over NFS (`root=live:nfs://`) and over HTTP (`root=live:http://`).

One VM boot per case, each with its own small setup whose menu default is the ISO under test; the time
from VM start to the root's marker is printed for each.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from isodrop.families.bootcfg import split_params
from isodrop.state import slug_for
from tests.harness.e2e.boottimes import boot_times, note, report  # noqa: F401 (boot_times: autouse)
from tests.harness.e2e.servers import DHCP_SNIPPET
from tests.harness.e2e.stack import Stack, running_stack
from tests.harness.e2e.vm import BOOT_FAILURES, MAX_BOOT_SECONDS
from tests.harness.e2e.vmtests import NEEDED as BOOT_NEEDED

NEEDED = {  # what the boot tests need, plus nginx and the dracut ISO's chroot
    **BOOT_NEEDED,
    "nginx": "nginx-light",
    "debootstrap": "debootstrap",
    "mkfs.ext4": "e2fsprogs",
}


def vm_test(func):  # type: ignore[no-untyped-def]
    """Boots a VM on a private network: needs root, namespaces, QEMU, dnsmasq, ganesha."""
    return pytest.mark.network(pytest.mark.vm(func))


@pytest.fixture(scope="module", autouse=True)
def needed_tools() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces, tap devices, private mounts, chroot)")
    absent = [pkg for tool, pkg in NEEDED.items() if shutil.which(tool) is None]
    if absent:
        pytest.skip("missing Debian packages (tests/apt-packages.txt, tests/setup.sh): " + " ".join(absent))


@contextmanager
def served(iso: Path, http: bool = False, sidecar: str = "") -> Iterator[tuple[Stack, str]]:
    """A setup serving only `iso` (its entry is the menu default); yields it and the entry's menu text."""
    with running_stack(DHCP_SNIPPET, with_router=False, menu_default=iso.name, http=http) as stack:
        note(f"[e2e] logs for {iso.name}: {stack.work}")
        if sidecar:
            (stack.service.drop / f"{iso.name}.toml").write_text(sidecar)
        slug = stack.drop(iso, uefi=False)
        # status.json is written after the menu: wait for this ISO's record before tests read it
        stack.service.wait_for(lambda: (stack.service.entry(iso.name) or {}).get("family"), 30, "status entry")
        menu = stack.service.menu()
        assert f"DEFAULT iso-{slug}" in menu
        entry = menu.split(f"LABEL iso-{slug}\n", 1)[1].split("\nLABEL ", 1)[0]
        yield stack, entry


def boot(
    stack: Stack, marker: str, what: str, failures: tuple[str, ...] = (), limit: float = MAX_BOOT_SECONDS
) -> float:
    """Boot a BIOS PXE client to `marker`; `limit` seconds at most (a systemd initrd under TCG needs more)."""
    vm = stack.vm("bios", name=re.sub(r"[^A-Za-z0-9]+", "-", what).strip("-"))
    try:
        seconds = vm.wait_for(marker, limit + 10, BOOT_FAILURES + failures)
        report(what, seconds)
        assert seconds <= limit, f"{what}: marker after {seconds:.0f} s, more than {limit:.0f} s"
        vm.wait_exit(30)  # the root's init powers the VM off after the marker
        return seconds
    finally:
        vm.close()


def append_line(entry: str) -> list[str]:
    line = next(line.strip() for line in entry.splitlines() if line.strip().startswith("APPEND "))
    return split_params(line.removeprefix("APPEND "))


# --- live-boot derivatives ------------------------------------------------------------------------------

DERIVATIVES = {
    # layout: (family, parameters its rule must put on the line: its own, then live-boot's NFS ones)
    "kali_2024": ("kali", ["boot=live", "components", "username=kali", "hostname=kali"]),
    "clonezilla_3": ("clonezilla", ["boot=live", "union=overlay", "username=user", "config", "noswap"]),
    "gparted_1_6": ("gparted", ["boot=live", "union=overlay", "username=user", "noswap"]),
}


@vm_test
@pytest.mark.parametrize("layout", list(DERIVATIVES))
def test_live_boot_derivative_boots_its_own_command_line(layout: str) -> None:
    from tests.harness.e2e.liveiso import build_derivative

    family, wanted = DERIVATIVES[layout]
    iso = build_derivative(layout)
    with served(iso.path) as (stack, entry):
        params = append_line(entry)
        assert (stack.service.entry(iso.path.name) or {}).get("family") == family, stack.service.status()
        for param in [*wanted, "netboot=nfs", "ip=dhcp"]:
            assert param in params, f"{family}: {param} missing from {params}"
        assert not any(p.startswith("ip=") and p != "ip=dhcp" for p in params), "the ISO's own ip= must go"
        assert not any(p.startswith(("toram", "todisk")) for p in params), "the root streams over NFS, no copy"
        boot(stack, iso.marker, f"BIOS {family} layout, live-boot over NFS")


# --- live-boot over HTTP ----------------------------------------------------------------------------------


@vm_test
def test_live_boot_fetch_copies_the_squashfs_from_nginx_into_ram() -> None:
    """`fetch=` (added by the ISO's sidecar) wins over `netboot=nfs` in live-boot: the root comes over HTTP."""
    from tests.harness.e2e.liveiso import build_iso

    iso = build_iso("e2e-fetch")
    slug = slug_for(iso.path.name)
    # fetch= locates the root: sidecars may set it only when the administrator allows it (sidecar_params)
    with running_stack(
        DHCP_SNIPPET, with_router=False, menu_default=iso.path.name, http=True, sidecar_params=["fetch"]
    ) as stack:
        url = f"http://{stack.net.server_ip}/{slug}/live/filesystem.squashfs"
        (stack.service.drop / f"{iso.path.name}.toml").write_text(f'add_params = ["fetch={url}"]\n')
        stack.drop(iso.path, uefi=False)
        assert f"fetch={url}" in stack.service.menu()
        boot(stack, iso.marker, "BIOS debian-live, live-boot fetch= over HTTP (into RAM)")
        access = (stack.work / "nginx-access.log").read_text()
        assert f'GET /{slug}/live/filesystem.squashfs HTTP/1.1" 200' in access, access


# --- dracut (Fedora Workstation Live layouts) -----------------------------------------------------------

# dracut's initrd runs systemd (as Fedora's does): under TCG on a shared CPU that alone takes 60-90 s.
DRACUT_LIMIT = 300
DRACUT_FAILURES = ("Entering emergency mode", "Press Enter for maintenance", "Failed to download live image")


@vm_test
@pytest.mark.parametrize("release", ["41", "42"])
def test_fedora_layout_boots_dracut_over_nfs(release: str) -> None:
    from tests.harness.e2e.dracutiso import build_iso

    iso = build_iso(release)
    # Fedora 41's plain squashfs root is put under overlayfs by Fedora 41's own (newer) dracut on its own;
    # Debian's dracut 059 needs rd.live.overlay.overlayfs=1 for that, so a sidecar adds it.
    sidecar = 'add_params = ["rd.live.overlay.overlayfs=1"]\n' if release == "41" else ""
    with served(iso.path, sidecar=sidecar) as (stack, entry):
        assert (stack.service.entry(iso.path.name) or {}).get("family") == "fedora"
        params = append_line(entry)
        root = next(p for p in params if p.startswith("root="))
        assert root.startswith(f"root=live:nfs://{stack.net.server_ip}/") and root.endswith("/LiveOS/squashfs.img")
        boot(
            stack,
            iso.marker,
            f"BIOS Fedora {release} layout, dracut {iso.dracut_version} root=live:nfs://",
            DRACUT_FAILURES,
            DRACUT_LIMIT,
        )


@vm_test
def test_fedora_layout_boots_dracut_over_http_without_nfs_module() -> None:
    """An initrd with livenet but no nfs module: isodrop's rule gives `root=live:http://` (nginx)."""
    from tests.harness.e2e.dracutiso import build_iso

    iso = build_iso("42", nfs=False)
    with running_stack(DHCP_SNIPPET, with_router=False, menu_default=iso.path.name, http=True) as stack:
        stack.drop(iso.path, uefi=False)
        menu = stack.service.menu()
        slug = slug_for(iso.path.name)
        url = f"http://{stack.net.server_ip}/{slug}/LiveOS/squashfs.img"
        assert f"root=live:{url}" in menu, menu
        boot(
            stack,
            iso.marker,
            f"BIOS Fedora 42 layout, dracut {iso.dracut_version} root=live:http://",
            DRACUT_FAILURES,
            DRACUT_LIMIT,
        )
        access = (stack.work / "nginx-access.log").read_text()
        assert f'GET /{slug}/LiveOS/squashfs.img HTTP/1.1" 200' in access, access
