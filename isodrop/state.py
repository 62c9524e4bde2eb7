"""Per-ISO state records, one small JSON file beside each extracted tree.

`<trees_dir>/<slug>.state.json` says which ISO (name, size, mtime) a tree came from and what came of
it, so a restart knows what it serves without re-extracting, and failures are not retried until
the ISO changes. Trees being built or torn down live in `<trees_dir>/.tmp-*` and are never served.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from isodrop.effects import write_atomically
from isodrop.model import BootEntry, Outcome

log = logging.getLogger(__name__)

STATE_SUFFIX = ".state.json"
TMP_PREFIX = ".tmp-"
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def slug_for(iso_name: str) -> str:
    """A stable, safe folder and menu-label name for an ISO's path relative to the drop folder.

    Names that are already safe keep their stem ("debian-live-12.iso" -> "debian-live-12"); anything
    altered gets a short hash of the original, so two different names never share a slug.
    """
    stem = iso_name[:-4] if iso_name.lower().endswith(".iso") else iso_name
    safe = _SAFE.sub("_", stem.replace("/", "_")).strip("._-")[:80] or "iso"
    if safe == stem and iso_name.endswith(".iso"):
        return safe
    return f"{safe}-{hashlib.sha1(os.fsencode(iso_name)).hexdigest()[:6]}"


@dataclass
class EntryState:
    """What isodrop knows about one ISO; persisted as JSON."""

    slug: str
    source: str  # path relative to the drop folder
    size: int
    mtime_ns: int
    outcome: Outcome
    family: str = ""
    label: str = ""
    volume_id: str = ""
    error: str = ""
    warnings: list[str] = field(default_factory=list)
    entry: dict[str, Any] | None = None  # BootEntry.to_dict() when bootable
    context: dict[str, str] | None = None  # the ServerContext the entry was built for
    secure_boot: dict[str, Any] | None = None  # isodrop.secureboot.Verdict.to_dict() of the kernel, if checked
    updated: float = field(default_factory=time.time)

    def boot_entry(self) -> BootEntry | None:
        return BootEntry.from_dict(self.entry) if self.entry else None

    def summary(self) -> dict[str, Any]:
        """What `isodrop status` shows about this ISO."""
        entry = self.entry or {}
        return {
            "iso": self.source,
            "slug": self.slug,
            "outcome": self.outcome.value,
            "family": self.family,
            "label": self.label,
            "error": self.error,
            "warnings": self.warnings,
            "kernel": entry.get("kernel", ""),
            "params": " ".join(entry.get("params", [])),
            "secure_boot": secure_boot_line(self) if self.entry else "",
        }

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> EntryState:
        data = json.loads(text)
        data["outcome"] = Outcome(data["outcome"])
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def secure_boot_line(state: EntryState) -> str:
    from isodrop.secureboot import describe

    return describe(state.secure_boot)


class StateStore:
    """The trees folder: extracted trees, their state files and temporary build folders."""

    def __init__(self, trees_dir: Path) -> None:
        self.trees_dir = trees_dir

    def tree_path(self, slug: str) -> Path:
        return self.trees_dir / slug

    def state_path(self, slug: str) -> Path:
        return self.trees_dir / f"{slug}{STATE_SUFFIX}"

    def temp_path(self, slug: str, purpose: str) -> Path:
        return self.trees_dir / f"{TMP_PREFIX}{purpose}-{slug}-{time.monotonic_ns()}"

    def load_all(self) -> dict[str, EntryState]:
        """Every readable state record; an unreadable one is reported and treated as absent."""
        states = {}
        if not self.trees_dir.is_dir():
            return states
        for path in sorted(self.trees_dir.glob(f"*{STATE_SUFFIX}")):
            try:
                state = EntryState.from_json(path.read_text())
            except (OSError, ValueError, TypeError, KeyError) as exc:
                log.warning("ignoring unreadable state file %s: %s", path, exc)
                continue
            states[state.slug] = state
        return states

    def save(self, state: EntryState) -> None:
        state.updated = time.time()
        write_atomically(self.state_path(state.slug), state.to_json())

    def forget(self, slug: str) -> None:
        self.state_path(slug).unlink(missing_ok=True)

    def has_tree(self, slug: str) -> bool:
        path = self.tree_path(slug)
        return path.is_dir() and not path.is_symlink()

    def leftovers(self) -> list[Path]:
        """Temporary folders from an interrupted extraction or removal: never served, safe to delete."""
        if not self.trees_dir.is_dir():
            return []
        return sorted(p for p in self.trees_dir.iterdir() if p.name.startswith(TMP_PREFIX))
