"""The status report: one document, written to state_dir/status.json by the service after every pass and
by `isodrop scan` at its end (the same function, the same inputs: `of_pass` of the last PassReport), read by
`isodrop status`. Only when neither has written one (state_dir is on /run, emptied at boot) is it made
from the state records alone, which know nothing of ignored names and sidecar errors, and it says so."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from isodrop import effects, handover, statuspage
from isodrop.build import Job
from isodrop.config import Config
from isodrop.families import proof
from isodrop.model import ram_copy_line, shown
from isodrop.plan import DropFile
from isodrop.render.menu import boot_params
from isodrop.report import PassReport
from isodrop.sidecar import SIDECAR_SUFFIX, Sidecar, SidecarError, apply, change
from isodrop.state import EntryState
from isodrop.trees import Trees

log = logging.getLogger("isodrop")


def status_path(config: Config) -> Path:
    return config.state_dir / "status.json"


MAX_IGNORED_SHOWN = 500  # ignored drop-folder names listed in the document (a hostile folder may hold thousands)


def of_pass(
    config: Config,
    report: PassReport,
    *,
    made_by: str,
    running: bool,
    system: Mapping[str, str] | None = None,
    started: float = 0.0,
    stopped: bool = False,
) -> dict[str, Any]:
    """The status document of a pass's report; the service (made_by "service") writes it after every
    pass, `isodrop scan` ("scan") once at its end: one document, whoever ran the passes."""
    return document(
        config,
        states=report.states,
        summary=report.summary,
        running=running,
        server=report.server,
        jobs=report.jobs,
        waiting=report.waiting,
        sidecars=report.sidecars,
        sidecar_errors=report.sidecar_errors,
        retries=report.retries_now(),
        ignored=report.ignored,
        system=system,
        started=started,
        stopped=stopped,
        made_by=made_by,
        pins=report.pins,
        handover=report.handover,
    )


def document(
    config: Config,
    *,
    states: Mapping[str, EntryState],
    summary: str,
    running: bool,
    server: str = "",
    jobs: Iterable[Job] = (),
    waiting: Iterable[DropFile] = (),
    sidecars: Mapping[str, Sidecar] | None = None,
    sidecar_errors: Mapping[str, str] | None = None,
    retries: Mapping[str, Mapping[str, Any]] | None = None,
    ignored: Mapping[str, str] | None = None,
    system: Mapping[str, str] | None = None,
    started: float = 0.0,
    stopped: bool = False,
    made_by: str = "records",
    pins: Mapping[str, Any] | None = None,
    handover: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The status document; `isodrop status --json` prints it as it is. `sidecars`: by ISO name, the
    sidecars applied (each entry shows the command line the menus boot and what its sidecar changed);
    `retries`: by slug, the attempts and seconds to the next try of failed ISOs; `ignored`: drop-folder
    names not used, and why; `made_by`: "service", "scan" or "records" (the state records alone);
    `pins`: the per-PC entries (isodrop.pins.PinBook.status), {} when not known; `handover`: the PCs handed
    over to an ISO's own chain (isodrop.handover.HandoverBook.status), {} when not known."""
    errors, retries, ignored = sidecar_errors or {}, retries or {}, ignored or {}
    sidecars = sidecars or {}
    return {
        "made_by": made_by,
        "running": running,
        "pid": os.getpid() if running or stopped else 0,
        "stopped": stopped,
        "started": started,
        "updated": time.time(),
        "config": config.source,
        "drop_dir": str(config.drop_dir),
        "server": server,
        "summary": summary,
        "entries": [
            s.summary()
            | _as_booted(s, sidecars.get(s.source), config)
            | {"sidecar_error": errors.get(s.source, "")}
            | dict(retries.get(s.slug, {}))
            for s in sorted(states.values(), key=lambda s: s.source)
        ],
        "ignored": [{"iso": name, "reason": why} for name, why in sorted(ignored.items())[:MAX_IGNORED_SHOWN]],
        "ignored_total": len(ignored),
        "extracting": [{"iso": j.drop.name, "percent": j.percent, "running": j.started} for j in jobs],
        "waiting": [{"iso": d.name, "size": d.size} for d in waiting],
        "system": dict(system or {}),
        "pins": dict(pins or {}),
        "handover": dict(handover or {}),
    }


