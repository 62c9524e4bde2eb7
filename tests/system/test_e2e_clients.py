"""A PC that stops at known stages, as `isodrop clients` tells it: a QEMU BIOS PC on the test network.

The menu waits forever (menu_timeout = 0): the PC sits at the menu, and `isodrop clients` says it fetched
the menu. Then the entry is typed at the boot prompt; its sidecar points nfsroot at an export that does
not exist (sidecar_params = "any"), so the kernel and initrd come over TFTP and the root is never mounted.
dnsmasq runs from the shipped DHCP snippet writing its own log file, which isodrop reads (dnsmasq_log).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from isodrop import clients
from isodrop.config import load
from tests.harness.e2e.boottimes import boot_times, report  # noqa: F401 (boot_times: autouse)
from tests.harness.e2e.liveiso import build_iso
from tests.harness.e2e.servers import DHCP_SNIPPET, PROXY_SNIPPET
from tests.harness.e2e.stack import running_stack
from tests.harness.e2e.vm import BOOT_FAILURES, MAX_BOOT_SECONDS
from tests.harness.e2e.vmtests import missing, vm_test
from tests.harness.servicekit import ServiceRun

VM_MAC = "52:54:00:12:34:56"  # tests/harness/e2e/vm.py's default


def _row(service: ServiceRun) -> dict:
    result = service.command("clients", "--json")
    rows = [row for row in json.loads(result.stdout)["clients"] if row["mac"] == VM_MAC]
    return rows[0] if rows else {}


@vm_test
@pytest.mark.parametrize("snippet", [DHCP_SNIPPET, PROXY_SNIPPET], ids=["dhcp", "proxy"])
def test_clients_shows_a_pc_waiting_at_the_menu_then_stopped_after_its_initrd(snippet: Path) -> None:
    """Proxy mode: the router leases the address; dnsmasq ties it to the MAC from the PXE ROM's port 4011
    request ("PXE(br0) <address> <MAC> bios.0" in its log)."""
    if missing():
        pytest.skip(missing())
    iso = build_iso("e2e-one")
    with running_stack(
        snippet,
        with_router=snippet == PROXY_SNIPPET,
        menu_default="local",
        menu_timeout=0,
        dnsmasq_log=True,
        sidecar_params="any",
    ) as stack:
        service = stack.service
        (service.drop / f"{iso.path.name}.toml").write_text(
            f'add_params = ["nfsroot={stack.net.server_ip}:/srv/no-such-export"]\n'
        )
        slug = stack.drop(iso.path)
        entry = service.wait_for(lambda: service.entry(iso.path.name), 30, "the entry in the status document")
        assert "/srv/no-such-export" in entry["cmdline"], entry
        vm = stack.vm("bios", name="clients")
        try:
            vm.wait_for("isodrop network boot", 120, ("Failed to load", "PXE-E"))  # the menu, waiting forever
            at_menu = service.wait_for(lambda: _row(service).get("furthest") == "menu" and _row(service), 30, "menu")
            assert at_menu["firmware"] == "BIOS" and at_menu["ip"] and not at_menu["entry"]
            assert set(at_menu["stages"]) == {"dhcp", "loader", "menu"}
            vm.type("\x1b")
            vm.wait_for("boot:", 20)
            vm.type(f"iso-{slug}\r")
            vm.wait_for("Linux version", 120)  # the kernel runs: it came with its initrd
            fetched = service.wait_for(
                lambda: _row(service).get("furthest") == "initrd" and _row(service), 60, "initrd"
            )
            assert fetched["entry"] == slug and fetched["stages"]["kernel"]["via"] == "tftp"
            # The service reads the log between passes too: its status document has the PC within 20 s.
            status = service.wait_for(
                lambda: any(row["mac"] == VM_MAC for row in service.status().get("clients", {}).get("clients", [])),
                45,
                "the PC in the status document",
            )
            assert status
            # The initramfs asks nfs-ganesha for the export that does not exist: its log (NFSPROTO at DEBUG,
            # read as ganesha_log) shows the request, and no grant.
            ganesha_log = stack.work / "ganesha.nfsd.log"
            service.wait_for(
                lambda: "Calling MNT_MNT path=/srv/no-such-export" in ganesha_log.read_text(errors="replace"),
                90,
                "the mount request in ganesha's log",
            )
        finally:
            vm.close()
        # Later, with no root mounted: stopped after the initrd, as ganesha's log (or the kernel NFS server's
        # lists) show it.
        config = load(service.config)
        watch = clients.ClientWatch(config)
        watch.refresh()
        row = next(
            r
            for r in clients.document(watch.book.clients.values(), [], {}, time.time() + 600)["clients"]
            if r["mac"] == VM_MAC
        )
        assert (row["stopped_after"], row["entry"]) == ("initrd", slug)
        assert "never mounted its root" in row["hint"]
        assert row["furthest"] == "initrd" and "root" not in row["stages"]
        text = service.command("clients").stdout
        assert "NFS mounts not visible" not in text and VM_MAC in text


@vm_test
def test_clients_shows_a_pc_that_mounted_its_root_from_nfs_ganesha() -> None:
    """The PC boots the entry at the timeout; its initramfs mounts the tree over NFS from nfs-ganesha, whose
    log (NFSPROTO at DEBUG, ganesha_log) says so: `isodrop clients` shows it reached its root file system."""
    if missing():
        pytest.skip(missing())
    iso = build_iso("e2e-one")
    with running_stack(
        DHCP_SNIPPET, with_router=False, menu_default=iso.path.name, menu_timeout=20, dnsmasq_log=True
    ) as stack:
        service = stack.service
        slug = stack.drop(iso.path)
        vm = stack.vm("bios", name="root")
        try:
            seconds = vm.wait_for(iso.marker, MAX_BOOT_SECONDS, BOOT_FAILURES)
            report("BIOS PC whose root is mounted from nfs-ganesha", seconds)
        finally:
            vm.close()
        row = service.wait_for(lambda: _row(service).get("furthest") == "root" and _row(service), 30, "root")
        assert row["entry"] == slug and row["stages"]["root"]["via"] == "nfs", row
        assert row["stages"]["root"]["path"].endswith(f"/{slug}"), row["stages"]["root"]
        assert not row["stopped"] and "NFS mounts not visible" not in service.command("clients").stdout
