"""The status document and its text, from plain values (no service running)."""

import dataclasses
import json
import logging
import os
from pathlib import Path

import pytest

from isodrop.config import local_defaults
from isodrop.model import BootEntry, Outcome
from isodrop.sidecar import Sidecar
from isodrop.state import EntryState
from isodrop.status import (
    MAX_IGNORED_SHOWN,
    document,
    format_status,
    has_problems,
    publish,
    read,
    status_path,
    write,
)
from isodrop.trees import Trees


def record(name: str, outcome: Outcome) -> EntryState:
    return EntryState(slug=name.removesuffix(".iso"), source=name, size=1, mtime_ns=1, outcome=outcome)


def test_ignored_names_and_retries_are_in_the_document_and_count_as_problems(tmp_path: Path) -> None:
    config = local_defaults(tmp_path)
    states = {"good": record("good.iso", Outcome.SERVED)}
    clean = document(config, states=states, summary="", running=True)
    assert not has_problems(clean) and clean["ignored"] == [] and clean["ignored_total"] == 0
    states["bad"] = record("bad.iso", Outcome.FAILED)
    ignored = {f"x{i:04}.iso": "a FIFO, not a regular file" for i in range(MAX_IGNORED_SHOWN + 3)}
    doc = document(
        config,
        states=states,
        summary="",
        running=True,
        retries={"bad": {"attempts": 2, "retry_in": 55.0}},
        ignored=ignored,
    )
    bad = next(e for e in doc["entries"] if e["iso"] == "bad.iso")
    assert (bad["attempts"], bad["retry_in"]) == (2, 55.0)
    assert "attempts" not in next(e for e in doc["entries"] if e["iso"] == "good.iso")
    assert len(doc["ignored"]) == MAX_IGNORED_SHOWN and doc["ignored_total"] == MAX_IGNORED_SHOWN + 3
    only_ignored = document(config, states={}, summary="", running=True, ignored={"l.iso": "link out"})
    assert has_problems(only_ignored)
    text = format_status(doc | {"pid": 1})
    assert "  ignored       x0000.iso\n      a FIFO, not a regular file" in text
    assert "... and 3 more ignored names" in text


def served(name: str) -> EntryState:
    entry = BootEntry(
        family="debian-live",
        label="Debian Live",
        kernel="live/vmlinuz",
        initrds=("live/initrd.img",),
        params=("boot=live", "netboot=nfs", "nfsroot=10.0.0.1:/srv/x", "ip=dhcp", "quiet", "splash"),
    )
    return dataclasses.replace(record(name, Outcome.SERVED), entry=entry, label=entry.label)


def test_entries_show_the_command_line_the_menus_boot_and_what_the_sidecar_changed(tmp_path: Path) -> None:
    config = dataclasses.replace(local_defaults(tmp_path), serial_console="ttyS0,115200")
    states = {"a": served("a.iso"), "b": served("b.iso")}
    sidecars = {"a.iso": Sidecar(label="Rescue", add_params=("nomodeset",), remove_params=("quiet",))}
    doc = document(config, states=states, summary="", running=True, sidecars=sidecars, made_by="service")
    a, b = doc["entries"]
    assert a["params"] == "boot=live netboot=nfs nfsroot=10.0.0.1:/srv/x ip=dhcp quiet splash", "the recognised line"
    assert a["cmdline"] == "boot=live netboot=nfs nfsroot=10.0.0.1:/srv/x ip=dhcp nomodeset console=ttyS0,115200"
    assert a["sidecar"]["file"] == "a.iso.toml" and a["menu_label"] == "Rescue"
    assert (a["sidecar"]["added"], a["sidecar"]["removed"]) == (("nomodeset",), ("quiet", "splash"))
    assert b["cmdline"] == b["params"] + " console=ttyS0,115200" and b["sidecar"] == {}
    text = format_status(doc)
    assert (
        "      Rescue\n"
        "      command line: boot=live netboot=nfs nfsroot=10.0.0.1:/srv/x ip=dhcp nomodeset console=ttyS0,115200\n"
        "      recognised:   boot=live netboot=nfs nfsroot=10.0.0.1:/srv/x ip=dhcp quiet splash\n"
        "      sidecar a.iso.toml: added nomodeset; removed quiet splash; label 'Rescue'\n"
    ) in text
    b_text = text.split("b.iso", 1)[1]
    assert "recognised:" not in b_text and "sidecar" not in b_text, "no sidecar, one line"


