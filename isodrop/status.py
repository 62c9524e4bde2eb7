"""The status report: one document, written by the service after every pass to state_dir/status.json,
read by `isodrop status`. When the service is not running, the same document is made from the state
records alone."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from isodrop import effects
from isodrop.build import Job
from isodrop.config import Config
from isodrop.model import Outcome, shown
from isodrop.reconcile import DropFile
from isodrop.state import EntryState
from isodrop.trees import Trees


def status_path(config: Config) -> Path:
    return config.state_dir / "status.json"


MAX_IGNORED_SHOWN = 500  # ignored drop-folder names listed in the document (a hostile folder may hold thousands)


def status_line(
    states: Mapping[str, EntryState],
    jobs: Iterable[Job],
    being_copied: int,
    ignored: int = 0,
    unavailable: bool = False,
) -> str:
    """The one-line summary for systemd's STATUS=, `isodrop scan` and `isodrop status`."""
    jobs = list(jobs)
    served = sum(1 for s in states.values() if s.outcome is Outcome.SERVED)
    parts = [f"serving {served} ISO{'s' if served != 1 else ''}"]
    running = [j for j in jobs if j.started and not (j.future and j.future.done())]
    for job in running:
        parts.append(f"extracting {shown(PurePosixPath(job.drop.name).name)} {job.percent}%")  # one line: STATUS=
    queued = len(jobs) - len(running)
    if queued:
        parts.append(f"{queued} queued")
    if being_copied:
        parts.append(f"{being_copied} being copied")
    failed = sum(1 for s in states.values() if s.outcome is not Outcome.SERVED)
    if failed:
        parts.append(f"{failed} not bootable (see isodrop status)")
    if ignored:
        parts.append(f"{ignored} ignored in the drop folder (see isodrop status)")
    if unavailable:
        parts.append("drop folder unavailable, keeping what is served")
    return "; ".join(parts)


def document(
    config: Config,
    *,
    states: Mapping[str, EntryState],
    summary: str,
    running: bool,
    server: str = "",
    jobs: Iterable[Job] = (),
    waiting: Iterable[DropFile] = (),
    sidecar_errors: Mapping[str, str] | None = None,
    retries: Mapping[str, Mapping[str, Any]] | None = None,
    ignored: Mapping[str, str] | None = None,
    system: Mapping[str, str] | None = None,
    started: float = 0.0,
    stopped: bool = False,
) -> dict[str, Any]:
    """The status document; `isodrop status --json` prints it as it is. `retries`: by slug, the
    attempts and seconds to the next try of failed ISOs; `ignored`: drop-folder names not used, and why."""
    errors, retries, ignored = sidecar_errors or {}, retries or {}, ignored or {}
    return {
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
            s.summary() | {"sidecar_error": errors.get(s.source, "")} | dict(retries.get(s.slug, {}))
            for s in sorted(states.values(), key=lambda s: s.source)
        ],
        "ignored": [{"iso": name, "reason": why} for name, why in sorted(ignored.items())[:MAX_IGNORED_SHOWN]],
        "ignored_total": len(ignored),
        "extracting": [{"iso": j.drop.name, "percent": j.percent, "running": j.started} for j in jobs],
        "waiting": [{"iso": d.name, "size": d.size} for d in waiting],
        "system": dict(system or {}),
    }


def write(config: Config, doc: dict[str, Any]) -> None:
    effects.write_if_changed(status_path(config), json.dumps(doc, indent=2) + "\n")


def read(config: Config) -> dict[str, Any]:
    """The running service's document, or (not running) one made from the state records."""
    doc = None
    with contextlib.suppress(OSError, ValueError):
        doc = json.loads(status_path(config).read_text())
    if isinstance(doc, dict) and not doc.get("stopped") and _pid_alive(int(doc.get("pid", 0))):
        return doc | {"running": True}
    states = Trees(config.trees_dir).records()
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


def format_status(doc: Mapping[str, Any]) -> str:
    """The document for a person."""
    head = f"isodrop: running (pid {doc['pid']}): {doc['summary']}" if doc["running"] else "isodrop: not running"
    lines = [head, f"drop folder: {doc['drop_dir']}    config: {doc['config']}"]
    if doc.get("server"):
        lines.append(f"clients boot from: {doc['server']}")
    lines.append("")
    if not doc["entries"] and not doc["extracting"] and not doc["waiting"]:
        lines.append("No ISOs yet: copy one into the drop folder.")
    for entry in doc["entries"]:
        detail = entry["label"] if entry["outcome"] == "served" else entry["error"]
        system = entry["family"] or "-"
        lines.append(f"  {entry['outcome']:<13} {entry['iso']}  [{system}]")
        if detail:
            lines.append(f"      {detail}")
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
    if doc.get("system"):
        lines.append("")
        for part, message in sorted(doc["system"].items()):
            lines.append(f"  {part}: {message}")
    return "\n".join(shown(line) for line in lines)  # outside text never reaches the terminal raw
