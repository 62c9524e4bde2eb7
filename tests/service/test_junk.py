"""A drop folder full of junk named *.iso costs close to nothing and never delays a real ISO: each junk file
is judged from its size and one 5-byte read (isodrop.extract.image.not_iso9660) in the reconciler's pass,
never by pycdlib or a worker; its reason is in status. bench/bench_junk.py measures the time."""

from __future__ import annotations

import logging
import os
import re
import time
from pathlib import Path

import pycdlib
import pytest

from isodrop import build, status
from isodrop.config import local_defaults
from isodrop.extract import ExtractError, extract_iso
from isodrop.extract.image import SMALLEST_IMAGE, not_iso9660
from isodrop.model import Outcome
from isodrop.reconciler import Reconciler
from isodrop.site import Site
from isodrop.trees import Trees
from tests.harness.servicekit import build_debian_live

JUNK = 2000


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "0 bytes"),
        (b"x" * 1000, "1000 bytes, smaller than any (34816)"),
        (bytes(SMALLEST_IMAGE), "no volume descriptor (CD001) at byte 32769"),
        (bytes(32769) + b"CD001" + bytes(2042), None),  # may be one: the parser decides
    ],
    ids=["empty", "small", "no-magic", "magic"],
)
def test_the_cheap_look(tmp_path: Path, data: bytes, reason: str | None) -> None:
    path = tmp_path / "x.iso"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        assert not_iso9660(fd, len(data)) == reason
    finally:
        os.close(fd)
    if reason:  # extraction (and inspect) refuse it with the same words, before pycdlib
        with pytest.raises(ExtractError, match=re.escape(f"is not an ISO 9660 image: {reason}")):
            extract_iso(path, tmp_path / "tree")


def test_junk_is_judged_without_pycdlib_or_a_worker_and_the_real_iso_is_served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    config = local_defaults(tmp_path / "demo")
    config.drop_dir.mkdir(parents=True)
    build_debian_live(config.drop_dir / "zz-real.iso")  # sorted after every junk file
    for number in range(JUNK):
        (config.drop_dir / f"junk-{number:05}.iso").touch()
    (config.drop_dir / "small.iso").write_bytes(b"x" * 1000)
    (config.drop_dir / "zeros.iso").write_bytes(bytes(64 * 2048))
    long_ago = time.time() - 600
    for path in config.drop_dir.iterdir():
        os.utime(path, (long_ago, long_ago))
    opened: list[str] = []  # files pycdlib opened
    real_open = pycdlib.PyCdlib.open_fp
    monkeypatch.setattr(pycdlib.PyCdlib, "open_fp", lambda self, fp: opened.append(fp.name) or real_open(self, fp))
    extracted: list[str] = []  # files given to the extraction (its fast reader, then pycdlib)
    real_extract = build.extract_iso
    monkeypatch.setattr(
        build, "extract_iso", lambda iso, *a, **k: extracted.append(iso.name) or real_extract(iso, *a, **k)
    )

    reconciler = Reconciler(Site.make(config, "192.0.2.1"))
    submitted: list[str] = []
    real_submit = reconciler.pool.submit
    monkeypatch.setattr(
        reconciler.pool, "submit", lambda fn, *a: submitted.append(a[2].drop.name) or real_submit(fn, *a)
    )
    reconciler.prepare()
    try:
        reconciler.run_until_idle(wait_for_copies=1)
    finally:
        reconciler.shutdown()

    assert submitted == ["zz-real.iso"], "only the real ISO takes a worker"
    assert extracted == ["zz-real.iso"], "only the real ISO is read by a parser"
    assert not [name for name in opened if "zz-real" not in str(name)], "pycdlib opened junk"
    states = {s.source: s for s in reconciler.trees.records().values()}
    assert states["zz-real.iso"].outcome is Outcome.SERVED
    assert "LABEL iso-zz-real\n" in (config.tftp_root / "pxelinux.cfg/default").read_text()
    assert len(states) == JUNK + 3
    assert all(s.outcome is Outcome.FAILED for name, s in states.items() if name != "zz-real.iso")
    assert states["junk-00000.iso"].error.endswith("junk-00000.iso is not an ISO 9660 image: 0 bytes")
    assert states["small.iso"].error.endswith("is not an ISO 9660 image: 1000 bytes, smaller than any (34816)")
    assert states["zeros.iso"].error.endswith("no volume descriptor (CD001) at byte 32769")
    text = status.format_status(status.read(config, Trees(config.trees_dir)))
    assert "small.iso" in text and "is not an ISO 9660 image: 1000 bytes" in text

    # a restart judges the junk again, with one read each: nothing is written or logged again
    records = {p.name: p.stat().st_mtime_ns for p in (config.trees_dir / ".state").iterdir()}
    caplog.clear()
    again = Reconciler(Site.make(config, "192.0.2.1"))
    with caplog.at_level(logging.INFO, logger="isodrop"):
        again.prepare()
        try:
            again.run_until_idle(wait_for_copies=1)
        finally:
            again.shutdown()
    assert {p.name: p.stat().st_mtime_ns for p in (config.trees_dir / ".state").iterdir()} == records
    assert not [r for r in caplog.records if "junk-" in r.getMessage()], "junk logged again on restart"
    assert extracted == ["zz-real.iso"], "nothing extracted again"
