"""One ISO becomes a served tree: extract into a temporary folder, recognise, record, rename into place.

Runs in the service's worker threads, one job per ISO. Everything it writes is under the trees
folder and named after the ISO's slug, so jobs never touch each other's files, and a crash leaves
only `.tmp-*` folders that the next start removes.
"""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from isodrop.config import Config
from isodrop.extract import ExtractError, extract_iso, remove_tree
from isodrop.families import DirTree, recognise
from isodrop.families.generic import GENERIC
from isodrop.model import BootEntry, NotBootable, Outcome, ServerContext
from isodrop.reconcile import DropFile
from isodrop.state import EntryState, StateStore

log = logging.getLogger("isodrop")


def iso_extra(iso: str, system: str = "", outcome: str = "") -> dict[str, dict[str, str]]:
    """`extra=` for a log record about one ISO: journald gets ISODROP_ISO/_SYSTEM/_OUTCOME fields."""
    fields = {"iso": iso}
    if system:
        fields["system"] = system
    if outcome:
        fields["outcome"] = outcome
    return fields


@dataclass
class Job:
    """One queued or running extraction."""

    drop: DropFile
    cancel: threading.Event = field(default_factory=threading.Event)
    done_bytes: int = 0
    total_bytes: int = 0
    started: bool = False
    future: Future | None = None

    @property
    def percent(self) -> int:
        return int(100 * self.done_bytes / self.total_bytes) if self.total_bytes else 0


def context_for(config: Config, server: str, slug: str) -> ServerContext:
    tree = config.trees_dir / slug
    return ServerContext(
        server=server,
        nfs_path=str(tree),
        tftp_path=tree.relative_to(config.tftp_root).as_posix(),
        http_url=f"{config.http_url.rstrip('/')}/{slug}/" if config.http_url else "",
    )


def describe(recognition: BootEntry | NotBootable | None, volume_id: str) -> tuple[Outcome, str]:
    if isinstance(recognition, BootEntry):
        return Outcome.SERVED, ""
    if isinstance(recognition, NotBootable) and recognition.family == GENERIC.name:
        return Outcome.UNRECOGNISED, recognition.reason  # only guessed at: not a known system
    if isinstance(recognition, NotBootable):
        return Outcome.UNSUPPORTED, recognition.reason
    return Outcome.UNRECOGNISED, (
        f"no known live system found (volume ID {volume_id!r}); run `isodrop inspect` on it for details"
    )


def build_tree(config: Config, store: StateStore, job: Job, ctx: ServerContext) -> EntryState | None:
    """Extract, recognise, record and move into place one ISO. Runs in a worker thread.

    Returns the recorded state, or None when the job was cancelled or the ISO changed meanwhile
    (the next pass starts over from the folder as it is then).
    """
    drop, slug = job.drop, job.drop.slug
    iso = config.drop_dir / drop.name
    job.started = True
    base = EntryState(slug=slug, source=drop.name, size=drop.size, mtime_ns=drop.mtime_ns, outcome=Outcome.FAILED)
    temp = store.temp_path(slug, "extract")
    log.info("%s: extracting (%d MiB)", drop.name, drop.size // 2**20, extra=iso_extra(drop.name))

    def progress(done: int, total: int) -> None:
        job.done_bytes, job.total_bytes = done, total

    try:
        result = extract_iso(
            iso, temp, progress=progress, should_stop=job.cancel.is_set, verify_checksums=config.verify_checksums
        )
    except ExtractError as exc:
        if job.cancel.is_set():
            return None
        base.error = str(exc)
        store.save(base)
        return base
    except Exception as exc:  # extract_iso promises ExtractError only; a bug must still fail just this ISO
        log.exception("%s: internal error while extracting", drop.name, extra=iso_extra(drop.name))
        base.error = f"internal error while extracting: {type(exc).__name__}: {exc}"
        store.save(base)
        return base
    try:
        recognition = recognise(DirTree(temp, result.volume_id, PurePosixPath(drop.name).name), ctx)
        outcome, reason = describe(recognition, result.volume_id)
        state = EntryState(
            slug=slug,
            source=drop.name,
            size=drop.size,
            mtime_ns=drop.mtime_ns,
            outcome=outcome,
            family=recognition.family if recognition else "",
            label=recognition.label if isinstance(recognition, BootEntry) else "",
            volume_id=result.volume_id,
            error=reason,
            warnings=list(result.warnings),
            entry=recognition.to_dict() if isinstance(recognition, BootEntry) else None,
            context=ctx.to_dict() if isinstance(recognition, BootEntry) else None,
        )
        if job.cancel.is_set() or not _unchanged(iso, drop):
            remove_tree(temp)
            return None
        store.save(state)  # before the rename: a tree on disk always has its record
        if outcome is Outcome.SERVED:
            final = store.tree_path(slug)
            if final.exists():
                stale = store.temp_path(slug, "remove")
                os.rename(final, stale)
                remove_tree(stale)
            os.rename(temp, final)
        else:
            remove_tree(temp)
        return state
    except Exception as exc:  # never let one ISO take the service down
        log.exception("%s: internal error while building its tree", drop.name, extra=iso_extra(drop.name))
        if temp.exists():
            remove_tree(temp)
        base.error = f"internal error: {exc}"
        store.save(base)
        return base


def _unchanged(iso: Path, drop: DropFile) -> bool:
    try:
        st = iso.stat()
    except OSError:
        return False
    return (st.st_size, st.st_mtime_ns) == (drop.size, drop.mtime_ns)
