"""Faults that must recover by themselves, each injected for real into `isodrop serve` run as a subprocess:
a full disk (small tmpfs), an exception inside one ISO's build, same-size replacements with a restored
mtime, a drop folder that is unmounted / missing and comes back, folders nested far too deep, a sidecar
with a NUL (slug conflicts: tests/service/test_slug_takeover.py)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.faultkit import (
    NamespacedRun,
    assert_menu_well_formed,
    ignored_reason,
    need_root_namespaces,
    status_json,
)
from tests.harness.isofactory import Symlink, build_iso
from tests.harness.servicekit import ServiceRun, build_debian_live, debian_live_files

pytestmark = pytest.mark.service


@pytest.fixture
def service(tmp_path: Path) -> Iterator[ServiceRun]:
    run = ServiceRun(tmp_path / "srv", rescan_seconds=600.0)
    yield run
    run.stop()


def outcome(run: ServiceRun, iso: str) -> str:
    return (run.entry(iso) or {}).get("outcome", "")


def rm_deep(path: Path) -> None:
    """Remove a folder nested deeper than Python's recursion limit (shutil.rmtree would recurse)."""
    subprocess.run(["rm", "-rf", "--one-file-system", str(path)], check=False)


def make_deep(base: Path, levels: int) -> Path:
    """`levels` nested folders made one by one (os.makedirs recurses once per level)."""
    base.mkdir()
    fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(levels):
            os.mkdir("d", dir_fd=fd)
            child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = child
    finally:
        os.close(fd)
    return base.joinpath(*(["d"] * levels))


# --- ENOSPC, retried with backoff and at once on SIGHUP -----------------------------------------------


def big_iso(path: Path, marker: str = "big") -> Path:
    return build_iso(
        path, debian_live_files(marker) | {"live/filler.bin": os.urandom(6_000_000)}, volume_id=f"d-live {marker}"
    )


def full_disk_run(tmp_path: Path, retry_seconds: float) -> NamespacedRun:
    need_root_namespaces()
    root = tmp_path / "srv"
    run = NamespacedRun(root, {}, retry_seconds=retry_seconds, retry_max_seconds=retry_seconds * 2)
    # room for the boot files (~10 MB with shim + GRUB twice) and menus and a small tree, not for a big one
    run.mounts = {run.tftp: "size=12m,mode=755"}
    return run


def wait_enospc_failure(run: NamespacedRun) -> dict:
    run.wait_for(lambda: outcome(run, "big.iso") == "failed", 30, "big.iso to fail on the full disk")
    entry = run.entry("big.iso")
    assert "No space left on device" in entry["error"], entry
    assert "LABEL iso-big" not in run.ns_menu()
    leftovers = run.ns(f"ls -a {run.trees}").stdout.split()
    assert not [name for name in leftovers if name.startswith(".tmp-")], leftovers
    return entry


def test_enospc_fails_cleanly_and_is_retried_when_space_comes_back(tmp_path: Path) -> None:
    run = full_disk_run(tmp_path, retry_seconds=2.0)
    try:
        shutil.copy(build_debian_live(tmp_path / "small.iso"), run.drop / "small.iso")
        run.start()
        run.wait_for(lambda: outcome(run, "small.iso") == "served", 30, "small.iso served")
        shutil.copy(big_iso(tmp_path / "big.iso"), run.drop / "big.iso")
        entry = wait_enospc_failure(run)
        assert entry.get("attempts", 0) >= 1 and "retry_in" in entry, entry
        run.wait_for(lambda: run.log_text().count("big.iso: extracting") >= 2, 20, "a retry with backoff")
        assert "LABEL iso-small" in run.ns_menu(), "a failed ISO emptied the menu"
        run.ns(f"mount -o remount,size=64m {run.tftp}")
        begun = time.monotonic()
        run.wait_for(lambda: outcome(run, "big.iso") == "served", 30, "big.iso served once space came back")
        print(f"served {time.monotonic() - begun:.1f} s after space came back")
        assert "LABEL iso-big" in run.ns_menu() and "LABEL iso-small" in run.ns_menu()
        assert "Traceback" not in run.log_text()
    finally:
        run.stop()


