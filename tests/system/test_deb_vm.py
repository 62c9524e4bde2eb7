"""The deployment users run, in a real Debian 12 VM: the .deb installed with apt, systemd as PID 1, the kernel
NFS server, Debian's dnsmasq with isodrop's proxy-DHCP snippet; then a second VM PXE-boots from it.

Nothing is mocked. The server VM is built from a cached debootstrap tree (tests/harness/debvm/rootfs.py), with the
freshly built .deb installed by `chroot ROOT apt-get install`; it is driven over its serial console. The ISO
is the e2e helper's genuine Debian-live ISO (tests/harness/e2e/liveiso.py), handed in over a read-only 9p share.
The network is a bridge inside a namespace this test creates, with a DHCP-only dnsmasq in a second
namespace as the home router (tests/harness/e2e/netns.py, servers.py). Two VMs run at once only in the last step,
because the client must boot from the server.

The steps depend on each other and run in file order on one server VM (module fixture).
Run: /usr/bin/python3 -m pytest -m vm tests/system/test_deb_vm.py -v -s  (about 4 min 15 s under TCG with warm caches;
the first run adds about 105 s for debootstrap and the live ISO build of tests/harness/e2e/liveiso.py, both cached).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator

import pytest

from tests.harness.debvm.package import build_deb, missing_build_tools

pytestmark = [pytest.mark.vm, pytest.mark.network]

ISO_NAME = "debvm-live"
PACKAGE_DIAGNOSIS = (
    "ps -ef --forest | grep -v ' \\[' | tail -40; systemctl list-jobs --no-pager; "
    "systemctl status --no-pager isodrop dnsmasq 2>&1 | head -40"
)
HOST_TOOLS = ("qemu-system-x86_64", "debootstrap", "mkfs.ext4", "dnsmasq", "ip", "chroot")


def _why_not() -> str | None:
    if os.geteuid() != 0:
        return "needs root (network namespaces, chroot, debootstrap)"
    missing = [t for t in HOST_TOOLS if shutil.which(t, path="/usr/sbin:/usr/bin:/sbin:/bin") is None]
    missing += missing_build_tools()
    if missing:
        return f"missing tools: {', '.join(missing)} (tests/apt-packages.txt installs them)"
    return None


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """Build everything, boot the server VM, yield handles; tear down only what this fixture started."""
    reason = _why_not()
    if reason:
        pytest.skip(reason)
    from tests.harness.debvm.rootfs import cached_rootfs
    from tests.harness.debvm.server import ServerVM, build_image, server_address
    from tests.harness.e2e.liveiso import build_iso
    from tests.harness.e2e.netns import PrivateNet
    from tests.harness.e2e.servers import start_router

    workdir = tmp_path_factory.mktemp("debvm")
    timings: dict[str, float] = {}
    started = time.monotonic()
    deb = build_deb(workdir / "dist")
    iso = build_iso(ISO_NAME)
    root = cached_rootfs()
    timings["artefacts"] = time.monotonic() - started
    share = workdir / "share"
    share.mkdir()
    shutil.copy(iso.path, share / iso.path.name)
    shutil.copy(deb, share / deb.name)  # for the reinstall step, inside the running system

    net = PrivateNet.create()
    procs = []
    server = None
    try:
        procs.append(start_router(net, workdir))
        started = time.monotonic()
        image, kernel, initrd, apt_output = build_image(root, deb, net, workdir)
        timings["image"] = time.monotonic() - started
        server = ServerVM(net, workdir, image, kernel, initrd, share)
        timings["server boot"] = server.login()
        server.ok("mkdir -p /mnt/isos && mount -t 9p -o trans=virtio,version=9p2000.L isos /mnt/isos")
        # README "Install it as a Debian service", step 1: no file edited by hand.
        server.wait_until(f"ip -4 -br addr show eth0 | grep -q '{server_address(net)}/'", 60)
        world_setup = server.ok("isodrop setup-dnsmasq && systemctl restart dnsmasq")
        yield {
            "net": net,
            "server": server,
            "address": server_address(net),
            "iso": iso,
            "workdir": workdir,
            "apt_output": apt_output,
            "deb": deb,
            "timings": timings,
            "setup_dnsmasq": world_setup,
        }
    finally:
        print("timings (s):", {k: round(v, 1) for k, v in timings.items()})
        if server is not None:
            server.poweroff()
        for proc in procs:
            proc.stop()
        net.close()
        # The disk image and the share hold a Debian system and an ISO: pytest keeps old temp dirs.
        (workdir / "server.img").unlink(missing_ok=True)
        shutil.rmtree(share, ignore_errors=True)


def slug(iso_file: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", iso_file.removesuffix(".iso"))


def test_apt_installed_the_package_and_its_services(world):
    apt = world["apt_output"]
    assert "Setting up isodrop" in apt, apt
    server = world["server"]
    assert server.ok("dpkg-query -W -f='${Status}' isodrop") == "install ok installed"
    for unit in ("isodrop", "dnsmasq", "nfs-server"):
        assert server.sh(f"systemctl is-enabled {unit}").output.strip() == "enabled", unit


def test_service_is_active_with_a_status_line(world):
    server = world["server"]
    server.wait_active("isodrop", 120)
    status = server.ok("systemctl show -p StatusText --value isodrop").strip()
    assert status, "isodrop sent no STATUS= line"
    assert server.ok("systemctl show -p Type --value isodrop").strip() == "notify"
    # The installed unit, with the real /usr/bin/isodrop, verifies cleanly (minbase has no man-db to run
    # for Documentation=man:isodrop(1), so the page is checked as a file instead).
    verify = server.sh("systemd-analyze verify --man=no isodrop.service 2>&1")
    assert verify.status == 0 and "isodrop.service" not in verify.output, str(verify)
    assert server.sh("test -s /usr/share/man/man1/isodrop.1.gz").status == 0
    security = server.ok("systemd-analyze security --no-pager isodrop.service | tail -1")
    print("\nin the VM:", security.strip())
    score = re.search(r"exposure level for isodrop.service: ([0-9.]+)", security)
    assert score and float(score.group(1)) <= 3.0, security
    for path in ("/srv/isodrop", "/srv/tftp", "/run/isodrop"):
        assert server.sh(f"test -d {path}").status == 0, f"{path} missing"
    assert server.sh("systemctl is-active dnsmasq").output.strip() == "active", server.ok(
        "journalctl -u dnsmasq --no-pager | tail -20"
    )


def test_setup_dnsmasq_wrote_the_network_and_check_finds_dnsmasq_reaching_it(world):
    server, net = world["server"], world["net"]
    # written by this command, or already by the package's drop-in when dnsmasq started at boot
    said = world["setup_dnsmasq"]
    assert re.search(r"(wrote /etc/dnsmasq.d/isodrop-network.conf|isodrop-network.conf is up to date)", said), said
    written = server.ok("grep -v '^#' /etc/dnsmasq.d/isodrop-network.conf").split()
    assert written == ["interface=eth0", f"dhcp-range={net.network},proxy,255.255.255.0"], written
    server.wait_active("dnsmasq", 30)
    check = server.sh("isodrop check").output
    dnsmasq_lines = [line for line in check.splitlines() if "dnsmasq" in line]
    assert not [line for line in dnsmasq_lines if line.startswith("FAIL")], check
    assert f"ok    dnsmasq answers PXE clients on {net.cidr} as proxy-DHCP" in check, check


def test_dropped_iso_is_served(world):
    server, iso = world["server"], world["iso"]
    name = iso.path.name
    tree = f"/srv/tftp/isodrop/{slug(name)}"
    started = time.monotonic()
    dropped_at = world["dropped_at"] = server.ok("date +%s").strip()
    server.ok(f"cp /mnt/isos/{name} /srv/isodrop/{name}", timeout=120)
    server.wait_until(f"grep -q '^LABEL iso-{slug(name)}' /srv/tftp/pxelinux.cfg/default", 240)
    world["timings"]["iso served"] = time.monotonic() - started
    menu = server.ok("cat /srv/tftp/pxelinux.cfg/default")
    assert f"nfsroot={world['address']}:{tree}" in menu or f"{world['address']}:{tree}" in menu, menu
    assert server.sh(f"grep -q 'LABEL iso-{slug(name)}' /srv/tftp/efi64/pxelinux.cfg/default").status == 0
    exports = server.wait_until(f"exportfs -v | grep -A1 '^{tree}'", 60)
    assert "ro" in exports, exports
    journal = server.wait_until(f"journalctl -u isodrop ISODROP_ISO={name} -o cat --no-pager | grep .", 30)
    assert journal.strip(), "no journal line with ISODROP_ISO"
    fields = server.ok(f"journalctl -u isodrop ISODROP_ISO={name} -o verbose --no-pager | grep -E 'ISODROP_|PRIORITY='")
    assert "ISODROP_SYSTEM=" in fields and "ISODROP_OUTCOME=" in fields, fields
    status = server.ok("systemctl show -p StatusText --value isodrop")
    assert "1" in status, f"status line does not count the served ISO: {status!r}"
    # Under the unit's sandbox isodrop could signal dnsmasq (user dnsmasq: CAP_KILL) and run exportfs.
    # (since the drop: while the world was set up, `systemctl restart dnsmasq` may have met a pass)
    warnings = server.ok(f"journalctl -u isodrop -p warning -o cat --no-pager --since @{dropped_at}")
    assert "will retry" not in warnings and "failed" not in warnings, warnings
    # dnsmasq runs as user dnsmasq: the tree it serves must be world-readable.
    assert server.sh(f"su -s /bin/sh nobody -c 'cat {tree}/live/vmlinuz > /dev/null'").status == 0


def test_removed_iso_goes_away(world):
    """A second copy is served and then deleted: its entry, export and (read-only) tree go, the first stays."""
    server, iso = world["server"], world["iso"]
    other = "second-copy.iso"
    tree = f"/srv/tftp/isodrop/{slug(other)}"
    # Copied by another user with a private mode, as over Samba: the service reads it (CAP_DAC_READ_SEARCH).
    server.ok(f"install -m 0600 -o nobody -g nogroup /mnt/isos/{iso.path.name} /srv/isodrop/{other}", timeout=120)
    server.wait_until(f"exportfs -v | grep -q '^{tree}'", 240)
    server.ok(f"rm /srv/isodrop/{other}")
    server.wait_until(f"! test -e {tree}", 120)
    server.wait_until(f"! exportfs -v | grep -q '^{tree}'", 60)
    assert server.sh(f"grep -q 'LABEL iso-{slug(other)}' /srv/tftp/pxelinux.cfg/default").status != 0
    assert server.sh(f"grep -q 'LABEL iso-{slug(iso.path.name)}' /srv/tftp/pxelinux.cfg/default").status == 0
    # (since the drop: while the world was set up, `systemctl restart dnsmasq` may have met a pass)
    warnings = server.ok(f"journalctl -u isodrop -p warning -o cat --no-pager --since @{world['dropped_at']}")
    assert "will retry" not in warnings and "ermission denied" not in warnings, warnings


def test_status_command(world):
    server, iso = world["server"], world["iso"]
    out = server.ok("isodrop status")
    assert iso.path.name in out or slug(iso.path.name) in out, out


def test_reload_rereads_config_and_keeps_serving(world):
    """A person edits the config (boot the ISO by default, short timeout, serial console) and reloads."""
    server, iso = world["server"], world["iso"]
    name = iso.path.name
    server.ok(
        'printf \'menu_default = "%s"\\nmenu_timeout = 10\\nserial_console = "ttyS0,115200"\\n\' '
        f"{name} >> /etc/isodrop/isodrop.toml"
    )
    pid_before = server.ok("systemctl show -p MainPID --value isodrop").strip()
    server.ok("systemctl reload isodrop", timeout=120)
    server.wait_until("grep -q '^SERIAL 0 115200' /srv/tftp/pxelinux.cfg/default", 60)
    menu = server.ok("cat /srv/tftp/pxelinux.cfg/default")
    assert re.search(rf"^DEFAULT iso-{re.escape(slug(name))}$", menu, re.M), menu
    assert re.search(r"^TIMEOUT 10$", menu, re.M), menu
    assert "console=ttyS0,115200" in menu, menu
    assert server.ok("systemctl show -p MainPID --value isodrop").strip() == pid_before, "reload restarted it"
    assert server.ok("systemctl is-active isodrop").strip() == "active"
    assert server.sh(f"exportfs -v | grep -q '^/srv/tftp/isodrop/{slug(name)}'").status == 0


def test_restart_keeps_serving(world):
    server, iso = world["server"], world["iso"]
    tree = f"/srv/tftp/isodrop/{slug(iso.path.name)}"
    # Minutes have passed: no crash and no watchdog kill (WatchdogSec) restarted it on its own.
    assert server.ok("systemctl show -p NRestarts --value isodrop").strip() == "0", server.diagnose("isodrop")
    assert server.ok("systemctl show -p WatchdogUSec --value isodrop").strip() not in ("0", "infinity", "")
    server.ok("systemctl restart isodrop", timeout=180)
    server.wait_active("isodrop", 60)
    assert server.sh(f"grep -q 'LABEL iso-{slug(iso.path.name)}' /srv/tftp/pxelinux.cfg/default").status == 0
    assert server.sh(f"exportfs -v | grep -q '^{tree}'").status == 0
    assert server.sh(f"test -f {tree}/live/vmlinuz").status == 0


def test_client_pxe_boots_the_iso_from_the_server_vm(world):
    """BIOS client on the same bridge: address from the router, boot file from the server's proxy DHCP,
    pxelinux + kernel over TFTP, root over the server's kernel NFS; the live system prints its marker."""
    from tests.harness.e2e.vm import BOOT_FAILURES, VM

    client = VM(world["net"], world["workdir"], firmware="bios", name="client")
    try:
        seconds = client.wait_for(world["iso"].marker, 300, failures=BOOT_FAILURES)
        world["timings"]["client boot"] = seconds
    finally:
        client.close()


