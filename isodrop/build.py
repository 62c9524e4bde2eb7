"""One ISO becomes a served tree: extract into a temporary folder, recognise, record, rename into place.

Runs in the reconciler's worker threads, one job per ISO. Paths come from `isodrop.trees`, named
after the ISO's slug, so jobs never touch each other's files, and a crash leaves only temporary
folders that the next start removes.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from isodrop.config import Config
from isodrop.dropfolder import Identity, open_regular
from isodrop.extract import ExtractError, checked_iso, extract_iso
from isodrop.extract.image import not_iso9660
from isodrop.families import DirTree, recognise
from isodrop.journal import iso_extra
from isodrop.model import BootEntry, Outcome, Recognition, ServerContext
from isodrop.plan import DropFile
from isodrop.removal import remove_tree
from isodrop.secureboot import Verdict, verify_kernel
from isodrop.state import EntryState
from isodrop.trees import Trees
from isodrop.vendorchain import VendorChain, find_chain

log = logging.getLogger("isodrop")


@dataclass
class Job:
    """One queued or running extraction."""

    drop: DropFile
    identity: Identity | None = None  # the ISO's inode, ctime and fingerprint when it was queued
    cancel: threading.Event = field(default_factory=threading.Event)
    done_bytes: int = 0
    total_bytes: int = 0
    started: bool = False
    future: Future | None = None

    @property
    def percent(self) -> int:
        return int(100 * self.done_bytes / self.total_bytes) if self.total_bytes else 0


def kernel_verdict(config: Config, tree: Path, entry: BootEntry) -> Verdict | None:
    """Would the entry's kernel boot with Secure Boot on through the served shim (x86-64 UEFI only)?"""
    if "efi64" not in entry.firmware:
        return None
    try:
        verdict = verify_kernel(tree / entry.kernel, config.shim_file)
    except (OSError, ValueError, subprocess.SubprocessError) as exc:  # a check that fails is not the ISO's failure
        log.warning("Secure Boot check of %s could not run: %s", entry.kernel, exc)
        return None
    return verdict


def vendor_chain(tree: Path, entry: BootEntry, verdict: Verdict | None) -> VendorChain | None:
    """The ISO's own Secure Boot chain (isodrop.vendorchain), looked for only when Debian's shim refuses the
    kernel: Debian's chain is the one used whenever it boots. Bounded in time like the verdict."""
    if verdict is None or verdict.boots:
        return None
    try:
        return find_chain(tree, tree / entry.kernel)
    except (OSError, ValueError, subprocess.SubprocessError) as exc:  # a check that fails is not the ISO's failure
        log.warning("the ISO's own Secure Boot chain for %s could not be checked: %s", entry.kernel, exc)
        return None


def outcome_of(recognition: Recognition) -> tuple[Outcome, str]:
    """The outcome and its reason: served, or not bootable (unrecognised when nobody knows what it is)."""
    if isinstance(recognition, BootEntry):
        return Outcome.SERVED, ""
    return (Outcome.UNRECOGNISED if recognition.guessed else Outcome.UNSUPPORTED), recognition.reason


def entry_state(
    drop: DropFile,
    outcome: Outcome,
    *,
    error: str = "",
    recognition: Recognition | None = None,
    volume_id: str = "",
    warnings: tuple[str, ...] = (),
    ctx: ServerContext | None = None,
    secure_boot: Verdict | None = None,
    vendor_chain: VendorChain | None = None,
) -> EntryState:
    """The state record of one ISO; the only place one is made from a drop file."""
    entry = recognition if isinstance(recognition, BootEntry) else None
    return EntryState(
        slug=drop.slug,
        source=drop.name,
        size=drop.size,
        mtime_ns=drop.mtime_ns,
        outcome=outcome,
        family=recognition.family if recognition is not None else "",
        label=entry.label if entry else "",
        volume_id=volume_id,
        error=error,
        warnings=list(warnings),
        entry=entry,
        context=ctx if entry else None,
        secure_boot=secure_boot if entry else None,
        vendor_chain=vendor_chain if entry else None,
    )