def test_enospc_failure_is_retried_at_once_on_sighup(tmp_path: Path) -> None:
    run = full_disk_run(tmp_path, retry_seconds=600.0)
    try:
        run.start()
        shutil.copy(big_iso(tmp_path / "big.iso"), run.drop / "big.iso")
        wait_enospc_failure(run)
        run.ns(f"mount -o remount,size=64m {run.tftp}")
        time.sleep(2)
        assert outcome(run, "big.iso") == "failed", "retried before its time (retry_seconds = 600)"
        assert run.log_text().count("big.iso: extracting") == 1
        assert run.process is not None
        run.process.send_signal(signal.SIGHUP)
        run.wait_for(lambda: outcome(run, "big.iso") == "served", 20, "big.iso served right after SIGHUP")
    finally:
        run.stop()


# --- an exception escaping one ISO's build ------------------------------------------------------------


def test_a_failed_build_is_that_isos_failure_and_never_empties_the_menu(service: ServiceRun, tmp_path: Path) -> None:
    """Once (before extraction turned every exception into ExtractError, tests/service/test_hostile_images.py) a
    Rock Ridge symlink target with a NUL escaped the build; any failure must stay this ISO's, recorded."""
    shutil.copy(build_debian_live(tmp_path / "good.iso"), service.drop / "good.iso")
    wrong_md5 = {"md5sum.txt": f"{'0' * 32}  ./live/vmlinuz\n", "live/evil": Symlink("a\0b")}
    build_iso(service.drop / "bad.iso", debian_live_files("bad") | wrong_md5, volume_id="bad")
    service.start()
    service.wait_for(lambda: outcome(service, "bad.iso") and outcome(service, "good.iso"), 30, "both outcomes")
    assert outcome(service, "good.iso") == "served"
    bad = service.entry("bad.iso")
    assert bad["outcome"] == "failed" and "fails its md5sum.txt" in bad["error"], bad
    time.sleep(6)  # the old code re-extracted it every 5 s
    assert service.log_text().count("bad.iso: extracting") == 1, "a recorded failure was retried before its time"
    assert "LABEL iso-good" in service.menu()
    assert "reconcile pass failed" not in service.log_text()
    assert service.stop() == 0
    scan = service.command("scan")
    assert "Traceback" not in scan.stdout + scan.stderr, scan.stderr
    assert "LABEL iso-good" in service.menu(), "scan wrote a menu without the good ISO"


# --- same-size replacement with a restored mtime ------------------------------------------------------


def same_size_pair(tmp_path: Path) -> tuple[Path, Path]:
    one = build_debian_live(tmp_path / "one.iso", "one")
    two = build_debian_live(tmp_path / "two.iso", "two")
    assert one.stat().st_size == two.stat().st_size
    return one, two


def kernel_marker(run: ServiceRun) -> bytes:
    try:
        return (run.trees / "x" / "live/vmlinuz").read_bytes()[:10]
    except OSError:
        return b""


def test_same_size_replacement_with_restored_mtime_is_noticed(service: ServiceRun, tmp_path: Path) -> None:
    one, two = same_size_pair(tmp_path)
    target = service.drop / "x.iso"
    shutil.copy(one, target)
    service.start()
    service.wait_for(lambda: kernel_marker(service) == b"kernel-one", 20, "x.iso served from image one")

    def replace(source: Path, how: str) -> None:
        """Replace x.iso's bytes and restore its times before the file is closed or renamed into place,
        as `cp -p` and rsync do. (Restoring them after the close, as `touch -r` would, leaves a moment in
        which a complete file with a new mtime is there; the service may rightly serve that too, and the
        count of extractions below would depend on timing.)"""
        before = target.stat()
        times = (before.st_atime_ns, before.st_mtime_ns)
        if how == "in place":
            with open(target, "r+b") as out:
                out.write(source.read_bytes())
                out.flush()
                os.utime(out.fileno(), ns=times)
        else:
            staging = service.drop / ".x.iso.part"
            shutil.copy(source, staging)
            os.utime(staging, ns=times)
            os.rename(staging, target)
        after = target.stat()
        assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)

    # 1. in place (same inode, new ctime)
    replace(two, "in place")
    service.wait_for(lambda: kernel_marker(service) == b"kernel-two", 20, "the in-place replacement served")
    # 2. renamed over (new inode)
    replace(one, "renamed")
    service.wait_for(lambda: kernel_marker(service) == b"kernel-one", 20, "the renamed-over replacement served")
    # 3. after SIGHUP
    replace(two, "renamed")
    assert service.process is not None
    service.process.send_signal(signal.SIGHUP)
    service.wait_for(lambda: kernel_marker(service) == b"kernel-two", 20, "the replacement served after SIGHUP")
    # 4. while stopped, noticed after a restart
    assert service.stop() == 0
    replace(one, "in place")
    service.start()
    service.wait_for(lambda: kernel_marker(service) == b"kernel-one", 20, "the replacement served after restart")
    service.wait_for(lambda: "LABEL iso-x\n" in service.menu(), 10, "x in the menu")
    extractions = service.log_text().count("x.iso: extracting")
    service.stop()
    service.start()  # an unchanged file is not extracted again after a restart
    time.sleep(2)
    assert service.log_text().count("x.iso: extracting") == extractions == 5, service.log_text()