def test_uefi_client_pxe_boots_the_iso_from_the_server_vm(world):
    """The same for an x86-64 UEFI client (OVMF with QEMU's iPXE NIC ROM): the ROM asks with user class
    iPXE, the proxy snippet hands it ipxe/menu.ipxe, and with the default uefi_loader (grub) that is
    iPXE's own menu (shim cannot be started through iPXE, see isodrop/loaders/ipxe.py EFI_CHAIN)."""
    from tests.harness.e2e.vm import BOOT_FAILURES, OVMF_CODE, VM

    if not OVMF_CODE.exists():
        pytest.skip(f"{OVMF_CODE} missing: install ovmf (tests/apt-packages.txt)")
    client = VM(world["net"], world["workdir"], firmware="uefi", name="uefi-client")
    try:
        world["timings"]["uefi client boot"] = client.wait_for(world["iso"].marker, 300, failures=BOOT_FAILURES)
    finally:
        client.close()


def test_apt_remove_keeps_the_users_isos(world):
    server, iso = world["server"], world["iso"]
    name = iso.path.name
    checksum = server.ok(f"md5sum /srv/isodrop/{name}").split()[0]
    started = time.monotonic()
    server.ok_detached("DEBIAN_FRONTEND=noninteractive apt-get remove -y isodrop", 240, diagnose=PACKAGE_DIAGNOSIS)
    world["timings"]["apt remove"] = time.monotonic() - started
    # The service stopped on SIGTERM by itself (STOPPING=1), not after systemd's stop timeout.
    stops = server.ok("journalctl -b -u isodrop -o cat --no-pager | grep -iE 'timed out|SIGKILL' || true")
    assert stops.strip() == "", stops
    assert server.sh("systemctl is-active isodrop").output.strip() != "active"
    assert server.ok(f"md5sum /srv/isodrop/{name}").split()[0] == checksum
    assert server.sh("test -f /etc/isodrop/isodrop.toml").status == 0, "remove keeps the conffile"


