"""The daemon: wake on events, signals and a slow timer; each wake-up runs one reconcile pass, except
one caused only by the logs of booting PCs (or a booting PC's moment to be called stopped), which
rewrites the status report alone, at most every STATUS_MIN_SECONDS.

It owns what a long-running process needs and a pass does not: signal handlers, the drop folder
watcher, systemd notifications (READY, STATUS, WATCHDOG, RELOADING, STOPPING), configuration reload,
a failed pass retried soon instead of crashing, and the status report after every pass. The work of
a pass is the reconciler's (isodrop.reconciler); the service reads only the report each pass returns
(isodrop.report) and keeps what its parts say in the running state (isodrop.running).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import sdnotify

from isodrop import clients, dnsmasq_network, dropfolder, lock, status
from isodrop.config import HTTP_URL_AUTO, Config
from isodrop.reconciler import Reconciler
from isodrop.report import PassReport
from isodrop.running import RunningState
from isodrop.site import Site
from isodrop.watch import DropWatcher, Settler

log = logging.getLogger("isodrop")
RETRY_SECONDS = 5.0
STATUS_MIN_SECONDS = 2.0  # a log written many times a second (a busy fest) rewrites the status this often at most
STOP_MARGIN = 0.1  # seconds after a PC's "stopped" moment the status is rewritten: past it, by either clock
NOTIFY_TIMEOUT = 0.25  # seconds a notify message may wait for room in the socket's queue


class Notifier:
    """sd_notify(3) through sdnotify; silent when not started by systemd.

    A notify socket holds only net.unix.max_dgram_qlen messages (10 here) until its reader takes them,
    and sdnotify's send then waits. A reader that stops reading (a wrapper or test harness that only
    wanted READY=1) must not freeze the service: a message that cannot go within NOTIFY_TIMEOUT is
    dropped, and the first of a run of such drops is logged."""

    def __init__(self) -> None:
        self._notifier = None
        self._dropping = False
        if os.environ.get("NOTIFY_SOCKET"):
            try:
                self._notifier = sdnotify.SystemdNotifier(debug=True)
                self._notifier.socket.settimeout(NOTIFY_TIMEOUT)
            except Exception as exc:  # sdnotify raises whatever connecting raised
                log.warning("cannot reach the notify socket %s: %s", os.environ["NOTIFY_SOCKET"], exc)
                self._notifier = None
        usec = os.environ.get("WATCHDOG_USEC", "")
        self.watchdog_interval = int(usec) / 2e6 if usec.isdigit() and int(usec) > 0 else None

    def notify(self, *lines: str) -> None:
        if self._notifier is None:
            return
        try:
            self._notifier.notify("\n".join(lines))
        except OSError as exc:
            if not self._dropping:
                log.warning("systemd was not told %s: %s (its notify socket is not being read)", lines[0], exc)
            self._dropping = True
        else:
            self._dropping = False


class Service:
    def __init__(
        self,
        config: Config,
        reload_config=None,
        notifier: Notifier | None = None,
        stopped_after: float = clients.STOPPED_AFTER_SECONDS,
    ) -> None:
        self.reload_config = reload_config
        self.notifier = notifier or Notifier()
        self.wake_event = threading.Event()
        self.stop_requested = False
        self.reload_requested = False
        self.retry_soon = False  # the last pass failed: try again in RETRY_SECONDS, not rescan_seconds
        self.started = time.time()
        self.running = RunningState()  # what each part last said, for the status report
        self.config = config  # as written: what a reload compares
        self.site = Site.make(config)
        self.site.log_address()
        self.settler = Settler(config.settle_seconds, config.quiet_seconds)
        self.reconciler = self._reconciler()
        self.report = PassReport(server=self.site.server)  # the last pass's
        dnsmasq_network.say_if_outdated(config, self.site.server, self.running)
        self.watcher: DropWatcher | None = None
        self.stopped_after = stopped_after  # no progress for this long: a PC is "stopped" (clients.py)
        self.clients = clients.ClientWatch(config, stopped_after)
        self.pass_due = 0.0  # monotonic time the next pass is due when nothing wakes the loop
        self.pass_wanted = False  # something woke the loop for a pass (not only the clients' logs)
        self.handover_wanted = False  # dnsmasq's log changed while a PC can be handed over (isodrop.handover)
        self.passes = 0
        self.logs_written = False  # a log the clients are read from changed since the status was written
        self.status_written = float("-inf")  # monotonic time of the last status report
        self.status_writes = 0
        self.stop_due: float | None = None  # monotonic time a booting PC becomes "stopped", if one boots

    # --- wake-ups -----------------------------------------------------------------------------
    def wake(self, reason: str = "") -> None:
        """A pass is wanted (the drop folder changed, a job ended, a watch stopped)."""
        if reason:
            log.debug("woken: %s", reason)
        self.pass_wanted = True  # before the event: the loop clears the event, then reads the flags
        self.wake_event.set()

    def logs_changed(self, reason: str) -> None:
        """A log the clients are read from changed: the status report, not a pass, is due."""
        log.debug("clients' log: %s", reason)
        self.logs_written = True
        self.wake_event.set()

    def request_stop(self, *_: object) -> None:
        self.stop_requested = True
        self.wake_event.set()

    def request_reload(self, *_: object) -> None:
        self.reload_requested = True
        self.wake_event.set()

    # --- the loop -----------------------------------------------------------------------------
    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        signal.signal(signal.SIGHUP, self.request_reload)
        self._start()
        log.info("ready: watching %s", self.config.drop_dir)
        try:
            while not self.stop_requested:
                due = min(self.pass_due, self._status_due(), self._handover_due())
                self.wake_event.wait(max(0.0, due - time.monotonic()))
                self.wake_event.clear()
                if self.stop_requested:
                    break
                if self.reload_requested:
                    self._reload()
                    continue
                if self.pass_wanted or time.monotonic() >= self.pass_due:
                    self.run_pass()
                    self.notifier.notify(f"STATUS={self.report.summary}", "WATCHDOG=1")
                elif self.handover_wanted or self._handover_expired():
                    self.hand_over()
                elif time.monotonic() >= self._status_due():  # only the clients changed
                    with contextlib.suppress(OSError):
                        self.write_status()
        finally:
            self.notifier.notify("STOPPING=1", "STATUS=stopping")
            log.info("stopping")
            self._stop_watching()
            self.reconciler.shutdown()
            self.report = dataclasses.replace(self.report, jobs=())  # cancelled with the reconciler
            self.write_status(stopped=True)
        return 0

    def _start(self) -> None:
        """Prepare, watch, one pass, READY: at start and after a reload."""
        self.reconciler.prepare()
        self.watcher = DropWatcher(self.config.drop_dir, self.wake, self.settler)
        self.watcher.start()
        self.run_pass()
        self.notifier.notify("READY=1", f"STATUS={self.report.summary}")

    def _followed_files(self) -> dict[Path, Callable[[str], None]]:
        """Files outside the drop folder whose changes wake the service: the clients' logs (a status
        report), the clients file (a pass), and dnsmasq's log, which also means a pass while a one-shot
        menu is out (a TFTP line can use it up). Bound methods: the watches stay as long as they are equal."""
        followed: dict[Path, Callable[[str], None]] = dict.fromkeys(self.clients.logs(), self.logs_changed)
        followed[self.config.clients_file] = self.wake
        if self.config.dnsmasq_log is not None:
            followed[self.config.dnsmasq_log] = self._dnsmasq_log_changed
        return followed

    def _dnsmasq_log_changed(self, reason: str) -> None:
        if self.config.dnsmasq_log in self.clients.logs():
            self.logs_changed(reason)
        if self.report.one_shots_out:
            self.wake(reason)
        if self.reconciler.handover.active():  # a PC may have asked for a hand-over: it restarts in seconds
            self.handover_wanted = True
            self.wake_event.set()

    def _handover_due(self) -> float:
        """When the next hand-over request expires (monotonic): its folder must go then, without a pass."""
        expiry = self.reconciler.handover.next_expiry()
        return float("inf") if expiry is None else time.monotonic() + max(0.0, expiry - time.time()) + STOP_MARGIN

    def _handover_expired(self) -> bool:
        expiry = self.reconciler.handover.next_expiry()
        return expiry is not None and time.time() >= expiry

    def hand_over(self) -> None:
        """The light step for a hand-over request or its end: dnsmasq's new lines read, the per-PC folders
        written or removed from the last pass's entries, the status rewritten; no pass."""
        self.handover_wanted = False
        self.reconciler.hand_over()
        self.report = dataclasses.replace(self.report, handover=self.reconciler.handover.status())
        with contextlib.suppress(OSError):
            self.write_status()

    def _refresh_watches(self) -> None:
        """Watch the folders the last pass listed (a new one from the pass its creation woke, a dead
        watch re-created); beyond dropfolder.MAX_WATCHED_FOLDERS the rescan finds changes."""
        if self.watcher is None:
            return
        self.watcher.refresh(dict(self.report.folders))
        self.watcher.follow(self._followed_files())
        if self.watcher.unwatched:
            self.running.say(
                "watcher",
                f"{self.watcher.unwatched} folders in the drop folder are not watched (at most"
                f" {dropfolder.MAX_WATCHED_FOLDERS}); changes there are found by the rescan every"
                f" {self.config.rescan_seconds:.0f} s",
            )
        else:
            self.running.clear("watcher")

    def _stop_watching(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()
            self.watcher = None

    def _status_due(self) -> float:
        """When the status report alone is due: a changed log (or one with more to read) no sooner than
        STATUS_MIN_SECONDS after the last report, and the moment a booting PC becomes "stopped". A
        deadline, not a period: with no log written and no PC booting there is none."""
        moments = [self.stop_due] if self.stop_due is not None else []
        if self.logs_written or self.clients.behind():
            moments.append(self.status_written + STATUS_MIN_SECONDS)
        return min(moments, default=float("inf"))

    def _next_timeout(self) -> float:
        timeouts = [self.config.rescan_seconds]
        if self.report.next_retry is not None:  # a failed ISO due again
            timeouts.append(max(0.2, self.report.next_retry - time.monotonic()))
        if self.report.jobs:
            timeouts.append(1.0)  # progress in STATUS=
        if self.retry_soon:
            timeouts.append(RETRY_SECONDS)
        if self.report.being_copied:
            timeouts.append(max(0.2, self.config.settle_seconds / 2))
        if self.notifier.watchdog_interval:
            timeouts.append(self.notifier.watchdog_interval)
        return min(timeouts)

    def _reload(self) -> None:
        """SIGHUP: read the configuration again; a changed one gets a new reconciler (running
        extractions are cancelled and start over), an unchanged one re-detects the address.
        Either way failed ISOs are tried again at once."""
        self.reload_requested = False
        self.reconciler.retry_all_now()
        self.notifier.notify("RELOADING=1", "STATUS=reloading configuration")
        log.info("reloading configuration")
        new = self.config
        if self.reload_config is not None:
            try:
                new = self.reload_config()
            except Exception as exc:
                log.error("configuration not reloaded, keeping the old one: %s", exc)
        if new.state_dir != self.config.state_dir:
            try:  # the lock moves with the state folder, before anything is written there
                lock.take(new.state_dir, "serve")
            except (lock.Busy, lock.Unusable) as exc:
                log.error("configuration not reloaded, keeping the old one: %s", exc)
                new = self.config
        site = Site.make(new)
        site.log_address()
        dnsmasq_network.say_if_outdated(new, site.server, self.running)
        if new == self.config and (new.http_url != HTTP_URL_AUTO or site.server == self.site.server):
            self.site = self.site.at(site.server)
            self.reconciler.move_to(self.site)
            self.run_pass()
            self.notifier.notify("READY=1", f"STATUS={self.report.summary}")
            return
        self._stop_watching()
        self.reconciler.shutdown(wait_for_removals=False)
        if new.state_dir != self.config.state_dir:
            lock.release(self.config.state_dir)
        self.config, self.site = new, site
        self.clients = clients.ClientWatch(new, self.stopped_after)
        self.settler = Settler(new.settle_seconds, new.quiet_seconds)
        self.reconciler = self._reconciler()
        self._start()

    def _reconciler(self) -> Reconciler:
        return Reconciler(self.site, self.wake, self.running, self.settler)

    # --- one pass, guarded ----------------------------------------------------------------------
    def run_pass(self) -> None:
        """A pass that fails (a full disk, a folder made read-only) is logged and retried, not fatal.
        The next one is due (without a wake-up) after what this one left: a retry, a copy settling."""
        self.pass_wanted = False  # a wake-up during the pass asks for another
        self.handover_wanted = False  # the pass takes the hand-over step too
        self.passes += 1
        try:
            self.report = self.reconciler.run_pass()
        except Exception as exc:
            log.exception("reconcile pass failed, retrying in %.0f s: %s", RETRY_SECONDS, exc)
            self.running.say("last error", f"reconcile pass failed: {exc}")
            self.retry_soon = True
        else:
            self.retry_soon = False
            self.running.clear("last error")
            if self.report.again:
                self.wake("a folder name was freed")
        self._refresh_watches()
        with contextlib.suppress(OSError):
            self.write_status()
        self.pass_due = time.monotonic() + self._next_timeout()

    def write_status(self, stopped: bool = False) -> None:
        """status.json and the status page; a page that cannot be written is a warning, logged when it
        starts or changes and shown in the status document, never a failed pass. Reads what the clients'
        logs gained, and schedules the next moment a booting PC would become "stopped"."""
        self.logs_written = False  # before reading: a line written while they are read wakes us again
        self.status_written = time.monotonic()
        self.status_writes += 1
        before = self.running.said("status page")
        self.running.clear("status page")  # not on the page it is about
        doc = status.of_pass(
            self.config,
            self.report,
            made_by="service",
            running=not stopped,
            system=self.running.parts(),
            started=self.started,
            stopped=stopped,
        )
        doc["clients"] = clients.status_part(self.clients, dict(self.report.states), save=True)
        stop = self.clients.next_stop()
        self.stop_due = None if stop is None else time.monotonic() + max(0.0, stop - time.time()) + STOP_MARGIN
        if problem := status.publish(self.config, doc, before):
            self.running.say("status page", problem)
