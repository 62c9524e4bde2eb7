"""`inspect_iso` in-process: the lines `isodrop inspect` prints and whether the ISO is bootable, with
nothing written (the command's output and exit codes are in test_cli.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from isodrop.config import local_defaults
from isodrop.extract import ExtractError
from isodrop.inspection import inspect_iso
from isodrop.site import Site
from tests.harness.isofactory import build_iso
from tests.harness.servicekit import build_debian_live


def test_a_debian_live_iso_is_bootable_from_this_sites_nfs_export(tmp_path: Path) -> None:
    site = Site.make(local_defaults(tmp_path / "demo"), "10.9.8.7")
    iso = build_debian_live(tmp_path / "debian-live-12.iso")
    inspection = inspect_iso(site, iso)
    lines = dict(line.split(":", 1) for line in inspection.lines)
    assert inspection.bootable and lines["system"].strip() == "debian-live"
    assert lines["NFS root"].strip() == f"10.9.8.7:{site.trees.root}/debian-live-12"
    assert "boot=live" in lines["cmdline"] and "nfsroot=10.9.8.7:" in lines["cmdline"]
    assert not (tmp_path / "demo").exists(), "inspect writes nothing"


def test_an_iso_no_family_knows_is_not_bootable_and_says_why(tmp_path: Path) -> None:
    iso = build_iso(tmp_path / "notes.iso", {"README.txt": "nothing to boot"}, volume_id="NOTES")
    inspection = inspect_iso(Site.make(local_defaults(tmp_path / "demo"), "10.9.8.7"), iso)
    assert not inspection.bootable
    assert inspection.lines[-1].startswith("system:     not recognised: ")


def test_a_file_that_is_no_iso_raises_the_extract_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.iso"
    junk.write_bytes(b"not an iso" * 100)
    with pytest.raises(ExtractError):
        inspect_iso(Site.make(local_defaults(tmp_path / "demo"), "10.9.8.7"), junk)
