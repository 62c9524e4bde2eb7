"""`isodrop serve` hands a Secure Boot PC over to an ISO's own chain: a real dnsmasq-format line appended to
dnsmasq_log makes that PC's folder appear at once; the PC fetching its initrd from it, or the request
expiring, makes it go; all without a pass or another log line (the service's light step and its timer)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from isodrop.handover import MARKER
from tests.harness.isofactory import build_iso
from tests.harness.servicekit import ServiceRun, debian_live_files

pytestmark = pytest.mark.service

CHAIN = {
    "vendor": "Test Vendor CA",
    "shim": "EFI/BOOT/BOOTX64.EFI",
    "grub": "EFI/BOOT/grubx64.efi",
    "manager": "",
    "config_dirs": ["", "EFI/BOOT"],
    "usable": True,
    "reason": "its GRUB reads TFTP",
}


@pytest.fixture
def service(tmp_path: Path) -> Iterator[ServiceRun]:
    log = tmp_path / "log" / "dnsmasq.log"
    log.parent.mkdir()
    log.write_text("")
    run = ServiceRun(tmp_path / "srv", rescan_seconds=600.0, dnsmasq_log=str(log), handover_minutes=1)
    yield run
    run.stop()


def append(run: ServiceRun, line: str) -> None:
    with open(run.settings["dnsmasq_log"], "a") as log:  # type: ignore[call-overload]
        log.write(line + "\n")


def stamp(when: float) -> str:
    return time.strftime("%b %e %H:%M:%S", time.localtime(when))


def test_a_request_in_dnsmasqs_log_writes_the_pcs_folder_at_once_and_it_goes_when_used_or_expired(
    service: ServiceRun, tmp_path: Path
) -> None:
    files = debian_live_files() | {CHAIN["shim"]: b"vendor shim", CHAIN["grub"]: b"vendor grub"}
    build_iso(service.drop / "vendor.iso", files, volume_id="vendor live")
    service.start()
    service.wait_for(lambda: (service.entry("vendor.iso") or {}).get("outcome") == "served", 30, "vendor.iso served")
    service.stop()
    record_path = service.trees / ".state" / "vendor.json"
    record = json.loads(record_path.read_text())
    record["vendor_chain"] = CHAIN  # what the vendor chain finder records for such an ISO
    record_path.write_text(json.dumps(record))
    service.start()  # a restart: the record is read again
    service.wait_for(lambda: service.status().get("handover", {}).get("entries") == ["vendor"], 20, "the offer")

    pc = "52:54:00:12:34:56"
    folder = service.tftp / "52-54-00-12-34-56"
    asked = time.monotonic()
    tftp = service.tftp
    append(
        service,
        f"{stamp(time.time())} dnsmasq-tftp[812]: file {tftp}/efi64/handover/vendor/{pc} not found for 10.0.0.5",
    )
    service.wait_for(lambda: (folder / MARKER).exists(), 5, "the PC's folder")
    print(f"folder written {time.monotonic() - asked:.2f} s after the request")
    assert (folder / "efi64/bootx64.efi").read_bytes() == b"vendor shim"
    assert (folder / "efi64/grubx64.efi").read_bytes() == b"vendor grub"
    assert (folder / "isodrop/vendor/live/vmlinuz").stat().st_ino == (
        service.trees / "vendor/live/vmlinuz"
    ).stat().st_ino
    assert "linux '/isodrop/vendor/live/vmlinuz'" in (folder / "EFI/BOOT/grub.cfg").read_text()
    service.wait_for(lambda: [f["mac"] for f in service.status()["handover"]["folders"]] == [pc], 5, "the status")
    assert "handing over  52:54:00:12:34:56  vendor through Test Vendor CA's chain" in service.command("status").stdout

    # The PC boots its vendor chain: dnsmasq sends the initrd from its folder, and the folder goes.
    append(service, f"{stamp(time.time())} dnsmasq-tftp[812]: sent {folder}/isodrop/vendor/live/initrd.img to 10.0.0.5")
    service.wait_for(lambda: not folder.exists(), 5, "the folder to go once the initrd was sent")

    # A request made 55 s ago (handover_minutes = 1) goes by itself 5 s later, with no other log line.
    other = service.tftp / "52-54-00-00-00-02"
    append(
        service,
        f"{stamp(time.time() - 55)} dnsmasq-tftp[812]: file {tftp}/efi64/handover/vendor/52:54:00:00:00:02 not found"
        " for 10.0.0.6",
    )
    service.wait_for(lambda: other.exists(), 5, "the second PC's folder")
    service.wait_for(lambda: not other.exists(), 15, "the expired folder to go")
    assert sorted(p.name for p in service.tftp.iterdir() if p.name.startswith((".isodrop", "52-"))) == []
