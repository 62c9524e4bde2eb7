"""isodrop.reconciler: passes over real folders (each returns the report the service and status read;
observing writes nothing) (no service process): a dropped ISO is extracted, served
in the menu and exported; removed, its entry, export and tree go; the summary and the status document
say so. (The same as a running service: tests/service/test_service.py.)"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

from isodrop import status
from isodrop.config import Config, local_defaults
from isodrop.model import Outcome
from isodrop.reconciler import Reconciler
from isodrop.site import Site
from isodrop.state import slug_for
from tests.harness.servicekit import build_debian_live, passes


def settled_drop(tmp_path: Path) -> Config:
    config = local_defaults(tmp_path / "demo")
    config.drop_dir.mkdir(parents=True)
    iso = build_debian_live(config.drop_dir / "live one.iso")
    long_ago = time.time() - 600  # copied long ago: no settle wait
    os.utime(iso, (long_ago, long_ago))
    return config


def test_a_dropped_iso_is_served_and_a_removed_one_goes_away(tmp_path: Path) -> None:
    config = settled_drop(tmp_path)
    slug = slug_for("live one.iso")
    report = passes(config)
    assert report.states[slug].outcome is Outcome.SERVED and report.states[slug].source == "live one.iso"
    assert f"LABEL iso-{slug}\n" in (config.tftp_root / "pxelinux.cfg/default").read_text()
    assert str(config.trees_dir / slug) in config.exports_file.read_text()
    assert (config.trees_dir / slug / "live/vmlinuz").is_file()
    document = status.of_pass(config, report, made_by="scan", running=False)
    assert document["server"] == "192.0.2.1" and report.summary == "serving 1 ISO"

    (config.drop_dir / "live one.iso").unlink()
    again = passes(config)
    assert slug not in again.states
    assert f"iso-{slug}" not in (config.tftp_root / "pxelinux.cfg/default").read_text()
    assert str(config.trees_dir / slug) not in config.exports_file.read_text()
    assert not (config.trees_dir / slug).exists()


def test_a_restart_serves_the_same_tree_without_extracting_again(tmp_path: Path) -> None:
    config = settled_drop(tmp_path)
    slug = slug_for("live one.iso")
    passes(config)
    kernel = config.trees_dir / slug / "live/vmlinuz"
    inode = kernel.stat().st_ino
    again = passes(config)
    assert again.states[slug].outcome is Outcome.SERVED and kernel.stat().st_ino == inode


def test_observing_writes_nothing_and_the_identity_back_fill_is_saved_by_the_pass(tmp_path: Path) -> None:
    config = local_defaults(tmp_path / "demo")
    config.drop_dir.mkdir(parents=True)
    iso = build_debian_live(config.drop_dir / "live.iso")
    long_ago = time.time() - 600  # no watcher here: a copy is complete once quiet for quiet_seconds
    os.utime(iso, (long_ago, long_ago))
    site = Site.make(config, "192.0.2.1")
    reconciler = Reconciler(site)
    reconciler.prepare()
    try:
        report = reconciler.run_until_idle(wait_for_copies=1)
        assert report.summary == "serving 1 ISO" and report.failed == () and not report.jobs
        assert report.states["live"].outcome is Outcome.SERVED and report.server == "192.0.2.1"
        assert "" in report.folders, "the drop folder itself is watched"

        # a record made before identities were kept (or after a remount moved the inode)
        old = dataclasses.replace(site.trees.records()["live"], ino=0, ctime_ns=0, fingerprint="")
        site.trees.save(old)
        record = site.trees.state("live")
        written = (record.read_text(), record.stat().st_mtime_ns)
        snapshot = reconciler.observe()
        assert (record.read_text(), record.stat().st_mtime_ns) == written, "observing wrote a record"
        assert [state.slug for state in snapshot.backfill] == ["live"]
        assert snapshot.backfill[0].ino == iso.stat().st_ino

        report = reconciler.run_pass()
        assert site.trees.records()["live"].ino == iso.stat().st_ino, "the pass saves the back-filled identity"
        assert report.queued == () and report.removed == (), "the same ISO is not extracted again"
    finally:
        reconciler.shutdown()
