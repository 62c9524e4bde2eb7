"""The reconciler: one pass = observe -> plan -> execute, plus the extraction jobs it started.

observe: one snapshot (drop listing under isodrop.dropfolder's policies, state records, trees in
place, sidecars, same-size replacements; where trees are served from is the Site's); plan: `plan.plan` and
`render.publication`, both pure; execute: cancel jobs, refresh entries built for another address,
publish, retire trees that are no longer wanted (after publishing, so no client is offered a
vanishing tree), queue extractions (a failed ISO only when its retry is due). A drop folder that is
unavailable (missing, unmounted, unreadable) ends the pass after observing: nothing served changes.
Observing writes nothing: records whose identity is back-filled are saved as the first step executed.
Each pass returns a `PassReport` (isodrop.report), which the service and `isodrop scan` read;
`run_until_idle` is `isodrop scan`.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from isodrop import dropfolder
from isodrop.build import Job, build_tree, junk_state, record_failure
from isodrop.handover import HandoverBook, offers
from isodrop.journal import iso_extra
from isodrop.model import Outcome
from isodrop.pins import PinBook
from isodrop.plan import DropFile, plan
from isodrop.publisher import Publisher
from isodrop.rebuild import adopt_old_slugs, refreshed
from isodrop.removal import remove_tree
from isodrop.render.publication import publication
from isodrop.report import PassReport
from isodrop.retry import RetryBook, RetryPolicy
from isodrop.running import RunningState
from isodrop.sidecar import SIDECAR_SUFFIX, Sidecar, SidecarError, SidecarPolicy, apply, load_drop_sidecar
from isodrop.site import Site
from isodrop.state import EntryState
from isodrop.watch import Settler

log = logging.getLogger("isodrop")
MAX_IGNORED_LOGGED = 20  # new ignored names logged per pass (a hostile folder may hold thousands)


@dataclass(frozen=True)
class Snapshot:
    """Everything one pass decides from, read at its start."""

    drop: tuple[DropFile, ...]
    states: dict[str, EntryState]
    trees: frozenset[str]  # slugs whose tree is in place
    sidecars: dict[str, Sidecar] = field(default_factory=dict)  # by ISO name
    sidecar_errors: dict[str, str] = field(default_factory=dict)  # by ISO name: why it is ignored
    listing: dropfolder.Listing = field(default_factory=dropfolder.Listing)
    ignored: dict[str, str] = field(default_factory=dict)  # drop-folder names not used, and why
    redo: frozenset[str] = frozenset()  # slugs replaced by a same-size image (dropfolder.replaced)
    unavailable: str = ""  # why the drop folder cannot be used now ("" = it can); then drop is empty
    backfill: tuple[EntryState, ...] = ()  # records given the identity their ISO has now: to be saved


class Reconciler:
    def __init__(
        self, site: Site, wake=None, running: RunningState | None = None, settler: Settler | None = None
    ) -> None:
        """`wake(reason)` is called from worker threads when a job ends; `running` is shared with the
        publisher and the status report; `settler` is told about closes by the service's watcher."""
        config = site.config
        self.site = site
        self.config = config
        self.wake = wake or (lambda _reason: None)
        self.running = running or RunningState()
        self.trees = site.trees
        self.settler = settler or Settler(config.settle_seconds, config.quiet_seconds)
        self.publisher = Publisher(site, self.running)
        self.pins = PinBook(config.clients_file, config.dnsmasq_log)
        self.handover = HandoverBook(config)
        self.jobs: dict[str, Job] = {}
        self.pool = ThreadPoolExecutor(max_workers=config.parallel_extractions, thread_name_prefix="extract")
        self.janitor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="remove")
        self.sidecar_errors: dict[str, str] = {}  # as of the last pass: logged once each
        self.ignored: dict[str, str] = {}  # as of the last pass: drop-folder names not used, and why
        self.retry = RetryBook(RetryPolicy(config.retry_seconds, config.retry_max_seconds))
        self.availability = dropfolder.DropAvailability(config.drop_dir, config.drop_dir_must_be_mountpoint)
        self._announced_waiting: set[str] = set()
        self.freed: set[str] = set()  # ignored names whose slug's holder the last pass removed

    # --- set-up and tear-down -------------------------------------------------------------------
    def prepare(self) -> None:
        """Folders, leftovers of an interrupted run, boot loader files, and what is skipped and why."""
        cfg = self.config
        cfg.state_dir.mkdir(parents=True, exist_ok=True)
        self.trees.prepare()
        adopt_old_slugs(self.site)
        if not cfg.drop_dir.exists() and not self.trees.records():  # a missing drop folder while trees
            cfg.drop_dir.mkdir(parents=True, exist_ok=True)  # are served may be an unplugged disk: not made
        self.publisher.install_loader_files()
        self.handover.prepare()
        if cfg.local_mode:
            log.info(
                "local mode (%s): exports are written to %s but not re-read, and dnsmasq is not signalled;"
                " run with a config file as root to serve for real",
                cfg.source,
                self.publisher.nfs.exports_file,
            )

    def shutdown(self, wait_for_removals: bool = True) -> None:
        """Cancel running extractions and wait for them to stop."""
        for job in self.jobs.values():
            job.cancel.set()
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.jobs.clear()
        self.janitor.shutdown(wait=wait_for_removals)

    def move_to(self, site: Site) -> None:
        """Serve at the address of `site` (a reload found another, the config unchanged): entries are
        rebuilt for it by the next pass, and the exports are re-read."""
        self.site = site
        self.publisher.exports_pending = True

    def retry_all_now(self) -> None:
        """Failed ISOs are due again at once (a reload)."""
        self.retry.retry_all_now()

    # --- one pass -----------------------------------------------------------------------------
    def observe(self) -> Snapshot:
        """One look at everything a pass decides from. Records without an identity (made before
        identities were kept, or after a remount moved the inode) get the current one, saved when the
        pass is executed (Snapshot.backfill): observing writes nothing."""
        cfg = self.config
        states = self.trees.records()
        trees = frozenset(self.trees.present(states))
        listing, problem = self._list_drop_folder()
        if listing is None:
            return Snapshot((), states, trees, unavailable=problem)
        known = frozenset((s.source, s.size, s.mtime_ns) for s in states.values())
        drop = self.settler.observe(cfg.drop_dir, listing.isos, known)
        ignored = dict(listing.ignored)  # slug conflicts are the plan's to find (plan.plan)
        sidecars, errors, policy = {}, {}, SidecarPolicy.of(cfg)
        for state in states.values():
            if state.source + SIDECAR_SUFFIX not in listing.files:
                continue
            try:  # the drop-folder policy (no links out, no FIFOs, 64 KiB), checked like ISO data
                sidecar = load_drop_sidecar(cfg.drop_dir, state.source, policy)
                if sidecar is not None and state.entry is not None:
                    apply(state.entry, sidecar)  # a value the entry refuses is this sidecar's error
            except (SidecarError, ValueError) as exc:
                errors[state.source] = str(exc)
                continue
            if sidecar is not None:
                sidecars[state.source] = sidecar
        # an ISO being extracted is judged once its job has recorded the identity it was queued with
        idle = {slug: state for slug, state in states.items() if slug not in self.jobs}
        backfill: list[EntryState] = []
        redo = dropfolder.replaced(idle, listing, backfill.append, lambda path: self.settler.see_writers(path)[0])
        return Snapshot(
            tuple(drop),
            states,
            trees,
            sidecars,
            errors,
            listing=listing,
            ignored=ignored,
            redo=redo,
            backfill=tuple(backfill),
        )

    def run_pass(self) -> PassReport:
        """One pass: observe, plan, execute; what it left, for the service and the status report."""
        self._collect_finished_jobs()
        snap = self.observe()
        if snap.unavailable:
            return self._report(snap.states, self._drop_dir_itself(), unavailable=True)
        context = self.site.context
        for state in snap.backfill:
            self.trees.save(state)

        steps = plan(
            list(snap.drop),
            self.retry.planning_view(snap.states, snap.drop),  # failed ISOs due for a retry
            set(snap.trees),
            {s: j.drop for s, j in self.jobs.items()},
            context,
            redo=snap.redo,
            held={slug: state.source for slug, state in snap.states.items()},
        )
        self._log_ignored(snap.ignored | dict(steps.ignored))
        log.debug(
            "pass: %d ISOs listed, %d records, %d trees; plan: %d to extract, %d to remove, %d waiting, %d to refresh",
            len(snap.drop),
            len(snap.states),
            len(snap.trees),
            len(steps.extract),
            len(steps.remove),
            len(steps.waiting),
            len(steps.refresh),
        )
        for slug in steps.cancel:
            self.jobs[slug].cancel.set()
            log.info("%s: extraction cancelled (the ISO changed or went away)", self.jobs[slug].drop.name)
        states = dict(snap.states)
        for slug in steps.refresh:
            state = refreshed(self.trees, states[slug], context(slug))
            if state is not None:
                self.trees.save(state)
                states[slug] = state
        leaving = {slug: states.pop(slug) for slug in steps.remove}
        self._log_sidecar_errors(snap.sidecar_errors)
        contexts = {slug: context(slug) for slug in states}
        self.pins.consume()  # one-shots fetched since the last pass: not written again
        self.pins.refresh()
        wanted = publication(
            states,
            snap.trees,
            snap.sidecars,
            contexts,
            self.config,
            self.publisher.loaders,
            self.publisher.nfs,
            self.pins.pins,
        )
        self.publisher.publish(wanted)
        self._note_pins(wanted.pin_warnings)
        trees = {slug: contexts[slug].tftp_path for slug in states if slug in snap.trees}
        self.handover.update(offers(wanted.items, states, trees), self.pins.pins)
        self.hand_over()
        for slug, state in leaving.items():
            self._retire(slug, state)
        for item in steps.waiting:
            if item.name not in self._announced_waiting:
                log.info("%s: still being copied; waiting until it is complete", item.name, extra=iso_extra(item.name))
        self._announced_waiting = {item.name for item in steps.waiting}
        due = [
            item
            for item in steps.extract
            if item.slug not in self.jobs  # a cancelled job for this name is still winding down
            # failed and not due again, even when its record could not be saved
            and self.retry.due(item.slug, (item.name, item.size, item.mtime_ns))
        ]
        jobs = {item.slug: self._job_for(item, snap.listing) for item in due}
        junk = {slug: state for slug, job in jobs.items() if (state := self._junk(job, snap.listing))}
        for item in due:  # the ISOs first: a folder of junk never queues ahead of them
            if item.slug not in junk:
                self._submit(jobs[item.slug])
        for slug, state in junk.items():
            states[slug] = self._record_junk(state, snap.states.get(slug))
        again = bool(set(steps.freed) - self.freed)  # once per freed name: no loop if it stays held
        self.freed = set(steps.freed)
        return self._report(
            states,
            snap.listing.folders,
            waiting=steps.waiting,
            sidecars=snap.sidecars,
            queued=tuple(slug for slug in jobs if slug not in junk),
            removed=tuple(leaving),
            again=again,  # the name that waited for a freed slug gets it on the next pass
        )

    def _report(
        self, states: dict[str, EntryState], folders: dict[str, tuple[int, int]], **facts: object
    ) -> PassReport:
        return PassReport(
            server=self.site.server,
            states=states,
            jobs=tuple(self.jobs.values()),
            being_copied=self.settler.pending(),
            sidecar_errors=dict(self.sidecar_errors),
            ignored=dict(self.ignored),
            retries=self.retry.pending(),
            pins=self.pins.status(),
            folders=dict(folders),
            next_retry=self.retry.next_due(),
            one_shots_out=bool(self.pins.published_once),
            handover=self.handover.status(),
            **facts,  # type: ignore[arg-type]
        )

    def hand_over(self) -> None:
        """The per-PC folders of hand-overs to ISOs' own chains (isodrop.handover) as dnsmasq's log and the
        last pass want them: after each pass, and on its own when a PC asks (the service's light step)."""
        try:
            self.handover.step()
        except Exception as exc:  # the pass and the service go on; the reason is in the status
            log.exception("hand-over step failed: %s", exc)
            self.running.say("hand-over", f"hand-over step failed: {exc}")
        else:
            self.running.clear("hand-over")

    def run_until_idle(self, wait_for_copies: float) -> PassReport:
        """Passes until no extraction runs and nothing is being copied (waited for up to
        `wait_for_copies` seconds: without a watcher no close is seen, so quiet_seconds decides).
        Returns the last pass's report."""
        deadline = time.monotonic() + wait_for_copies
        while True:
            report = self.run_pass()
            if report.again and not self.jobs:
                continue  # a name ignored while its slug's holder went gets the slug now
            if self.jobs:
                futures = [job.future for job in self.jobs.values() if job.future is not None]
                concurrent.futures.wait(futures, return_when=concurrent.futures.FIRST_COMPLETED)
            elif self.settler.pending() and time.monotonic() < deadline:
                time.sleep(0.5)
            else:
                return report

    # --- execution steps ------------------------------------------------------------------------
    @staticmethod
    def _job_for(item: DropFile, listing: dropfolder.Listing) -> Job:
        st, real = listing.isos.get(item.name), listing.paths.get(item.name)
        identity = None  # unknown: gone or unreadable now (its extraction says why)
        if st and real:
            with contextlib.suppress(OSError):
                identity = dropfolder.identity_of(real, st)
        return Job(drop=item, identity=identity)

    @staticmethod
    def _junk(job: Job, listing: dropfolder.Listing) -> EntryState | None:
        real = listing.paths.get(job.drop.name)
        return junk_state(job, real) if real is not None else None

    def _record_junk(self, state: EntryState, old: EntryState | None) -> EntryState:
        """Record a file that is not an ISO (build.junk_state) without a job. The same junk judged again
        (a restart, its retry) is not written or logged again: 5,000 of them cost a few reads."""
        self.retry.failed(state.slug, (state.source, state.size, state.mtime_ns))
        if old is not None and dataclasses.replace(old, updated=state.updated) == state:
            return old
        self.trees.save(state, durable=False)  # lost in a crash, it is judged again for one read
        _log_outcome(state)
        return state

    def _submit(self, job: Job) -> None:
        item = job.drop
        self.jobs[item.slug] = job
        log.info("%s: copy complete, queued for extraction", item.name, extra=iso_extra(item.name))
        job.future = self.pool.submit(build_tree, self.config, self.trees, job, self.site.context(item.slug))
        job.future.add_done_callback(lambda _f: self.wake("extraction finished"))

    def _collect_finished_jobs(self) -> None:
        for slug, job in list(self.jobs.items()):
            if job.future is None or not job.future.done():
                continue
            del self.jobs[slug]
            if job.future.cancelled():
                continue
            state = self._job_result(job)
            if state is None:
                continue
            if state.outcome is Outcome.FAILED:
                delay = self.retry.failed(slug, (state.source, state.size, state.mtime_ns))
                log.info("%s: will be tried again in %.0f s (or at once on reload)", state.source, delay)
            else:
                self.retry.forget(slug)
            _log_outcome(state)

    def _job_result(self, job: Job) -> EntryState | None:
        """The job's state; an exception that escaped the build becomes this ISO's recorded failure."""
        assert job.future is not None
        try:
            return job.future.result()
        except Exception as exc:  # one ISO never stops the service (RecursionError, ValueError, ...)
            drop = job.drop
            log.error("%s: internal error while building its tree: %r", drop.name, exc, extra=iso_extra(drop.name))
            error = f"internal error: {type(exc).__name__}: {exc}"[:500]
            return record_failure(self.trees, job, error, best_effort=True)

    # --- the drop folder as untrusted input -------------------------------------------------------
    def _list_drop_folder(self) -> tuple[dropfolder.Listing | None, str]:
        """This pass's listing, or (None, why) when the drop folder is unavailable (then nothing may change)."""
        problem = self.availability.check()
        listing = None
        if not problem:
            try:
                listing = dropfolder.list_drop(self.config.drop_dir)
            except OSError as exc:
                problem = f"the drop folder cannot be listed: {exc.strerror or exc}"
            else:
                problem = self.availability.check()  # it went away while being listed
        if not self.availability.update(problem):
            self.running.say("drop folder", f"{problem}; keeping everything served as it is")
            return None, problem
        self.running.clear("drop folder")
        return listing, ""

    def _drop_dir_itself(self) -> dict[str, tuple[int, int]]:
        """The drop folder alone (to watch for its return), or nothing when it is not there at all."""
        try:
            st = os.stat(self.config.drop_dir)
        except OSError:
            return {}
        return {"": (st.st_dev, st.st_ino)}

    def _log_ignored(self, ignored: dict[str, str]) -> None:
        new = [(name, reason) for name, reason in ignored.items() if self.ignored.get(name) != reason]
        for name, reason in new[:MAX_IGNORED_LOGGED]:
            log.warning("%s: ignored: %s", name, reason, extra=iso_extra(name))
        if len(new) > MAX_IGNORED_LOGGED:
            log.warning(
                "... and %d more ignored names in the drop folder (see isodrop status)", len(new) - MAX_IGNORED_LOGGED
            )
        self.ignored = ignored

    def _retire(self, slug: str, state: EntryState) -> None:
        doomed = self.trees.retire(slug)
        if doomed is not None:
            self.janitor.submit(remove_tree, doomed)  # a big tree takes a while; the loop must not wait
        log.info(
            "%s: removed (entry, export and tree)", state.source, extra=iso_extra(state.source, state.family, "removed")
        )

    def _note_pins(self, warnings: dict[str, str]) -> None:
        """Which one-shots were just written (so their fetch uses them up), and pins that fell back to
        the normal menu: logged once each, kept for the status document."""
        for mac, why in warnings.items():
            if self.pins.warnings.get(mac) != why:
                log.warning("pin %s: %s", mac, why)
        self.pins.warnings = warnings
        self.pins.published_once = {p.target.value for p in self.pins.pins if p.once and p.target.value not in warnings}

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