def build_tree(config: Config, trees: Trees, job: Job, ctx: ServerContext) -> EntryState | None:
    """Extract, recognise, record and move into place one ISO. Runs in a worker thread.

    Returns the recorded state, or None when the job was cancelled or the ISO changed meanwhile
    (the next pass starts over from the folder as it is then).
    """
    drop, slug = job.drop, job.drop.slug
    iso = config.drop_dir / drop.name
    job.started = True
    temp = trees.temporary(slug, "extract")
    log.info("%s: extracting (%d MiB)", drop.name, drop.size // 2**20, extra=iso_extra(drop.name))

    def progress(done: int, total: int) -> None:
        job.done_bytes, job.total_bytes = done, total

    try:
        temp.parent.mkdir(parents=True, exist_ok=True)
        iso = checked_iso(config.drop_dir, drop.name)  # the drop-folder link/file-type policy
        result = extract_iso(
            iso, temp, progress=progress, should_stop=job.cancel.is_set, verify_checksums=config.verify_checksums
        )
    except ExtractError as exc:
        if job.cancel.is_set():
            return None
        return record_failure(trees, job, str(exc))
    except Exception as exc:  # extract_iso promises ExtractError only; a bug must still fail just this ISO
        log.exception("%s: internal error while extracting", drop.name, extra=iso_extra(drop.name))
        return record_failure(trees, job, f"internal error while extracting: {type(exc).__name__}: {exc}")
    try:
        recognition = recognise(DirTree(temp, result.volume_id, PurePosixPath(drop.name).name), ctx)
        outcome, reason = outcome_of(recognition)
        entry = recognition if isinstance(recognition, BootEntry) else None
        verdict = kernel_verdict(config, temp, entry) if entry else None
        state = entry_state(
            drop,
            outcome,
            error=reason,
            recognition=recognition,
            volume_id=result.volume_id,
            warnings=tuple(result.warnings),
            ctx=ctx,
            secure_boot=verdict,
            vendor_chain=vendor_chain(temp, entry, verdict) if entry else None,
        )
        if job.cancel.is_set() or not _unchanged(iso, drop):
            remove_tree(temp)
            return None
        if outcome is not Outcome.SERVED:
            remove_tree(temp)
        trees.install(slug, temp if outcome is Outcome.SERVED else None, stamped(state, job))
        return state
    except Exception as exc:  # never let one ISO take the service down
        log.exception("%s: internal error while building its tree", drop.name, extra=iso_extra(drop.name))
        remove_tree(temp)
        return record_failure(trees, job, f"internal error: {exc}")


def junk_state(job: Job, path: Path) -> EntryState | None:
    """The failed state of a drop-folder file that cannot be an ISO 9660 image (too small, no CD001 where
    the first volume descriptor is), from its size and one 5-byte read at `path` (its real path, opened
    like an extraction opens it); None when it may be an ISO or cannot be looked at (its extraction
    then says why). Judged in the reconciler's pass: junk never takes a worker from a real ISO."""
    try:
        fd = open_regular(path)
    except OSError:
        return None
    try:
        junk = not_iso9660(fd, os.fstat(fd).st_size)
    except OSError:
        return None
    finally:
        os.close(fd)
    if not junk:
        return None
    return failed_state(job, f"{path} is not an ISO 9660 image: {junk}")


def failed_state(job: Job, error: str) -> EntryState:
    """The failed state of the job's ISO, stamped with the identity it was queued with."""
    return stamped(entry_state(job.drop, Outcome.FAILED, error=error), job)


def record_failure(trees: Trees, job: Job, error: str, best_effort: bool = False) -> EntryState:
    """Record that the job's ISO failed with `error` (durably: its retry waits on it) and return the
    state; the one way a build's failure is written. `best_effort`: a record that cannot be written
    (a full disk) is not an error; the state is still returned, to be retried in memory."""
    state = failed_state(job, error)
    try:
        trees.save(state)
    except OSError:
        if not best_effort:
            raise
    return state


def stamped(state: EntryState, job: Job) -> EntryState:
    """`state` with the identity its ISO had when queued, written in the same record as the outcome:
    a stop between two writes would leave a record without one, and a replacement made while the
    service was down would then pass for the old image (dropfolder.replaced)."""
    if job.identity is not None:
        state.ino, state.ctime_ns, state.fingerprint = job.identity.ino, job.identity.ctime_ns, job.identity.fingerprint
    return state


def _unchanged(iso: Path, drop: DropFile) -> bool:
    try:
        st = iso.stat()
    except OSError:
        return False
    return (st.st_size, st.st_mtime_ns) == (drop.size, drop.mtime_ns)