def test_a_same_size_replacement_still_open_for_writing_waits_for_its_close(
    service: ServiceRun, tmp_path: Path
) -> None:
    """Name, size and mtime match the record while the writer still holds the file: not served yet."""
    one, two = same_size_pair(tmp_path)
    target = service.drop / "x.iso"
    shutil.copy(one, target)
    service.start()
    service.wait_for(lambda: kernel_marker(service) == b"kernel-one", 20, "x.iso served from image one")
    before = target.stat()
    with open(target, "r+b") as out:
        out.write(two.read_bytes())
        out.flush()
        os.utime(out.fileno(), ns=(before.st_atime_ns, before.st_mtime_ns))
        assert service.process is not None
        service.process.send_signal(signal.SIGHUP)  # a pass now, and the rescan would be one too
        time.sleep(3)
        # (a pass that saw the write under way, with its new mtime, has already retired image one's tree)
        assert kernel_marker(service) in (b"kernel-one", b""), service.log_text()
        assert service.log_text().count("x.iso: extracting") == 1, service.log_text()
    service.wait_for(lambda: kernel_marker(service) == b"kernel-two", 20, "the replacement served after its close")


def test_a_kill_just_after_the_tree_appears_still_notices_a_replacement_made_while_down(
    service: ServiceRun, tmp_path: Path
) -> None:
    """The record that comes with a tree carries the ISO's identity (inode, ctime, fingerprint) in the same
    write: a record without one would make a same-size, same-mtime replacement pass for the old image."""
    one, two = same_size_pair(tmp_path)
    target = service.drop / "x.iso"
    shutil.copy(one, target)
    service.start()
    record_file = service.trees / ".state" / "x.json"
    deadline = time.monotonic() + 20
    while not record_file.exists() and time.monotonic() < deadline:
        time.sleep(0.001)  # the first record written is the one to catch: the tree follows it
    service.kill()
    record = json.loads(record_file.read_text())
    assert record["outcome"] == "served" and record["fingerprint"], record
    assert record["ino"] == target.stat().st_ino, record
    before = target.stat()
    with open(target, "r+b") as out:
        out.write(two.read_bytes())
        out.flush()
        os.utime(out.fileno(), ns=(before.st_atime_ns, before.st_mtime_ns))
    service.start()
    service.wait_for(lambda: kernel_marker(service) == b"kernel-two", 20, "the replacement served after the kill")


# --- the drop folder goes away and comes back ----------------------------------------------------------