def _as_booted(state: EntryState, sidecar: Sidecar | None, config: Config) -> dict[str, Any]:
    """The entry as the menus boot it: "cmdline" (the effective command line: the recognised "params"
    with the sidecar applied and the serial console added), "sidecar" (its file and what it changed,
    {} without one), "guessed" (built by the generic fallback) and "proven" (how far its family's line
    is proven, as `isodrop inspect` says)."""
    if state.entry is None:
        return {"cmdline": "", "menu_label": "", "sidecar": {}, "guessed": False, "proven": ""}
    entry, changed = state.entry, {}
    if sidecar is not None:
        with contextlib.suppress(SidecarError, ValueError):  # refused sidecars are not passed in; a record
            entry = apply(state.entry, sidecar)  # changed since its pass keeps its recognised line
            what = change(state.entry, sidecar)
            changed = {"file": state.source + SIDECAR_SUFFIX, "changes": what.describe()} | dataclasses.asdict(what)
    return {
        "cmdline": " ".join(boot_params(entry, config)),
        "menu_label": entry.label,
        "sidecar": changed,
        "guessed": state.entry.guessed,
        "proven": proof(state.entry.family),
    }


def write(config: Config, doc: dict[str, Any]) -> None:
    effects.write_if_changed(status_path(config), json.dumps(doc, indent=2) + "\n")


def publish(config: Config, doc: dict[str, Any], page_problem_before: str | None = None) -> str | None:
    """Write `doc` as the status page and where `isodrop status` reads it: the one way the service
    (after every pass) and `isodrop scan` (at its end) write it. A page that cannot be written is a
    warning, logged when it starts or changes, shown under "system" as "status page" and returned (None:
    the page is written or not wanted); never a failed pass."""
    problem = statuspage.publish(config, doc)
    if problem != page_problem_before:
        if problem:
            log.warning("%s", problem)
        else:
            log.info("status page written to %s", statuspage.page_path(config))
    if problem:
        doc["system"]["status page"] = problem
    write(config, doc)
    return problem


def read(config: Config, trees: Trees) -> dict[str, Any]:
    """The running service's document; else the last one written (by `isodrop scan` or a service that
    has stopped), nothing in it running any more; else (neither wrote one) one made from the records."""
    doc = None
    with contextlib.suppress(OSError, ValueError):
        doc = json.loads(status_path(config).read_text())
    if isinstance(doc, dict) and isinstance(doc.get("entries"), list):
        if not doc.get("stopped") and _pid_alive(int(doc.get("pid", 0))):
            return doc | {"running": True}
        return doc | {"running": False, "extracting": []}
    states = trees.records()
    return document(config, states=states, summary="not running", running=False)


def has_problems(doc: Mapping[str, Any]) -> bool:
    """Not bootable ISOs, ignored sidecars, or ignored drop-folder names (links out, FIFOs, too deep,
    slug conflicts)."""
    return any(e["outcome"] != "served" or e.get("sidecar_error") for e in doc["entries"]) or bool(doc.get("ignored"))


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _boot_lines(entry: Mapping[str, Any]) -> list[str]:
    """The command line the menus boot and, when a sidecar changed the entry, what and beside what."""
    lines = [f"      command line: {entry['cmdline']}"] if entry.get("cmdline") else []
    sidecar = entry.get("sidecar") or {}
    if sidecar.get("added") or sidecar.get("removed"):
        lines.append(f"      recognised:   {entry['params']}")
    if sidecar:
        lines.append(f"      sidecar {sidecar['file']}: {sidecar['changes']}")
    return lines


