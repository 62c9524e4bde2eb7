"""`isodrop serve` as a real subprocess on temporary folders: the whole pipeline, end to end
except the network (see tests/system/test_dnsmasq_tftp.py and tests/system/test_e2e_boot.py for that)."""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from isodrop.service import STATUS_MIN_SECONDS
from tests.harness.isofactory import Symlink, build_iso
from tests.harness.servicekit import ServiceRun, build_debian_live, debian_live_files

pytestmark = pytest.mark.service


@pytest.fixture
def service(tmp_path: Path) -> Iterator[ServiceRun]:
    run = ServiceRun(tmp_path / "srv")
    yield run
    run.stop()


def leftovers(run: ServiceRun) -> list[str]:
    temporaries = run.trees / ".tmp"
    return sorted(p.name for p in temporaries.iterdir()) if temporaries.exists() else []


def test_slow_copy_is_waited_for_then_served_and_removed(service: ServiceRun, tmp_path: Path) -> None:
    source = build_debian_live(tmp_path / "src.iso", kernel_size=600_000)
    service.start()
    data = source.read_bytes()
    target = service.drop / "debian-live-12.iso"
    chunk = len(data) // 8 + 1
    with open(target, "wb") as out:  # a copy at "USB speed": 8 chunks, 0.4 s apart, file kept open
        for offset in range(0, len(data), chunk):
            out.write(data[offset : offset + chunk])
            out.flush()
            time.sleep(0.4)
            assert not (service.trees / "debian-live-12").exists(), "extracted while still being copied"
            assert service.entry("debian-live-12.iso") is None
    copied = time.monotonic()
    service.wait_for(lambda: "LABEL iso-debian-live-12" in service.menu(), 15, "the menu entry")
    print(f"served {time.monotonic() - copied:.2f} s after the copy finished")

    tree = service.trees / "debian-live-12"
    assert (tree / "live/vmlinuz").read_bytes() == debian_live_files(kernel_size=600_000)["live/vmlinuz"]
    assert (tree / ".disk/info").exists()
    menu = service.menu()
    assert "LINUX isodrop/debian-live-12/live/vmlinuz" in menu
    assert f"nfsroot=192.0.2.10:{tree} ip=dhcp" in menu
    # The exports are written after the menus (publisher order), so the menu may appear first.
    service.wait_for(lambda: f"{tree} *(ro,no_subtree_check" in service.exports.read_text(), 5, "the export")
    assert (service.tftp / "efi64/pxelinux.cfg/default").read_text().count("::isodrop/debian-live-12/live/vmlinuz")
    service.wait_for(lambda: (service.entry("debian-live-12.iso") or {}).get("outcome") == "served", 5, "status")
    assert "debian-live-12.iso: served as" in service.log_text()

    target.unlink()
    service.wait_for(lambda: not tree.exists(), 10, "the tree to go")
    assert "debian-live-12" not in service.menu()
    assert str(tree) not in service.exports.read_text()
    assert not (service.trees / ".state/debian-live-12.json").exists()
    service.wait_for(lambda: leftovers(service) == [], 10, "the removed tree to be deleted")
    assert service.stop() == 0


def test_moved_in_and_renamed_isos(service: ServiceRun, tmp_path: Path) -> None:
    source = build_debian_live(tmp_path / "src.iso")
    service.start()
    staging = service.drop / ".incoming"  # hidden folders are ignored, like copy tools' temp names
    staging.mkdir()
    shutil.copy(source, staging / "a.iso")
    time.sleep(1.5)
    assert "LABEL iso-a" not in service.menu()
    os.rename(staging / "a.iso", service.drop / "a.iso")  # move-in
    service.wait_for(lambda: "LABEL iso-a\n" in service.menu(), 15, "a.iso served after move-in")
    os.rename(service.drop / "a.iso", service.drop / "b.iso")  # rename
    service.wait_for(lambda: "LABEL iso-b\n" in service.menu() and "LABEL iso-a\n" not in service.menu(), 15, "rename")
    os.rename(service.drop / "b.iso", tmp_path / "moved-out.iso")  # move-out
    service.wait_for(lambda: "LABEL iso-b\n" not in service.menu(), 10, "move-out")
    assert (tmp_path / "moved-out.iso").read_bytes() == source.read_bytes(), "the user's ISO was modified"