def test_status_without_a_service_is_the_last_document_written_else_the_records_saying_so(tmp_path: Path) -> None:
    config = local_defaults(tmp_path)
    Trees(config.trees_dir).prepare()
    Trees(config.trees_dir).save(record("a.iso", Outcome.SERVED))
    alone = read(config, Trees(config.trees_dir))
    assert alone["made_by"] == "records" and not alone["running"] and [e["iso"] for e in alone["entries"]] == ["a.iso"]
    assert "made from the state records alone" in format_status(alone)
    config.state_dir.mkdir(parents=True)
    errors = {"a.iso": "a.iso.toml: add_params may not set nfsroot= (it locates the root; ...)"}
    states = {"a": record("a.iso", Outcome.SERVED)}
    scanned = document(config, states=states, summary="", running=False, sidecar_errors=errors, made_by="scan")
    write(config, scanned | {"ignored": [{"iso": "f.iso", "reason": "a FIFO"}]})
    doc = read(config, Trees(config.trees_dir))
    assert doc["made_by"] == "scan" and not doc["running"] and doc["ignored"][0]["iso"] == "f.iso"
    assert doc["entries"][0]["sidecar_error"] == errors["a.iso"] and has_problems(doc)
    assert "as of `isodrop scan` at " in format_status(doc) and "sidecar ignored: a.iso.toml" in format_status(doc)
    dead = document(config, states=states, summary="", running=True, made_by="service") | {"pid": 2**22 + 1}
    write(config, dead | {"extracting": [{"iso": "x.iso", "percent": 5, "running": True}]})
    doc = read(config, Trees(config.trees_dir))
    assert not doc["running"] and doc["extracting"] == [], "a service that died extracts nothing"
    assert "as of the service's last pass at " in format_status(doc)
    write(config, dead | {"pid": os.getpid()})
    assert read(config, Trees(config.trees_dir))["running"], "a live service's document is shown as it is"


def test_the_clients_part_is_one_line_in_status_with_its_problems(tmp_path: Path) -> None:
    doc = document(local_defaults(tmp_path), states={}, summary="serving 0 ISOs", running=True)
    doc["clients"] = {
        "clients": [{"mac": "aa:bb:cc:dd:ee:01", "stopped": True}, {"mac": "aa:bb:cc:dd:ee:02", "stopped": False}],
        "entries": [],
        "problems": ["HTTP access log: no client data (cannot read /x\x1b[2J)"],
    }
    text = format_status(doc)
    assert "PCs seen: 2, 1 stopped before their root file system (see isodrop clients)" in text
    assert "no client data (cannot read /x\\x1b[2J)" in text and "\x1b" not in text


def test_publish_writes_the_document_and_a_page_problem_goes_into_it_and_the_log_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "isodrop")
    config = local_defaults(tmp_path)
    (tmp_path / "file").write_text("")
    blocked = dataclasses.replace(config, status_page_dir=tmp_path / "file" / "www")
    problem = publish(blocked, document(blocked, states={}, summary="", running=True))
    assert problem is not None and problem.startswith("no status page: cannot write")
    assert json.loads(status_path(config).read_text())["system"] == {"status page": problem}
    assert caplog.text.count("no status page") == 1
    again = publish(blocked, document(blocked, states={}, summary="", running=True), problem)
    assert again == problem and caplog.text.count("no status page") == 1, "logged when it starts or changes"
    assert publish(config, document(config, states={}, summary="", running=True), problem) is None
    assert "status page written to" in caplog.text
    assert json.loads(status_path(config).read_text())["system"] == {}
