"""Per-ISO state records: which ISO (name, size, mtime) a tree came from and what came of it.

So a restart knows what it serves without re-extracting, and failures are not retried until the
ISO changes. Where records live is `isodrop.trees`' business; this is the value and its JSON form
(JSON only at the file boundary: in memory the entry and its server context are typed values).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from isodrop.model import BootEntry, Outcome, ServerContext

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


def secure_boot_line(verdict: dict[str, Any] | None) -> str:
    from isodrop.secureboot import describe

    return describe(verdict)


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
    entry: BootEntry | None = None  # how to boot it, when bootable
    context: ServerContext | None = None  # where the entry was built to be served from
    # identity of the ISO file beyond name/size/mtime (isodrop.dropfolder.replaced); 0/"" = unknown
    ino: int = 0
    ctime_ns: int = 0
    fingerprint: str = ""
    secure_boot: dict[str, Any] | None = None  # isodrop.secureboot.Verdict.to_dict() of the kernel, if checked
    updated: float = field(default_factory=time.time)

    def summary(self) -> dict[str, Any]:
        """What `isodrop status` shows about this ISO."""
        return {
            "iso": self.source,
            "slug": self.slug,
            "outcome": self.outcome.value,
            "family": self.family,
            "label": self.label,
            "error": self.error,
            "warnings": self.warnings,
            "kernel": self.entry.kernel if self.entry else "",
            "params": self.entry.cmdline if self.entry else "",
            "secure_boot": secure_boot_line(self.secure_boot) if self.entry else "",
        }

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    def copy(self) -> EntryState:
        """An independent copy (its list and dict too; entry and context are frozen)."""
        return replace(
            self, warnings=list(self.warnings), secure_boot=dict(self.secure_boot) if self.secure_boot else None
        )

    @classmethod
    def from_json(cls, text: str) -> EntryState:
        data = json.loads(text)
        data["outcome"] = Outcome(data["outcome"])
        data["entry"] = BootEntry.from_dict(data["entry"]) if data.get("entry") else None
        data["context"] = ServerContext(**data["context"]) if data.get("context") else None
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})