def test_sigkill_mid_extraction_converges_after_restart(service: ServiceRun, tmp_path: Path) -> None:
    big = build_iso(
        tmp_path / "big.iso",
        debian_live_files() | {f"live/filler{i}.bin": os.urandom(1) * 40_000_000 for i in range(12)},
        volume_id="d-live big",
    )
    service.settings["verify_checksums"] = False
    service.start()
    shutil.copy(big, service.drop / "big.iso")
    service.wait_for(lambda: leftovers(service), 30, "an extraction in progress")
    service.kill()
    assert not (service.trees / "big").exists(), "a half tree is in place"

    service.start()
    service.wait_for(lambda: "LABEL iso-big" in service.menu(), 60, "the entry after restart")
    tree = service.trees / "big"
    assert (tree / "live/filler11.bin").stat().st_size == 40_000_000
    assert leftovers(service) == [], "temporary folders left behind"
    assert "left over from an interrupted run" in service.log_text()


def test_restart_keeps_serving_without_re_extracting(service: ServiceRun, tmp_path: Path) -> None:
    shutil.copy(build_debian_live(tmp_path / "a.iso"), service.drop / "a.iso")
    service.start()
    service.wait_for(lambda: "LABEL iso-a\n" in service.menu(), 15, "the entry")
    inode = (service.trees / "a").stat().st_ino
    assert service.stop() == 0
    service.start()
    time.sleep(2)
    assert (service.trees / "a").stat().st_ino == inode
    assert "LABEL iso-a\n" in service.menu()
    assert service.log_text().count("a.iso: extracting") == 1


def test_upgrade_from_records_beside_trees_keeps_serving_without_re_extracting(
    service: ServiceRun, tmp_path: Path
) -> None:
    """Before .state/, records were SLUG.state.json beside the trees: an upgrade reads them, moves them and
    re-extracts nothing; an ISO named like such a record (issue 9) no longer reaches another ISO's record."""
    shutil.copy(build_debian_live(tmp_path / "a.iso"), service.drop / "a.iso")
    service.start()
    service.wait_for(lambda: "LABEL iso-a\n" in service.menu(), 15, "the entry")
    assert service.stop() == 0
    inode = (service.trees / "a").stat().st_ino
    os.rename(service.trees / ".state/a.json", service.trees / "a.state.json")  # the old layout
    service.start()
    service.wait_for(lambda: (service.trees / ".state/a.json").exists(), 10, "the record to move")
    assert not (service.trees / "a.state.json").exists() and (service.trees / "a").stat().st_ino == inode
    shutil.copy(service.drop / "a.iso", service.drop / "a.state.json.iso")
    service.wait_for(lambda: "a.state.json.iso: served as" in service.log_text(), 20, "the look-alike served")
    assert (service.entry("a.iso") or {}).get("outcome") == "served" and "LABEL iso-a\n" in service.menu()
    assert service.log_text().count("a.iso: extracting") == 1


