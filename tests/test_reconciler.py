"""The reconciler's pass: observing writes nothing, and each pass returns the report the service reads."""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

from isodrop.config import local_defaults
from isodrop.model import Outcome
from isodrop.reconciler import Reconciler
from isodrop.site import Site
from tests.servicekit import build_debian_live


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
