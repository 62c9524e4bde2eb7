"""The reconciler: one pass = observe -> plan -> execute, plus the extraction jobs it started.

observe: one snapshot (drop listing, state records, trees in place, sidecars, server address);
plan: `reconcile.plan` and `render.publication`, both pure; execute: cancel jobs, refresh entries
built for another address, publish, retire trees that are no longer wanted (after publishing, so
no client is offered a vanishing tree), queue extractions. `run_until_idle` is `isodrop scan`.
"""

from __future__ import annotations

import concurrent.futures
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from isodrop.build import Job, build_tree, context_for, iso_extra, refreshed
from isodrop.config import Config
from isodrop.model import Outcome, ServerContext
from isodrop.publisher import Publisher
from isodrop.reconcile import DropFile, plan
from isodrop.render.publication import publication
from isodrop.sidecar import Sidecar, SidecarError, load_sidecar, sidecar_path
from isodrop.state import EntryState
from isodrop.status import status_line
from isodrop.trees import Trees, remove_tree
from isodrop.watch import Settler, list_drop

log = logging.getLogger("isodrop")


@dataclass(frozen=True)
class Snapshot:
    """Everything one pass decides from, read at its start."""

    drop: tuple[DropFile, ...]
    states: dict[str, EntryState]
    trees: frozenset[str]  # slugs whose tree is in place
    sidecars: dict[str, Sidecar] = field(default_factory=dict)  # by ISO name
    sidecar_errors: dict[str, str] = field(default_factory=dict)  # by ISO name: why it is ignored
    server: str = ""