def test_bad_input_gets_clear_outcomes_and_the_rest_is_served(service: ServiceRun, tmp_path: Path) -> None:
    good = build_debian_live(tmp_path / "good.iso")
    shutil.copy(good, service.drop / "good.iso")
    (service.drop / "empty.iso").write_bytes(b"")
    (service.drop / "random.iso").write_bytes(os.urandom(200_000))
    (service.drop / "truncated.iso").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    hostile = debian_live_files("hostile") | {
        "live/etc": Symlink("/etc"),
        "live/up": Symlink("../../../../etc/passwd"),
        "live/ok": Symlink("vmlinuz"),
    }
    build_iso(service.drop / "hostile.iso", hostile, volume_id="hostile")
    (service.drop / "unknown.iso").write_bytes(build_iso(tmp_path / "u.iso", {"README.TXT": "hello"}).read_bytes())
    service.start()
    names = ["good.iso", "empty.iso", "random.iso", "truncated.iso", "hostile.iso", "unknown.iso"]
    service.wait_for(lambda: all(service.entry(n) for n in names), 30, "an outcome for every ISO")

    outcome = {n: service.entry(n) for n in names}
    assert outcome["good.iso"]["outcome"] == "served"
    for name in ("empty.iso", "random.iso", "truncated.iso"):
        assert outcome[name]["outcome"] == "failed", outcome[name]
        assert outcome[name]["error"], f"{name} failed without a reason"
    assert "truncat" in outcome["truncated.iso"]["error"].lower()
    assert outcome["unknown.iso"]["outcome"] == "unrecognised"
    assert outcome["hostile.iso"]["outcome"] == "served"
    warnings = " ".join(outcome["hostile.iso"]["warnings"])
    assert "live/etc" in warnings and "live/up" in warnings
    tree = service.trees / "hostile"
    assert not (tree / "live/etc").exists() and not (tree / "live/etc").is_symlink()
    assert not (tree / "live/up").is_symlink()
    assert os.readlink(tree / "live/ok") == "vmlinuz"
    for path in tree.rglob("*"):
        assert path.resolve().is_relative_to(tree.resolve()), f"{path} leads outside its tree"

    menu = service.menu()
    assert "LABEL iso-good\n" in menu and "LABEL iso-hostile\n" in menu
    for name in ("empty", "random", "truncated", "unknown"):
        assert f"LABEL iso-{name}\n" not in menu
        assert not (service.trees / name).exists()

    status = service.command("status")
    assert status.returncode == 1, status.stdout
    assert "failed" in status.stdout and "truncated.iso" in status.stdout and "unrecognised" in status.stdout
    assert leftovers(service) == []


def test_sidecar_changes_rerender_without_extracting_again(service: ServiceRun, tmp_path: Path) -> None:
    shutil.copy(build_debian_live(tmp_path / "a.iso"), service.drop / "a.iso")
    service.start()
    service.wait_for(lambda: "LABEL iso-a\n" in service.menu(), 15, "the entry")
    inode = (service.trees / "a").stat().st_ino
    (service.drop / "a.iso.toml").write_text('label = "Install fest"\nadd_params = ["quiet"]\n')
    service.wait_for(lambda: "MENU LABEL Install fest" in service.menu(), 10, "the sidecar label")
    assert "ip=dhcp quiet" in service.menu()
    (service.drop / "a.iso.toml").write_text("hidden = true\n")
    service.wait_for(lambda: "LABEL iso-a\n" not in service.menu(), 10, "the entry to be hidden")
    assert (service.trees / "a").stat().st_ino == inode
    assert service.log_text().count("a.iso: extracting") == 1


def test_sighup_rereads_the_config(service: ServiceRun, tmp_path: Path) -> None:
    shutil.copy(build_debian_live(tmp_path / "a.iso"), service.drop / "a.iso")
    service.start()
    service.wait_for(lambda: "LABEL iso-a\n" in service.menu(), 15, "the entry")
    service.settings["menu_title"] = "Repair bench"
    service.settings["server_address"] = "192.0.2.99"
    service.write_config()
    assert service.process is not None
    service.process.send_signal(signal.SIGHUP)
    service.wait_for(lambda: "MENU TITLE Repair bench" in service.menu(), 10, "the new title")
    assert "nfsroot=192.0.2.99:" in service.menu()
    assert "reloading configuration" in service.log_text()