def test_unmounted_drop_folder_keeps_serving_and_its_return_reuses_the_trees(tmp_path: Path) -> None:
    need_root_namespaces()
    root = tmp_path / "srv"
    run = NamespacedRun(root, {}, rescan_seconds=600.0)
    run.mounts = {run.drop: "size=64m"}  # the "USB disk"
    for name, marker in (("a.iso", "aaa"), ("b.iso", "bbb"), ("c.iso", "ccc")):
        build_debian_live(tmp_path / "src" / name, marker)
    src = tmp_path / "src"
    try:
        run.start()
        run.ns(f"cp -p {src}/a.iso {src}/b.iso {run.drop}/")
        run.wait_for(lambda: outcome(run, "a.iso") == outcome(run, "b.iso") == "served", 30, "a and b served")
        inodes = {n: (run.trees / n).stat().st_ino for n in ("a", "b")}
        menu = run.menu()

        run.ns(f"umount {run.drop}")  # the disk is unplugged
        run.wait_for(
            lambda: "unmounted" in status_json(run)["system"].get("drop folder", ""), 15, "the unmount in status"
        )
        time.sleep(2)
        assert run.menu() == menu, "the menu changed while the drop folder was unmounted"
        assert {n: (run.trees / n).stat().st_ino for n in ("a", "b")} == inodes
        assert outcome(run, "a.iso") == "served"
        assert "keeping everything served" in run.log_text()

        # plugged in again: same files (cp -p keeps the mtime; inodes and ctimes are new). A disk brings its
        # files with it: they are copied onto the tmpfs before it is moved onto the drop folder, since the
        # mount itself wakes the service at once (an empty disk would rightly mean "no ISOs")
        disk = root / "disk"
        run.ns(
            f"mkdir -p {disk} && mount -t tmpfs -o size=64m isodrop-test {disk}"
            f" && cp -p {src}/a.iso {src}/b.iso {disk}/ && mount --move {disk} {run.drop}"
        )
        run.wait_for(lambda: "drop folder" not in status_json(run)["system"], 20, "the drop folder back in status")
        time.sleep(1)
        assert {n: (run.trees / n).stat().st_ino for n in ("a", "b")} == inodes, "re-extracted after the remount"
        assert run.log_text().count("a.iso: extracting") == 1

        # and it is watched again: a new ISO is served long before rescan_seconds
        run.ns(f"cp {src}/c.iso {run.drop}/ && rm {run.drop}/b.iso")
        run.wait_for(
            lambda: "LABEL iso-c\n" in run.menu() and "LABEL iso-b\n" not in run.menu(), 20, "c added, b removed"
        )
        assert "Traceback" not in run.log_text()
    finally:
        run.stop()


def test_missing_drop_folder_keeps_serving(service: ServiceRun, tmp_path: Path) -> None:
    shutil.copy(build_debian_live(tmp_path / "a.iso"), service.drop / "a.iso")
    service.start()
    service.wait_for(lambda: outcome(service, "a.iso") == "served", 20, "a served")
    inode = (service.trees / "a").stat().st_ino
    away = tmp_path / "away"
    os.rename(service.drop, away)
    service.wait_for(lambda: "missing" in service.status()["system"].get("drop folder", ""), 15, "missing in status")
    assert "LABEL iso-a\n" in service.menu()
    assert service.stop() == 0
    service.start()  # a restart without the drop folder: still nothing removed, and it is not re-created
    time.sleep(2)
    assert "missing" in service.status()["system"].get("drop folder", "")
    assert "LABEL iso-a\n" in service.menu() and not service.drop.exists()
    os.rename(away, service.drop)
    service.wait_for(lambda: "drop folder" not in service.status()["system"], 40, "the drop folder back")
    assert (service.trees / "a").stat().st_ino == inode
    assert service.log_text().count("a.iso: extracting") == 1


def test_drop_dir_must_be_mountpoint(tmp_path: Path) -> None:
    run = ServiceRun(tmp_path / "srv", drop_dir_must_be_mountpoint=True)
    shutil.copy(build_debian_live(tmp_path / "a.iso"), run.drop / "a.iso")
    try:
        run.start()
        run.wait_for(lambda: "not mounted" in run.status()["system"].get("drop folder", ""), 15, "status")
        assert run.entry("a.iso") is None and not (run.trees / "a").exists()
    finally:
        run.stop()


# --- deep folders in the drop folder -------------------------------------------------------------------