class Reconciler:
    def __init__(self, config: Config, server: str, wake=None, system: dict[str, str] | None = None) -> None:
        self.config = config
        self.server = server
        self.wake = wake or (lambda _reason: None)  # called from worker threads when a job ends
        self.system = {} if system is None else system  # shared with the publisher and the status report
        self.trees = Trees(config.trees_dir)
        self.settler = Settler(config.settle_seconds, config.quiet_seconds)
        self.publisher = Publisher(config, self.system)
        self.jobs: dict[str, Job] = {}
        self.pool = ThreadPoolExecutor(max_workers=config.parallel_extractions, thread_name_prefix="extract")
        self.janitor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="remove")
        self.states: dict[str, EntryState] = {}  # as of the last pass
        self.waiting: tuple[DropFile, ...] = ()
        self.sidecar_errors: dict[str, str] = {}
        self._announced_waiting: set[str] = set()

    # --- set-up and tear-down -------------------------------------------------------------------
    def prepare(self) -> None:
        """Folders, leftovers of an interrupted run, boot loader files, and what is skipped and why."""
        cfg = self.config
        for folder in (cfg.drop_dir, cfg.state_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self.trees.prepare()
        self.publisher.install_loader_files()
        if cfg.local_mode:
            log.info(
                "local mode (%s): exports are written to %s but not re-read, and dnsmasq is not signalled;"
                " run with a config file as root to serve for real",
                cfg.source,
                self.publisher.nfs.exports_file(cfg),
            )

    def shutdown(self, wait_for_removals: bool = True) -> None:
        """Cancel running extractions and wait for them to stop."""
        for job in self.jobs.values():
            job.cancel.set()
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.jobs.clear()
        self.janitor.shutdown(wait=wait_for_removals)

    def context(self, slug: str) -> ServerContext:
        return context_for(self.config, self.server, slug)

    def summary(self) -> str:
        return status_line(self.states, self.jobs.values(), self.settler.pending())

    # --- one pass -----------------------------------------------------------------------------
    def observe(self) -> Snapshot:
        cfg = self.config
        states = self.trees.records()
        known = frozenset((s.source, s.size, s.mtime_ns) for s in states.values())
        drop = self.settler.observe(cfg.drop_dir, list_drop(cfg.drop_dir), known)
        sidecars, errors = {}, {}
        for state in states.values():
            path = sidecar_path(cfg.drop_dir / state.source)
            if not path.is_file():
                continue
            try:
                sidecars[state.source] = load_sidecar(path)
            except SidecarError as exc:
                errors[state.source] = str(exc)
        return Snapshot(tuple(drop), states, frozenset(self.trees.present(states)), sidecars, errors, self.server)

    def run_pass(self) -> None:
        self._collect_finished_jobs()
        snap = self.observe()

        def context(slug: str) -> ServerContext:
            return context_for(self.config, snap.server, slug)

        steps = plan(list(snap.drop), snap.states, set(snap.trees), {s: j.drop for s, j in self.jobs.items()}, context)
        for note in steps.notes:
            log.warning("%s", note)
        for slug in steps.cancel:
            self.jobs[slug].cancel.set()
            log.info("%s: extraction cancelled (the ISO changed or went away)", self.jobs[slug].drop.name)
        states = dict(snap.states)
        for slug in steps.refresh:
            state = refreshed(self.config, self.trees, states[slug], context(slug))
            if state is not None:
                self.trees.save(state)
                states[slug] = state
        leaving = {slug: states.pop(slug) for slug in steps.remove}
        self._log_sidecar_errors(snap.sidecar_errors)
        contexts = {slug: context(slug) for slug in states}
        self.publisher.publish(
            publication(
                states, snap.trees, snap.sidecars, contexts, self.config, self.publisher.loaders, self.publisher.nfs
            )
        )
        for slug, state in leaving.items():
            self._retire(slug, state)
        for item in steps.waiting:
            if item.name not in self._announced_waiting:
                log.info("%s: still being copied; waiting until it is complete", item.name, extra=iso_extra(item.name))
        self._announced_waiting = {item.name for item in steps.waiting}
        for item in steps.extract:
            if item.slug not in self.jobs:  # else a cancelled job for this name is still winding down
                self._submit(item)
        self.states, self.waiting = states, steps.waiting

    def run_until_idle(self, wait_for_copies: float) -> None:
        """Passes until no extraction runs and nothing is being copied (waited for up to
        `wait_for_copies` seconds: without a watcher no close is seen, so quiet_seconds decides)."""
        deadline = time.monotonic() + wait_for_copies
        while True:
            self.run_pass()
            if self.jobs:
                futures = [job.future for job in self.jobs.values() if job.future is not None]
                concurrent.futures.wait(futures, return_when=concurrent.futures.FIRST_COMPLETED)
            elif self.settler.pending() and time.monotonic() < deadline:
                time.sleep(0.5)
            else:
                return

    # --- execution steps ------------------------------------------------------------------------
    def _submit(self, item: DropFile) -> None:
        job = Job(drop=item)
        self.jobs[item.slug] = job
        log.info("%s: copy complete, queued for extraction", item.name, extra=iso_extra(item.name))
        job.future = self.pool.submit(build_tree, self.config, self.trees, job, self.context(item.slug))
        job.future.add_done_callback(lambda _f: self.wake("extraction finished"))

    def _collect_finished_jobs(self) -> None:
        for slug, job in list(self.jobs.items()):
            if job.future is None or not job.future.done():
                continue
            del self.jobs[slug]
            if job.future.cancelled():
                continue
            state = job.future.result()
            if state is not None:
                _log_outcome(state)

    def _retire(self, slug: str, state: EntryState) -> None:
        doomed = self.trees.retire(slug)
        if doomed is not None:
            self.janitor.submit(remove_tree, doomed)  # a big tree takes a while; the loop must not wait
        log.info(
            "%s: removed (entry, export and tree)", state.source, extra=iso_extra(state.source, state.family, "removed")
        )

    def _log_sidecar_errors(self, errors: dict[str, str]) -> None:
        for source, message in errors.items():
            if self.sidecar_errors.get(source) != message:
                log.error("%s: sidecar ignored: %s", source, message, extra=iso_extra(source))
        self.sidecar_errors = errors


def _log_outcome(state: EntryState) -> None:
    extra = iso_extra(state.source, state.family, state.outcome.value)
    for warning in state.warnings:
        log.warning("%s: %s", state.source, warning, extra=extra)
    if state.outcome is Outcome.SERVED:
        log.info("%s: served as %r (%s)", state.source, state.label, state.family, extra=extra)
    elif state.outcome is Outcome.UNSUPPORTED:
        log.warning("%s: %s, not bootable over the network: %s", state.source, state.family, state.error, extra=extra)
    else:
        log.error("%s: %s: %s", state.source, state.outcome.value, state.error, extra=extra)
