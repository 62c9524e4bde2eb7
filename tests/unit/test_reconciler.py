"""isodrop.reconciler: passes over real folders (no service process): a dropped ISO is extracted, served
in the menu and exported; removed, its entry, export and tree go; the summary and the status document
say so. (The same as a running service: tests/service/test_service.py.)"""

from __future__ import annotations

import os
import time
from pathlib import Path

from isodrop.config import Config, local_defaults
from isodrop.model import Outcome
from isodrop.reconciler import Reconciler
from isodrop.state import slug_for
from tests.harness.servicekit import build_debian_live


def settled_drop(tmp_path: Path) -> Config:
    config = local_defaults(tmp_path / "demo")
    config.drop_dir.mkdir(parents=True)
    iso = build_debian_live(config.drop_dir / "live one.iso")
    long_ago = time.time() - 600  # copied long ago: no settle wait
    os.utime(iso, (long_ago, long_ago))
    return config


def passes(config: Config) -> Reconciler:
    reconciler = Reconciler(config, "192.0.2.1")
    reconciler.prepare()
    try:
        reconciler.run_until_idle(wait_for_copies=1)
    finally:
        reconciler.shutdown()
    return reconciler


def test_a_dropped_iso_is_served_and_a_removed_one_goes_away(tmp_path: Path) -> None:
    config = settled_drop(tmp_path)
    slug = slug_for("live one.iso")
    reconciler = passes(config)
    assert reconciler.states[slug].outcome is Outcome.SERVED and reconciler.states[slug].source == "live one.iso"
    assert f"LABEL iso-{slug}\n" in (config.tftp_root / "pxelinux.cfg/default").read_text()
    assert str(config.trees_dir / slug) in config.exports_file.read_text()
    assert (config.trees_dir / slug / "live/vmlinuz").is_file()
    document = reconciler.status_document("scan", running=False)
    assert document["server"] == "192.0.2.1" and reconciler.summary() == "serving 1 ISO"

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