def test_deep_folders_never_stop_serve_or_scan(service: ServiceRun, tmp_path: Path) -> None:
    good = build_debian_live(tmp_path / "good.iso")
    deep_at_start = make_deep(service.drop / "deep1", 1100)
    shutil.copy(good, deep_at_start / "lost.iso")
    eight = service.drop.joinpath(*"abcdefgh")  # 8 folders deep: still served
    eight.mkdir(parents=True)
    shutil.copy(good, eight / "eight.iso")
    shutil.copy(good, service.drop / "good.iso")
    try:
        service.start()
        service.wait_for(lambda: outcome(service, "good.iso") == "served", 30, "good.iso served")
        service.wait_for(lambda: outcome(service, "a/b/c/d/e/f/g/h/eight.iso") == "served", 30, "eight.iso served")
        doc = status_json(service)
        deep_name = "deep1/" + "/".join(["d"] * 8) + "/"
        assert "more than 8 levels deep" in ignored_reason(doc, deep_name), doc.get("ignored")
        # a second deep folder while running; the watcher must survive it
        make_deep(service.drop / "deep2", 1100)
        time.sleep(1)
        shutil.copy(good, service.drop / "later.iso")
        service.wait_for(lambda: outcome(service, "later.iso") == "served", 20, "later.iso (rescan is 600 s)")
        assert "Traceback" not in service.log_text()
        assert service.stop() == 0
        scan = service.command("scan")
        assert "Traceback" not in scan.stdout + scan.stderr, scan.stderr[-2000:]
        assert "LABEL iso-later\n" in service.menu()
    finally:
        rm_deep(service.drop / "deep1")
        rm_deep(service.drop / "deep2")


# --- a bad sidecar is that ISO's sidecar error only ----------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        'add_params = ["a\\u0000b"]\n',
        'add_params = ["x\\ny"]\n',
        'label = "one\\u001btwo"\n',
        'add_params = ["\\u0085"]\n',
    ],
    ids=["nul", "newline", "escape", "c1-control"],
)
def test_bad_sidecar_is_only_that_isos_error(service: ServiceRun, tmp_path: Path, text: str) -> None:
    for name in ("a.iso", "c.iso"):
        shutil.copy(build_debian_live(tmp_path / name), service.drop / name)
    service.start()
    service.wait_for(lambda: "LABEL iso-a\n" in service.menu() and "LABEL iso-c\n" in service.menu(), 30, "a and c")
    (service.drop / "a.iso.toml").write_text(text)
    service.wait_for(lambda: (service.entry("a.iso") or {}).get("sidecar_error"), 15, "a's sidecar error")
    error = service.entry("a.iso")["sidecar_error"]
    assert "control characters" in error or "label must be" in error, error
    shutil.copy(build_debian_live(tmp_path / "b.iso"), service.drop / "b.iso")
    (service.drop / "c.iso").unlink()
    service.wait_for(
        lambda: "LABEL iso-b\n" in service.menu() and "LABEL iso-c\n" not in service.menu(), 20, "b in, c out"
    )
    assert "LABEL iso-a\n" in service.menu()
    assert_menu_well_formed(service.menu())
    assert "reconcile pass failed" not in service.log_text()


# --- a watcher that dies is noticed and re-created -----------------------------------------------------


@contextlib.contextmanager
def watching(tmp_path: Path) -> Iterator[tuple[Path, list[str], object]]:
    """A started DropWatcher on a drop folder with one subfolder, both watched; its wake-ups in a list."""
    from isodrop.dropfolder import list_drop
    from isodrop.watch import DropWatcher, Settler

    drop = tmp_path / "drop"
    (drop / "sub").mkdir(parents=True)
    wakes: list[str] = []
    watcher = DropWatcher(drop, wakes.append, Settler(1.0, 3.0))
    watcher.start()
    try:
        watcher.refresh(list_drop(drop).folders)
        yield drop, wakes, watcher
    finally:
        watcher.stop()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
