"""Per-ISO state records: which ISO (name, size, mtime) a tree came from and what came of it.

So a restart knows what it serves without re-extracting, and failures are not retried until the
ISO changes. Where records live is `isodrop.trees`' business; this is the value and its JSON form
(JSON only at the file boundary: in memory the entry and its server context are typed values).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from isodrop.model import BootEntry, Outcome, ServerContext
from isodrop.secureboot import Verdict, describe
from isodrop.vendorchain import VendorChain

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_DASHES = re.compile(r"-{2,}")
STEM_MAX = 80  # characters of a name kept in its slug
HASH_SEPARATOR = "--"  # in every hashed slug and in no kept-as-is one: the two kinds never meet
HASH_CHARS = 16  # base32 characters of sha256 in a hashed slug: 80 bits, beyond any search
# Names the boot loaders use for their own menu items (local boot, back, iPXE's start/failed labels,
# submenus, entry labels): never a slug, in any case (a loader may compare labels ignoring case)
RESERVED_NAMES = frozenset({"local", "back", "start", "failed"})
RESERVED_PREFIXES = ("group-", "entry-", "iso-")


def slug_for(iso_name: str) -> str:
    """A stable, safe folder, export, URL and menu-id name for an ISO's path relative to the drop folder.

    A name made of `A-Z a-z 0-9 . _ -` that ends in ".iso" keeps its stem ("debian-live-12.iso" ->
    "debian-live-12") unless the stem contains HASH_SEPARATOR, is longer than STEM_MAX or is a loader's
    own name; any other name becomes its cleaned-up stem, HASH_SEPARATOR and 80 bits of sha256 of the
    whole name ("my iso.iso" -> "my_iso--<16 characters>"), behind "_" when it would start like a
    loader's own name ("iso-3.iso" -> "_iso-3--..."), so no slug is a loader's name. A kept stem never
    contains the separator and every hashed slug does, so no name can be given another name's slug:
    not by copying it (a hashed slug plus ".iso" is itself hashed) and not by searching for a hash.
    """
    stem = iso_name[:-4] if iso_name.lower().endswith(".iso") else iso_name
    if iso_name.endswith(".iso") and _keeps_its_stem(stem):
        return stem
    clean = _DASHES.sub("-", _UNSAFE.sub("_", stem)).strip("._-")[:STEM_MAX].rstrip("._-") or "iso"
    digest = base64.b32encode(hashlib.sha256(iso_name.encode("utf-8", "surrogatepass")).digest())
    slug = f"{clean}{HASH_SEPARATOR}{digest.decode().lower()[:HASH_CHARS]}"
    return f"_{slug}" if is_reserved(slug) else slug  # "group-1--..." -> "_group-1--..."


def _keeps_its_stem(stem: str) -> bool:
    return (
        0 < len(stem) <= STEM_MAX
        and not _UNSAFE.search(stem)
        and stem == stem.strip("._-")
        and HASH_SEPARATOR not in stem
        and not is_reserved(stem)
    )


def is_reserved(name: str) -> bool:
    """Is `name` (in any case) one the boot loaders use for their own menu items?"""
    folded = name.lower()
    return folded in RESERVED_NAMES or folded.startswith(RESERVED_PREFIXES)


def legacy_slug_for(iso_name: str) -> str:
    """The slug rule before hashed slugs had a separator (24 bits of sha1, so a safe name could equal
    another's slug): only to recognise trees made by it, which `isodrop.rebuild.adopt_old_slugs` moves."""
    stem = iso_name[:-4] if iso_name.lower().endswith(".iso") else iso_name
    safe = _UNSAFE.sub("_", stem.replace("/", "_")).strip("._-")[:STEM_MAX] or "iso"
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
    entry: BootEntry | None = None  # how to boot it, when bootable
    context: ServerContext | None = None  # where the entry was built to be served from
    # identity of the ISO file beyond name/size/mtime (isodrop.dropfolder.replaced); 0/"" = unknown
    ino: int = 0
    ctime_ns: int = 0
    fingerprint: str = ""
    secure_boot: Verdict | None = None  # the kernel's, when checked
    vendor_chain: VendorChain | None = None  # the ISO's own Secure Boot chain, when it carries one
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
            "secure_boot": describe(self.secure_boot) if self.entry else "",
            "copies_to_ram_bytes": self.entry.copies_to_ram_bytes if self.entry else 0,
            "ram_needed_bytes": self.entry.ram_needed_bytes if self.entry else 0,
        }

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    def copy(self) -> EntryState:
        """An independent copy (its list too; entry, context and verdict are frozen)."""
        return replace(self, warnings=list(self.warnings))

    @classmethod
    def from_json(cls, text: str) -> EntryState:
        data = json.loads(text)
        data["outcome"] = Outcome(data["outcome"])
        data["entry"] = BootEntry.from_dict(data["entry"]) if data.get("entry") else None
        data["context"] = ServerContext(**data["context"]) if data.get("context") else None
        data["secure_boot"] = Verdict.from_dict(data["secure_boot"]) if data.get("secure_boot") else None
        data["vendor_chain"] = VendorChain.from_dict(data["vendor_chain"]) if data.get("vendor_chain") else None
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})