def pin_lines(pins: Mapping[str, Any]) -> list[str]:
    """The per-PC entries as `isodrop status` and `isodrop pins` show them."""
    lines = []
    if pins.get("error"):
        lines.append(f"  clients file not used: {pins['error']}")
    for pin in pins.get("clients", []):
        what = [pin["entry"]]
        if pin.get("timeout") is not None:
            what.append(f"timeout {pin['timeout']} s")
        if pin.get("menu"):
            what.append("menu: " + ", ".join(pin["menu"]))
        if pin.get("once"):
            what.append("once")
        target = pin.get("target") or pin["mac"]
        target = f"host {target}" if pin.get("kind") == "hostname" else target
        lines.append(f"  {'pinned':<13} {target}  {'; '.join(what)}")
        if pin.get("warning"):
            lines.append(f"      warning: {pin['warning']}")
        lines += [f"      warning: {why}" for why in pin.get("limits", [])]
    return [""] + lines if lines else []


def format_status(doc: Mapping[str, Any]) -> str:
    """The document for a person."""
    head = f"isodrop: running (pid {doc['pid']}): {doc['summary']}" if doc["running"] else "isodrop: not running"
    lines = [head, f"drop folder: {doc['drop_dir']}    config: {doc['config']}"]
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(doc.get("updated", 0)))
    if doc.get("made_by") == "scan":
        lines.append(f"as of `isodrop scan` at {when}")
    elif doc.get("made_by") == "service" and not doc["running"]:
        lines.append(f"as of the service's last pass at {when}")
    elif doc.get("made_by") == "records":
        lines.append(
            "made from the state records alone: neither the service nor `isodrop scan` has run since"
            " state_dir was emptied, so ignored names and sidecar errors are not known here"
        )
    if doc.get("server"):
        lines.append(f"clients boot from: {doc['server']}")
    lines.append("")
    if not doc["entries"] and not doc["extracting"] and not doc["waiting"]:
        lines.append("No ISOs yet: copy one into the drop folder.")
    for entry in doc["entries"]:
        detail = (entry.get("menu_label") or entry["label"]) if entry["outcome"] == "served" else entry["error"]
        system = entry["family"] or "-"
        lines.append(f"  {entry['outcome']:<13} {entry['iso']}  [{system}]")
        if detail:
            lines.append(f"      {detail}")
        lines += _boot_lines(entry)
        if entry.get("copies_to_ram_bytes"):
            lines.append(f"      root: {ram_copy_line(entry['copies_to_ram_bytes'])}")
        if entry.get("secure_boot"):
            lines.append(f"      {entry['secure_boot']}")
        for warning in entry.get("warnings", []):
            lines.append(f"      warning: {warning}")
        if entry.get("sidecar_error"):
            lines.append(f"      sidecar ignored: {entry['sidecar_error']}")
    for item in doc.get("ignored", []):
        lines.append(f"  {'ignored':<13} {item['iso']}")
        lines.append(f"      {item['reason']}")
    if doc.get("ignored_total", 0) > len(doc.get("ignored", [])):
        lines.append(f"  ... and {doc['ignored_total'] - len(doc['ignored'])} more ignored names")
    for job in doc["extracting"]:
        lines.append(f"  {'extracting' if job['running'] else 'queued':<13} {job['iso']}  {job['percent']}%")
    for item in doc["waiting"]:
        lines.append(f"  {'being copied':<13} {item['iso']}  ({item['size'] // 2**20} MiB so far)")
    if isinstance(doc.get("clients"), dict):
        seen = doc["clients"].get("clients", [])
        stopped = sum(1 for pc in seen if pc.get("stopped"))
        lines.append("")
        lines.append(f"  PCs seen: {len(seen)}, {stopped} stopped before their root file system (see isodrop clients)")
        lines += [f"  {problem}" for problem in doc["clients"].get("problems", [])]
    lines += pin_lines(doc.get("pins") or {})
    lines += handover.status_lines(doc.get("handover") or {})
    if doc.get("system"):
        lines.append("")
        for part, message in sorted(doc["system"].items()):
            lines.append(f"  {part}: {message}")
    return "\n".join(shown(line) for line in lines)  # outside text never reaches the terminal raw