@pytest.mark.parametrize("how", ["stopped", "exception"])
def test_a_dead_watcher_is_noticed_and_restarted(tmp_path: Path, how: str) -> None:
    """In-process, with real inotify: the observer thread is stopped under the watcher's feet, or an
    exception ends it while it dispatches an event; its end must wake the service, the next refresh
    must start a new observer, and events must arrive again."""
    from isodrop.dropfolder import list_drop

    with watching(tmp_path) as (drop, wakes, watcher):
        (drop / "sub" / "one.iso").write_bytes(b"x")
        ServiceRun.wait_until(lambda: any("one.iso" in w for w in wakes), 5, "an event from the subfolder")
        if how == "stopped":
            watcher._observer.stop()  # the watcher thread dies
        else:

            def fail(*_: object) -> None:
                raise RuntimeError("a bug in the dispatch thread")

            watcher._observer.dispatch_events = fail
            (drop / "sub" / "boom.iso").write_bytes(b"x")
        ServiceRun.wait_until(lambda: any("watch stopped" in w for w in wakes), 10, "the observer's end wakes")
        watcher.refresh(list_drop(drop).folders)  # what the woken pass does
        assert watcher.restarts == 1 and not watcher.dead()
        wakes.clear()
        (drop / "sub" / "two.iso").write_bytes(b"x")
        ServiceRun.wait_until(lambda: any("two.iso" in w for w in wakes), 5, "events after the restart")


def test_a_dead_emitter_wakes_the_service_at_once(tmp_path: Path) -> None:
    """One folder's watch thread ends (as when its folder is deleted, or an exception ends it): its end
    itself wakes the service (nothing polls for it), and the next refresh watches that folder again."""
    from isodrop.dropfolder import list_drop

    with watching(tmp_path) as (drop, wakes, watcher):
        watcher._emitter(watcher._watches["sub"][0]).stop()  # the emitter thread of "sub" ends
        ServiceRun.wait_until(lambda: "watch stopped: sub" in wakes, 5, "the ended emitter's wake-up")
        assert watcher.dead() == ["sub"]
        watcher.refresh(list_drop(drop).folders)
        assert watcher.restarts == 1 and not watcher.dead()
        wakes.clear()
        (drop / "sub" / "one.iso").write_bytes(b"x")
        ServiceRun.wait_until(lambda: any("one.iso" in w for w in wakes), 5, "events after the new watch")
        watcher.refresh({})  # watches we end ourselves wake no one
        time.sleep(0.5)
        assert not [w for w in wakes if "watch stopped" in w], wakes


def test_a_disk_mounted_on_the_drop_folder_is_served_at_once(tmp_path: Path) -> None:
    """drop_dir_must_be_mountpoint, the disk plugged in while the service runs: the mount itself wakes it
    (rescan_seconds is 600 s), and what is then copied onto the disk is served."""
    need_root_namespaces()
    run = NamespacedRun(tmp_path / "srv", {}, rescan_seconds=600.0, drop_dir_must_be_mountpoint=True)
    src = build_debian_live(tmp_path / "src" / "a.iso")
    try:
        run.start()
        run.wait_for(lambda: "not mounted" in status_json(run)["system"].get("drop folder", ""), 15, "not mounted")
        run.ns(f"mount -t tmpfs -o size=64m isodrop-test {run.drop}")
        run.wait_for(lambda: "drop folder" not in status_json(run)["system"], 10, "the mount noticed")
        run.ns(f"cp {src} {run.drop}/a.iso")
        run.wait_for(lambda: outcome(run, "a.iso") == "served", 20, "a.iso on the new disk served")
        run.ns(f"umount {run.drop}")
        run.wait_for(lambda: "not mounted" in status_json(run)["system"].get("drop folder", ""), 10, "the unmount")
        assert "LABEL iso-a\n" in run.menu(), "the unmount removed what was served"
        assert "Traceback" not in run.log_text()
    finally:
        run.stop()


def test_folders_beyond_the_watch_limit_are_found_by_the_rescan(tmp_path: Path) -> None:
    from isodrop.dropfolder import MAX_WATCHED_FOLDERS

    run = ServiceRun(tmp_path / "srv", rescan_seconds=4.0)
    for i in range(MAX_WATCHED_FOLDERS + 5):
        (run.drop / f"f{i:03d}").mkdir()
    try:
        run.start()
        run.wait_for(
            lambda: "not watched" in run.status()["system"].get("watcher", ""), 10, "the watch limit in status"
        )
        last = run.drop / f"f{MAX_WATCHED_FOLDERS + 4:03d}"
        shutil.copy(build_debian_live(tmp_path / "late.iso"), last / "late.iso")
        run.wait_for(lambda: outcome(run, f"{last.name}/late.iso") == "served", 30, "the ISO in an unwatched folder")
    finally:
        run.stop()
