"""isodrop.service's parts that work without running the service: the systemd notifier (a real datagram
socket, read and left unread) and the server address. The service as a process: tests/service/test_service.py."""

from __future__ import annotations

import dataclasses
import logging
import socket
import time
from pathlib import Path

import pytest

from isodrop import service
from isodrop.config import local_defaults
from isodrop.handover import Offer, Request
from isodrop.render.menu import MenuItem
from isodrop.vendorchain import VendorChain


def test_without_systemd_the_notifier_is_silent_and_has_no_watchdog(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.setenv("WATCHDOG_USEC", "not a number")
    notifier = service.Notifier()
    notifier.notify("READY=1")  # nothing to send to: no error
    assert notifier.watchdog_interval is None


def test_messages_reach_the_socket_and_an_unread_one_drops_them_with_one_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    reader = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    reader.bind(str(tmp_path / "notify.sock"))
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify.sock"))
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    try:
        notifier = service.Notifier()
        assert notifier.watchdog_interval == 15.0  # half the watchdog time, as sd_watchdog_enabled(3) says
        notifier.notify("READY=1", "STATUS=serving 0 ISOs")
        reader.settimeout(1)
        assert reader.recv(4096).decode() == "READY=1\nSTATUS=serving 0 ISOs"
        queued = int(Path("/proc/sys/net/unix/max_dgram_qlen").read_text())
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="isodrop"):
            for number in range(queued + 3):  # more than the socket holds while nobody reads
                notifier.notify(f"STATUS=pass {number}")
        waited = time.monotonic() - started
        assert service.NOTIFY_TIMEOUT <= waited < 2, "a dropped message waits NOTIFY_TIMEOUT, no more"
        assert sum("its notify socket is not being read" in r.getMessage() for r in caplog.records) == 1
    finally:
        reader.close()


def test_dnsmasqs_log_asks_for_the_hand_over_step_only_while_a_pc_can_be_handed_over_and_an_expiry_too(
    tmp_path: Path,
) -> None:
    config = dataclasses.replace(local_defaults(tmp_path), server_address="10.0.0.1")
    run = service.Service(config)
    try:
        run._dnsmasq_log_changed("modified")
        assert not run.handover_wanted, "no entry can be handed over: a log line asks for nothing"
        item = MenuItem("iso-f", "F", "isodrop/f/vmlinuz", ("isodrop/f/initrd",), "", False, "x", False)
        chain = VendorChain("V", "EFI/BOOT/BOOTX64.EFI", "EFI/BOOT/grubx64.efi", "", ("",), True, "ok")
        book = run.reconciler.handover
        book.update({"f": Offer("f", "f.iso", "isodrop/f", chain, item)}, ())
        run.wake_event.clear()
        run._dnsmasq_log_changed("modified")
        assert run.handover_wanted and run.wake_event.is_set() and not run.pass_wanted
        book.requests = {"52:54:00:12:34:56": Request("52:54:00:12:34:56", "f", time.time() - 61, time.time() - 1)}
        assert run._handover_expired() and run._handover_due() <= time.monotonic() + service.STOP_MARGIN
        run.hand_over()
        assert not run.handover_wanted and not run._handover_expired() and run._handover_due() == float("inf")
        assert run.report.handover["entries"] == ["f"]
    finally:
        run.reconciler.shutdown()
