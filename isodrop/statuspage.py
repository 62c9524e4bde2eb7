"""The status page: the status document (isodrop.status.document, what `isodrop status --json` prints)
as one static HTML file, status_page_dir/index.html, for a volunteer's phone. The service writes it after
every pass and `isodrop scan` at its end, next to status.json; nginx serves it (contrib/nginx/isodrop).

It is made from the document alone: a section for each part the document has, so a part that others add
to the document (client tracking, per-PC pins) appears as a generic section without a change here.
Every string in the document may come from a hostile drop folder, a sidecar or a client: each goes
through `shown` (control and bidi characters become visible escapes) before a template sees it, and the
template is rendered with autoescape on, so none of it can become markup. No script: a meta refresh
reloads the page.

Writing it never fails a pass: `publish` returns why there is no page, and the caller logs and reports it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2

from isodrop import effects
from isodrop.config import Config
from isodrop.loaders.base import environment
from isodrop.model import shown

PAGE_NAME = "index.html"
TEMPLATE = "status.html.j2"
# What the page header and its own sections show; any other key of the document is a generic section.
KNOWN_KEYS = frozenset(
    {
        "made_by",
        "running",
        "pid",
        "stopped",
        "started",
        "updated",
        "config",
        "drop_dir",
        "server",
        "summary",
        "entries",
        "ignored",
        "ignored_total",
        "extracting",
        "waiting",
        "system",
    }
)
REFRESH_BUSY_SECONDS = 5  # while something is extracted or copied: progress moves
REFRESH_IDLE_SECONDS = 30


def page_path(config: Config) -> Path | None:
    return None if config.status_page_dir is None else config.status_page_dir / PAGE_NAME


def _environment(templates_dir: Path | None) -> jinja2.Environment:
    """The templates' environment with autoescape on and the page's filters."""
    env = environment(templates_dir, html=True)
    env.filters.update(when=_when, compact=_compact)
    return env


def visible(value: Any) -> Any:
    """The document with every string (keys too) through `shown`: nothing outside can hide in it."""
    if isinstance(value, str):
        return shown(value)
    if isinstance(value, Mapping):
        return {shown(key): visible(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [visible(item) for item in value]
    return value


def _when(seconds: Any) -> str:
    if not isinstance(seconds, int | float) or seconds <= 0:
        return "unknown"
    return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(seconds))


def _compact(value: Any) -> str:
    """A nested value of a generic section, on one line."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _section(key: str, value: Any) -> dict[str, Any] | None:
    """A generic section for a key of the document this page does not know: a list becomes one card per
    item, a mapping one card per key (or one card of fields when its values are plain)."""
    title = key.replace("_", " ").capitalize()
    if isinstance(value, list) and value:
        items = [item if isinstance(item, Mapping) else {"": item} for item in value]
        return {"key": key, "title": title, "cards": [("", item) for item in items], "count": len(value)}
    if isinstance(value, Mapping) and value:
        if all(isinstance(item, Mapping) for item in value.values()):
            return {"key": key, "title": title, "cards": list(value.items()), "count": len(value)}
        return {"key": key, "title": title, "cards": [("", value)], "count": None}
    return None


def view(doc: Mapping[str, Any]) -> dict[str, Any]:
    """What the template lays out: the document (made visible) grouped into the page's sections."""
    doc = visible(doc)
    entries = [e for e in doc.get("entries", []) if isinstance(e, Mapping)]
    served = [e for e in entries if e.get("outcome") == "served"]
    failed = [e for e in entries if e.get("outcome") != "served"]
    extracting = list(doc.get("extracting", []))
    waiting = list(doc.get("waiting", []))
    ignored = list(doc.get("ignored", []))
    extra = [_section(key, value) for key, value in doc.items() if key not in KNOWN_KEYS]
    details = {key: value for key, value in doc.items() if key not in KNOWN_KEYS and not isinstance(value, list | dict)}
    busy = bool(extracting or waiting) and bool(doc.get("running"))
    return {
        "doc": doc,
        "served": served,
        "failed": failed,
        "extracting": extracting,
        "waiting": waiting,
        "ignored": ignored,
        "ignored_total": max(int(doc.get("ignored_total", 0) or 0), len(ignored)),
        "sections": [section for section in extra if section is not None],
        "details": details,
        "refresh": REFRESH_BUSY_SECONDS if busy else REFRESH_IDLE_SECONDS,
    }


def render(doc: Mapping[str, Any], templates_dir: Path | None = None) -> str:
    return _environment(templates_dir).get_template(TEMPLATE).render(view(doc))


def publish(config: Config, doc: Mapping[str, Any]) -> str | None:
    """Write the page when it changed; None when it is there (or not wanted), else why there is no page
    (a warning for the log and the status document, never a failed pass: a broken override template or
    an unwritable folder costs the page only)."""
    path = page_path(config)
    if path is None:
        return None
    try:
        page = render(doc, config.templates_dir)
    except Exception as exc:  # an override template can fail in any way jinja2 or its own code can
        return f"no status page: template {TEMPLATE} failed: {type(exc).__name__}: {exc}"
    try:
        effects.write_if_changed(path, page, durable=False)  # made again by the next pass
    except OSError as exc:
        return f"no status page: cannot write {path}: {exc.strerror or exc}"
    return None