# What the service writes into /srv/tftp besides its trees (isodrop/) under the default configuration
# (bios_loader "pxelinux", uefi_loader "grub", no http_url: so no http.mod and no iPXE binaries, only
# iPXE's scripts, which every configuration writes): isodrop/loaders/ files() and render(), choice.py.
TFTP_FILES = (
    "bios.0",  # pxelinux.0 under the fixed BIOS name
    "pxelinux.0",
    *("ldlinux.c32", "vesamenu.c32", "menu.c32", "libcom32.c32", "libutil.c32"),
    "pxelinux.cfg/default",
    "efi64/bootx64.efi",  # shim
    "efi64/grubx64.efi",  # signed GRUB beside shim (proxy mode) and at the root (DHCP mode)
    "grubx64.efi",
    "grub/grub.cfg",
    "efi64/syslinux.efi",
    "efi64/ldlinux.e64",
    *("efi64/vesamenu.c32", "efi64/menu.c32", "efi64/libcom32.c32", "efi64/libutil.c32"),
    "efi64/pxelinux.cfg/default",
    *("ipxe/menu.ipxe", "ipxe/menu-pcbios.ipxe", "ipxe/menu-efi.ipxe"),
)


def test_apt_purge_removes_what_the_package_created(world):
    server, iso = world["server"], world["iso"]
    name = iso.path.name
    # The list names exactly what is there (after `apt remove`, which leaves it): nothing the service
    # made is missing from it, and nothing in it is made up.
    present = server.ok("cd /srv/tftp && find . -path ./isodrop -prune -o ! -type d -print | sort")
    assert sorted(present.split()) == sorted(f"./{f}" for f in TFTP_FILES), present
    server.ok_detached("DEBIAN_FRONTEND=noninteractive apt-get purge -y isodrop", 240, diagnose=PACKAGE_DIAGNOSIS)
    for gone in (
        "/etc/isodrop",
        "/etc/dnsmasq.d/isodrop.conf",
        "/etc/exports.d/isodrop.exports",
        "/srv/tftp/isodrop",
        *(f"/srv/tftp/{f}" for f in TFTP_FILES),
        *("/srv/tftp/efi64", "/srv/tftp/grub", "/srv/tftp/ipxe", "/srv/tftp/pxelinux.cfg"),
        "/lib/systemd/system/isodrop.service",
        "/usr/bin/isodrop",
    ):
        assert server.sh(f"test -e {gone}").status != 0, f"{gone} left after purge"
    # The package created /srv/tftp (postinst): empty now, it goes too.
    assert server.sh("test -e /srv/tftp").status != 0, server.ok("find /srv/tftp | head -40")
    assert server.sh(f"test -f /srv/isodrop/{name}").status == 0, "purge must never remove the user's ISOs"
    assert server.sh("exportfs -v | grep -q /srv/tftp/isodrop").status != 0, "export still active"
    assert server.ok("systemctl is-active dnsmasq").strip() == "active", "dnsmasq must survive the purge"


def test_reinstall_on_a_running_system_serves_the_isos_left_in_the_drop_folder(world):
    """apt install on the live box: the unit starts at once, dnsmasq is restarted to read the snippet, and
    the ISO the user kept in /srv/isodrop is served again."""
    server, iso = world["server"], world["iso"]
    dnsmasq_pid = server.ok("systemctl show -p MainPID --value dnsmasq").strip()
    server.ok_detached(
        f"DEBIAN_FRONTEND=noninteractive apt-get install -y /mnt/isos/{world['deb'].name}", 240, PACKAGE_DIAGNOSIS
    )
    server.wait_active("isodrop", 120)
    server.wait_until(f"grep -q '^LABEL iso-{slug(iso.path.name)}' /srv/tftp/pxelinux.cfg/default", 240)
    server.wait_until(f"exportfs -v | grep -q '^/srv/tftp/isodrop/{slug(iso.path.name)}'", 60)
    server.wait_active("dnsmasq", 30)
    assert server.ok("systemctl show -p MainPID --value dnsmasq").strip() != dnsmasq_pid, "dnsmasq not restarted"
    assert server.sh("test -f /etc/dnsmasq.d/isodrop.conf").status == 0
