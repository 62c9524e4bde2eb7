"""The daemon: wake on events, signals and a slow timer; each wake-up runs one reconcile pass.

A pass lists the drop folder, plans against the state records (isodrop.reconcile.plan), hands
extractions to a small worker pool (one or two at a time, so removals never wait behind them),
re-renders menus and exports from what is served, tells dnsmasq / the NFS server / systemd, and
only then deletes trees that are no longer wanted, so no client is offered a vanishing tree.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import PurePosixPath

from isodrop import effects
from isodrop.address import detect_server_address
from isodrop.build import Job, build_tree, context_for, iso_extra
from isodrop.config import Config
from isodrop.extract import remove_tree
from isodrop.families import DirTree, recognise
from isodrop.loaders.choice import install_chosen
from isodrop.loaders.ipxe import IpxeLoader
from isodrop.model import BootEntry, Outcome, ServerContext
from isodrop.reconcile import DropFile, plan
from isodrop.render.exports import ganesha_exports, kernel_exports
from isodrop.render.menu import Served, boot_loader_files, build_menu, render_menus
from isodrop.sidecar import SidecarError, apply, load_sidecar
from isodrop.state import EntryState, StateStore
from isodrop.watch import DropWatcher, Settler, list_drop

log = logging.getLogger("isodrop")
RETRY_SECONDS = 5.0


class Notifier:
    """sd_notify(3) through sdnotify; silent when not started by systemd."""

    def __init__(self) -> None:
        self._notifier = None
        if os.environ.get("NOTIFY_SOCKET"):
            import sdnotify

            self._notifier = sdnotify.SystemdNotifier()
        usec = os.environ.get("WATCHDOG_USEC", "")
        self.watchdog_interval = int(usec) / 2e6 if usec.isdigit() and int(usec) > 0 else None

    def notify(self, *lines: str) -> None:
        if self._notifier is not None:
            self._notifier.notify("\n".join(lines))


class Service:
    def __init__(self, config: Config, reload_config=None, notifier: Notifier | None = None) -> None:
        self.reload_config = reload_config
        self.notifier = notifier or Notifier()
        self.wake_event = threading.Event()
        self.stop_requested = False
        self.reload_requested = False
        self.jobs: dict[str, Job] = {}
        self.system: dict[str, str] = {}
        self.exports_pending = True  # re-read exports once at start: the file may predate a reboot
        self.retry_soon = False  # the last pass failed: try again in RETRY_SECONDS, not rescan_seconds
        self._sidecar_errors: dict[str, str] = {}
        self._announced_waiting: set[str] = set()
        self.started = time.time()
        self.janitor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="remove")
        self._states: dict[str, EntryState] = {}  # as of the last reconcile pass
        self._configure(config)

    # --- set-up -------------------------------------------------------------------------------
    def _configure(self, config: Config) -> None:
        self.config = config
        self.store = StateStore(config.trees_dir)
        self.settler = Settler(config.settle_seconds, config.quiet_seconds)
        if config.server_address:
            self.server, how = config.server_address, "from the config"
        else:
            self.server, how = detect_server_address()
        log.info("clients reach this server at %s (%s)", self.server, how)
        self.pool = ThreadPoolExecutor(max_workers=config.parallel_extractions, thread_name_prefix="extract")

    def prepare(self) -> None:
        """Folders, leftovers of an interrupted run, boot loader files, and what is skipped and why."""
        cfg = self.config
        for folder in (cfg.drop_dir, cfg.trees_dir, cfg.state_dir):
            folder.mkdir(parents=True, exist_ok=True)
        os.chmod(cfg.trees_dir, 0o755)
        for leftover in self.store.leftovers():
            log.info("removing %s left over from an interrupted run", leftover.name)
            remove_tree(leftover)
        for result in effects.install_files(boot_loader_files(cfg)) + install_chosen(cfg):
            (log.info if result.ok else log.warning)("%s", result.message)
            if not result.ok:
                self.system["boot files"] = result.message
        if cfg.local_mode:
            log.info(
                "local mode (%s): exports are written to %s but not re-read, and dnsmasq is not signalled;"
                " run with a config file as root to serve for real",
                cfg.source,
                cfg.ganesha_exports_file if cfg.nfs_server == "ganesha" else cfg.exports_file,
            )

    # --- the loop -----------------------------------------------------------------------------
    def wake(self, reason: str = "") -> None:
        if reason:
            log.debug("woken: %s", reason)
        self.wake_event.set()

    def request_stop(self, *_: object) -> None:
        self.stop_requested = True
        self.wake_event.set()

    def request_reload(self, *_: object) -> None:
        self.reload_requested = True
        self.wake_event.set()

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        signal.signal(signal.SIGHUP, self.request_reload)
        self.prepare()
        watcher = DropWatcher(self.config.drop_dir, self.wake, self.settler)
        watcher.start()
        self.reconcile_guarded()
        self.notifier.notify("READY=1", f"STATUS={self.status_line()}")
        log.info("ready: watching %s", self.config.drop_dir)
        try:
            while not self.stop_requested:
                self.wake_event.wait(self._next_timeout())
                self.wake_event.clear()
                if self.stop_requested:
                    break
                if self.reload_requested:
                    watcher = self._reload(watcher)
                self.reconcile_guarded()
                self.notifier.notify(f"STATUS={self.status_line()}", "WATCHDOG=1")
        finally:
            self.notifier.notify("STOPPING=1", "STATUS=stopping")
            log.info("stopping")
            watcher.stop()
            for job in self.jobs.values():
                job.cancel.set()
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.janitor.shutdown(wait=True)
            self.write_status(stopped=True)
        return 0

    def _next_timeout(self) -> float:
        timeouts = [self.config.rescan_seconds]
        if self.jobs:
            timeouts.append(1.0)  # progress in STATUS=
        if self.retry_soon:
            timeouts.append(RETRY_SECONDS)
        if self.settler.pending():
            timeouts.append(max(0.2, self.config.settle_seconds / 2))
        if self.notifier.watchdog_interval:
            timeouts.append(self.notifier.watchdog_interval)
        return min(timeouts)

    def _reload(self, watcher: DropWatcher) -> DropWatcher:
        self.reload_requested = False
        self.notifier.notify("RELOADING=1", "STATUS=reloading configuration")
        log.info("reloading configuration")
        if self.reload_config is not None:
            try:
                new = self.reload_config()
            except Exception as exc:
                log.error("configuration not reloaded, keeping the old one: %s", exc)
                new = self.config
            if new == self.config and not new.server_address:
                self.server, how = detect_server_address()
                log.info("clients reach this server at %s (%s)", self.server, how)
            if new != self.config:
                for job in self.jobs.values():
                    job.cancel.set()
                self.pool.shutdown(wait=True, cancel_futures=True)
                self.jobs.clear()
                watcher.stop()
                self._configure(new)
                self.prepare()
                watcher = DropWatcher(self.config.drop_dir, self.wake, self.settler)
                watcher.start()
        self.exports_pending = True
        self.reconcile_guarded()
        self.notifier.notify("READY=1", f"STATUS={self.status_line()}")
        return watcher

    # --- one reconcile pass ---------------------------------------------------------------------
    def reconcile_guarded(self) -> None:
        """A pass that fails (a full disk, a folder made read-only) is logged and retried, not fatal."""
        try:
            self.reconcile()
        except Exception as exc:
            log.exception("reconcile pass failed, retrying in %.0f s: %s", RETRY_SECONDS, exc)
            self.system["last error"] = f"reconcile pass failed: {exc}"
            self.retry_soon = True
            with contextlib.suppress(OSError):
                self.write_status()
        else:
            self.retry_soon = False
            self.system.pop("last error", None)

    def reconcile(self) -> None:
        cfg = self.config
        self._collect_finished_jobs()
        states = self.store.load_all()
        known = frozenset((s.source, s.size, s.mtime_ns) for s in states.values())
        drop = self.settler.observe(cfg.drop_dir, list_drop(cfg.drop_dir), known)
        trees = {slug for slug in states if self.store.has_tree(slug)}
        steps = plan(drop, states, trees, {slug: job.drop for slug, job in self.jobs.items()})
        for note in steps.notes:
            log.warning("%s", note)
        for slug in steps.cancel:
            self.jobs[slug].cancel.set()
            log.info("%s: extraction cancelled (the ISO changed or went away)", self.jobs[slug].drop.name)
        leaving = {slug: states.pop(slug) for slug in steps.remove}
        self.apply_served(states, trees)
        for slug, state in leaving.items():
            self._remove(slug, state)
        for item in steps.waiting:
            if item.name not in self._announced_waiting:
                log.info("%s: still being copied; waiting until it is complete", item.name, extra=iso_extra(item.name))
        self._announced_waiting = {item.name for item in steps.waiting}
        for item in steps.extract:
            if item.slug in self.jobs:
                continue  # a cancelled job for this name is still winding down; next pass
            self._submit(item)
        self._states = states
        self.write_status(states=states, waiting=steps.waiting)

    def _submit(self, item: DropFile) -> None:
        job = Job(drop=item)
        ctx = context_for(self.config, self.server, item.slug)
        self.jobs[item.slug] = job
        log.info("%s: copy complete, queued for extraction", item.name, extra=iso_extra(item.name))
        job.future = self.pool.submit(build_tree, self.config, self.store, job, ctx)
        job.future.add_done_callback(lambda _f: self.wake("extraction finished"))

    def _collect_finished_jobs(self) -> None:
        for slug, job in list(self.jobs.items()):
            if job.future is None or not job.future.done():
                continue
            del self.jobs[slug]
            if job.future.cancelled():
                continue
            state = job.future.result()
            if state is None:
                continue
            self._log_outcome(state)

    def _log_outcome(self, state: EntryState) -> None:
        extra = iso_extra(state.source, state.family, state.outcome.value)
        for warning in state.warnings:
            log.warning("%s: %s", state.source, warning, extra=extra)
        if state.outcome is Outcome.SERVED:
            log.info("%s: served as %r (%s)", state.source, state.label, state.family, extra=extra)
        elif state.outcome is Outcome.UNSUPPORTED:
            log.warning(
                "%s: %s, not bootable over the network: %s", state.source, state.family, state.error, extra=extra
            )
        else:
            log.error("%s: %s: %s", state.source, state.outcome.value, state.error, extra=extra)

    def _remove(self, slug: str, state: EntryState) -> None:
        tree = self.store.tree_path(slug)
        if tree.exists() or tree.is_symlink():
            doomed = self.store.temp_path(slug, "remove")
            os.rename(tree, doomed)
            self.store.forget(slug)
            self.janitor.submit(remove_tree, doomed)  # a big tree takes a while; the loop must not wait
        else:
            self.store.forget(slug)
        log.info(
            "%s: removed (entry, export and tree)", state.source, extra=iso_extra(state.source, state.family, "removed")
        )

    # --- what is served -> menus, exports, signals ----------------------------------------------
    def served_entries(self, states: dict[str, EntryState], live: list[str]) -> list[Served]:
        """Menu entries of the `live` slugs (served, tree in place), sidecars applied, hidden ones left out."""
        served = []
        for slug in live:
            state = states[slug]
            ctx = context_for(self.config, self.server, slug)
            entry = self._current_entry(slug, state, ctx)
            if entry is None:
                continue
            position, entry = self._with_sidecar(state, entry)
            if entry is None:
                continue
            served.append(
                Served(slug=slug, source=state.source, tftp_path=ctx.tftp_path, entry=entry, position=position)
            )
        return served

    def _current_entry(self, slug: str, state: EntryState, ctx: ServerContext) -> BootEntry | None:
        """The stored entry, rebuilt when the server address or paths changed since it was made."""
        if state.context == ctx.to_dict():
            return state.boot_entry()
        tree = DirTree(self.store.tree_path(slug), state.volume_id, PurePosixPath(state.source).name)
        recognition = recognise(tree, ctx)
        if not isinstance(recognition, BootEntry):
            return state.boot_entry()
        state.entry, state.context, state.label = recognition.to_dict(), ctx.to_dict(), recognition.label
        self.store.save(state)
        return recognition

    def _with_sidecar(self, state: EntryState, entry: BootEntry) -> tuple[int, BootEntry | None]:
        path = self.config.drop_dir / f"{state.source}.toml"
        if not path.is_file():
            self._sidecar_errors.pop(state.source, None)
            return 0, entry
        try:
            sidecar = load_sidecar(path)
        except SidecarError as exc:
            if self._sidecar_errors.get(state.source) != str(exc):
                log.error("%s: sidecar ignored: %s", state.source, exc, extra=iso_extra(state.source))
            self._sidecar_errors[state.source] = str(exc)
            return 0, entry
        self._sidecar_errors.pop(state.source, None)
        if sidecar.hidden:
            return sidecar.position, None
        return sidecar.position, apply(entry, sidecar)

    def apply_served(self, states: dict[str, EntryState], trees: set[str]) -> None:
        """Menus and exports from what is served (`trees`: slugs whose tree is in place), then signals."""
        cfg = self.config
        live = sorted(slug for slug, st in states.items() if st.outcome is Outcome.SERVED and slug in trees)
        served = self.served_entries(states, live)
        changed = False
        menu = build_menu(served, cfg)
        # iPXE scripts first: the pxelinux menu, written last, shows that every menu is current.
        for rel, text in (IpxeLoader(cfg).render(menu) | render_menus(menu, cfg.templates_dir)).items():
            changed |= effects.write_if_changed(cfg.tftp_root / rel, text)
        # Every served tree is exported, hidden ones too: hiding is about the menu only.
        all_trees = [cfg.trees_dir / slug for slug in live]
        if cfg.nfs_server == "ganesha":
            exports_changed = effects.write_if_changed(
                cfg.ganesha_exports_file, ganesha_exports(all_trees, cfg.client_network)
            )
        else:
            exports_changed = effects.write_if_changed(cfg.exports_file, kernel_exports(all_trees, cfg.client_network))
        if exports_changed or self.exports_pending:
            self._reread_exports()
        if changed or exports_changed:
            log.info("menu and exports updated: %d entr%s", len(served), "y" if len(served) == 1 else "ies")
            result = effects.signal_pidfile(cfg.dnsmasq_pid_file, "dnsmasq")
            self._record("dnsmasq", result)

    def _reread_exports(self) -> None:
        cfg = self.config
        if cfg.nfs_server == "ganesha":
            result = effects.signal_pidfile(cfg.ganesha_pid_file, "nfs-ganesha")
        else:
            result = effects.run_command(cfg.exports_reload_command, "exports re-read")
        self._record("exports", result)
        self.exports_pending = not result.ok and not cfg.local_mode

    def _record(self, part: str, result: effects.Result) -> None:
        previous = self.system.get(part)
        self.system[part] = result.message
        if result.ok:
            log.info("%s", result.message)
        elif self.config.local_mode:
            if previous != result.message:
                log.info("%s (local mode)", result.message)
        else:
            log.warning("%s; will retry on the next change", result.message)

    # --- status -----------------------------------------------------------------------------------
    def status_line(self) -> str:
        """The one-line summary for systemd's STATUS= and `isodrop status`, from the last pass."""
        states = self._states
        served = sum(1 for s in states.values() if s.outcome is Outcome.SERVED)
        parts = [f"serving {served} ISO{'s' if served != 1 else ''}"]
        running = [j for j in self.jobs.values() if j.started and not (j.future and j.future.done())]
        for job in running:
            parts.append(f"extracting {PurePosixPath(job.drop.name).name} {job.percent}%")
        queued = len(self.jobs) - len(running)
        if queued:
            parts.append(f"{queued} queued")
        waiting = self.settler.pending()
        if waiting:
            parts.append(f"{waiting} being copied")
        failed = sum(1 for s in states.values() if s.outcome is not Outcome.SERVED)
        if failed:
            parts.append(f"{failed} not bootable (see isodrop status)")
        return "; ".join(parts)

    def write_status(self, states: dict[str, EntryState] | None = None, waiting=(), stopped: bool = False) -> None:
        states = self._states if states is None else states
        doc = {
            "pid": os.getpid(),
            "stopped": stopped,
            "started": self.started,
            "updated": time.time(),
            "config": self.config.source,
            "drop_dir": str(self.config.drop_dir),
            "server": self.server,
            "summary": self.status_line(),
            "entries": [
                s.summary() | {"sidecar_error": self._sidecar_errors.get(s.source, "")}
                for s in sorted(states.values(), key=lambda s: s.source)
            ],
            "extracting": [
                {"iso": j.drop.name, "percent": j.percent, "running": j.started} for j in self.jobs.values()
            ],
            "waiting": [{"iso": d.name, "size": d.size} for d in waiting],
            "system": self.system,
        }
        effects.write_if_changed(self.config.state_dir / "status.json", json.dumps(doc, indent=2) + "\n")