def test_a_failing_pass_is_logged_and_retried_not_fatal(service: ServiceRun, tmp_path: Path) -> None:
    service.tftp.mkdir(parents=True)
    (service.tftp / "pxelinux.cfg").write_text("a file where isodrop needs a folder")
    shutil.copy(build_debian_live(tmp_path / "a.iso"), service.drop / "a.iso")
    service.start()
    service.wait_for(lambda: "reconcile pass failed" in service.log_text(), 15, "the failure to be logged")
    service.wait_for(
        lambda: "reconcile pass failed" in service.status()["system"].get("last error", ""), 5, "the status file"
    )
    (service.tftp / "pxelinux.cfg").unlink()
    service.wait_for(lambda: "LABEL iso-a\n" in service.menu(), 20, "the retry to write the menu")
    service.wait_for(lambda: "last error" not in service.status()["system"], 10, "the error to clear")


def test_many_isos_at_once_are_queued(service: ServiceRun, tmp_path: Path) -> None:
    source = build_debian_live(tmp_path / "src.iso")
    service.start()
    for i in range(6):
        shutil.copy(source, service.drop / f"iso{i}.iso")
    service.wait_for(lambda: all(f"LABEL iso-iso{i}\n" in service.menu() for i in range(6)), 60, "all six entries")
    (service.drop / "iso0.iso").unlink()
    service.wait_for(lambda: "LABEL iso-iso0\n" not in service.menu(), 10, "iso0 removed")
    service.wait_for(lambda: service.status()["summary"].startswith("serving 5 ISOs"), 5, "the status line")


def test_a_notify_socket_nobody_reads_does_not_freeze_the_service(service: ServiceRun, tmp_path: Path) -> None:
    """A notify socket queues 10 messages; with nobody reading, sdnotify's send would wait forever."""
    import socket

    reader = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    reader.bind(str(tmp_path / "notify.sock"))
    service.extra_env = {"NOTIFY_SOCKET": str(tmp_path / "notify.sock")}
    source = build_debian_live(tmp_path / "src.iso")
    service.start()
    for i in range(14):  # a pass, and a notify, for each
        shutil.copy(source, service.drop / f"iso{i:02d}.iso")
        time.sleep(0.3)
    service.wait_for(lambda: all(f"LABEL iso-iso{i:02d}\n" in service.menu() for i in range(14)), 90, "all 14 entries")
    assert service.log_text().count("its notify socket is not being read") == 1, service.log_text()
    reader.settimeout(1)
    queued = [reader.recv(4096).decode() for _ in range(10)]
    assert queued[0].startswith("READY=1\n"), queued
    with pytest.raises(TimeoutError):
        while True:
            reader.recv(4096)  # drain whatever else went in
    assert service.process is not None
    service.process.send_signal(signal.SIGHUP)
    assert "RELOADING=1" in reader.recv(4096).decode()  # heard again once read
    reader.close()


def test_local_mode_without_config_says_what_it_skips(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.harness.servicekit import REPO

    (tmp_path / "demo" / "drop").mkdir(parents=True)
    iso = build_debian_live(tmp_path / "demo" / "drop" / "a.iso")
    os.utime(iso, (time.time() - 60, time.time() - 60))  # copied a minute ago: scan need not wait for it
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, "-m", "isodrop", "scan", "--root", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "local mode" in done.stderr and "dnsmasq" in done.stderr
    assert "LABEL iso-a\n" in (tmp_path / "demo/tftp/pxelinux.cfg/default").read_text()
    assert (tmp_path / "demo/exports/isodrop.exports").read_text().count("(ro,") == 1


def test_hostile_file_names_in_the_drop_folder(service: ServiceRun, tmp_path: Path) -> None:
    """Names are the user's, not ours: undecodable bytes and a newline (which could inject menu lines)
    are served under safe folder names and shown as visible escapes; the rest keeps being served."""
    source = build_debian_live(tmp_path / "src.iso")
    names = [os.fsdecode(b"caf\xe9.iso"), "two\nLABEL evil\n  LINUX shadow.iso", "plain.iso"]
    for name in names:
        shutil.copy(source, service.drop / name)
    service.start()
    service.wait_for(lambda: all(service.entry(n) for n in names), 30, "an outcome for every name")
    assert {service.entry(n)["outcome"] for n in names} == {"served"}
    menu = service.menu()
    labels = [line.split()[1] for line in menu.splitlines() if line.startswith("LABEL ")]
    assert len(labels) == 4 and "local" in labels and "iso-plain" in labels  # three ISOs + local, nothing injected
    directives = [line.strip() for line in menu.splitlines()]
    assert not [d for d in directives if d.startswith(("LABEL evil", "LINUX shadow"))], "a name injected menu lines"
    assert all(d.split()[1].startswith("isodrop/") for d in directives if d.startswith("LINUX "))
    for label in labels:
        assert all(c.isalnum() or c in "._-" for c in label)
        assert (service.trees / label.removeprefix("iso-")).is_dir() or label == "local"
    status = service.command("status")
    assert status.returncode == 0, status.stderr
    assert "caf\\xe9.iso" in status.stdout and "two\\nLABEL evil\\n  LINUX shadow.iso" in status.stdout
    (service.drop / names[1]).unlink()
    service.wait_for(
        lambda: len([ln for ln in service.menu().splitlines() if ln.startswith("LABEL ")]) == 3,
        10,
        "the newline-named ISO to be removed",
    )


def test_an_idle_serve_never_wakes_up(tmp_path: Path) -> None:
    """No thread of an idle `isodrop serve` with ISOs served wakes up: every thread blocks without a
    timeout (the watch threads on inotify, the drop folder sentinel in poll(2) on the mount table and
    inotify, the pools on their queues), and the clients' logs are watched, not polled: with a dnsmasq
    log configured in a folder that is there (watched) and no PC booting, no timer is set for them. The
    timers left are the rescan (rescan_seconds, 600 s here, far longer than the 25 s looked at) and the
    sd_notify watchdog ping, only with WATCHDOG_USEC (never set here: ServiceRun removes it). As root it
    runs in a mount namespace of its own, so that mounts elsewhere on the machine (which wake the
    sentinel, as they should) do not count."""
    from tests.harness.faultkit import NamespacedRun, need_root_namespaces
    from tests.harness.servicekit import context_switches

    dnsmasq_log = tmp_path / "log" / "dnsmasq.log"
    dnsmasq_log.parent.mkdir()
    try:
        need_root_namespaces()
        run: ServiceRun = NamespacedRun(tmp_path / "srv", {}, rescan_seconds=600.0, dnsmasq_log=str(dnsmasq_log))
    except pytest.skip.Exception:
        run = ServiceRun(tmp_path / "srv", rescan_seconds=600.0, dnsmasq_log=str(dnsmasq_log))
    source = build_debian_live(tmp_path / "src.iso")
    old = time.time() - 60  # long finished copies: no settle or quiet timer is pending after the first pass
    for i in range(3):
        shutil.copy(source, run.drop / f"iso{i}.iso")
        os.utime(run.drop / f"iso{i}.iso", (old, old))
    (run.drop / "sub").mkdir()  # one more folder watched
    try:
        run.start()
        run.wait_for(lambda: run.status()["summary"] == "serving 3 ISOs", 60, "three ISOs served")
        assert run.process is not None
        # the last pass's aftermath: the status file written (a deferred status report comes at most
        # service.STATUS_MIN_SECONDS later), the pools' threads parked
        time.sleep(2 + STATUS_MIN_SECONDS)
        before = context_switches(run.process.pid)
        time.sleep(25)  # longer than any period a timer could have (the clients' logs were read every 20 s)
        after = context_switches(run.process.pid)
        woken = {
            f"{name} ({tid})": count - before.get(tid, (name, 0))[1]
            for tid, (name, count) in after.items()
            if count != before.get(tid, (name, 0))[1]
        }
        assert not woken, f"context switches in 25 s idle, per thread: {woken}; log:\n{run.log_text()[-2000:]}"
        assert len(after) >= 4, after  # main, observer, emitters, sentinel: really looked at all of them
    finally:
        run.stop()
