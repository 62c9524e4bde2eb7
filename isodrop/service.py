"""The daemon: wake on events, signals and a slow timer; each wake-up runs one reconcile pass.

It owns what a long-running process needs and a pass does not: signal handlers, the drop folder
watcher, systemd notifications (READY, STATUS, WATCHDOG, RELOADING, STOPPING), configuration reload,
a failed pass retried soon instead of crashing, and the status report after every pass. The work of
a pass is the reconciler's (isodrop.reconciler).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from pathlib import Path

from isodrop import clients, dnsmasq_network, dropfolder, lock, status, statuspage
from isodrop.address import detect_server_address, interface_networks
from isodrop.config import HTTP_URL_AUTO, Config, served_by
from isodrop.reconciler import Reconciler
from isodrop.watch import DropWatcher, FileWatcher

log = logging.getLogger("isodrop")
RETRY_SECONDS = 5.0
CLIENTS_SECONDS = 20.0  # the logs of booting PCs are read this often, between passes too (isodrop clients)
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
            import sdnotify

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


def server_address(config: Config) -> str:
    """The address clients reach this server at: from the config, else detected; logged either way."""
    if config.server_address:
        address, how = config.server_address, "from the config"
    else:
        address, how = detect_server_address()
    log.info("clients reach this server at %s (%s)", address, how)
    return address


class Service:
    def __init__(self, config: Config, reload_config=None, notifier: Notifier | None = None) -> None:
        self.reload_config = reload_config
        self.notifier = notifier or Notifier()
        self.wake_event = threading.Event()
        self.stop_requested = False
        self.reload_requested = False
        self.retry_soon = False  # the last pass failed: try again in RETRY_SECONDS, not rescan_seconds
        self.started = time.time()
        self.system: dict[str, str] = {}  # part -> its last message, for the status report
        self.config = config
        self.reconciler = self._reconciler(config)
        self._check_dnsmasq_network(config, self.reconciler.server)
        self.watcher: DropWatcher | None = None
        self.clients = clients.ClientWatch(config)
        self.pass_due = 0.0  # monotonic time the next pass is due when nothing wakes the loop
        self.pin_watcher: FileWatcher | None = None

    # --- wake-ups -----------------------------------------------------------------------------
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

    # --- the loop -----------------------------------------------------------------------------
    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        signal.signal(signal.SIGHUP, self.request_reload)
        self._start()
        log.info("ready: watching %s", self.config.drop_dir)
        try:
            while not self.stop_requested:
                timeout = self._next_timeout()
                self.pass_due = time.monotonic() + timeout
                woken = self.wake_event.wait(min(timeout, CLIENTS_SECONDS))
                self.wake_event.clear()
                if self.stop_requested:
                    break
                if not woken and time.monotonic() < self.pass_due:  # only the clients' logs are due
                    with contextlib.suppress(OSError):
                        self.write_status()
                    continue
                if self.reload_requested:
                    self._reload()
                    continue
                self.run_pass()
                self.notifier.notify(f"STATUS={self.reconciler.summary()}", "WATCHDOG=1")
        finally:
            self.notifier.notify("STOPPING=1", "STATUS=stopping")
            log.info("stopping")
            self._stop_watching()
            self.reconciler.shutdown()
            self.write_status(stopped=True)
        return 0

    def _start(self) -> None:
        """Prepare, watch, one pass, READY: at start and after a reload."""
        self.reconciler.prepare()
        self.watcher = DropWatcher(self.config.drop_dir, self.wake, self.reconciler.settler)
        self.watcher.start()
        watched = [self.config.clients_file] + ([self.config.dnsmasq_log] if self.config.dnsmasq_log else [])
        self.pin_watcher = FileWatcher(watched, self._pins_changed)
        self.pin_watcher.start()
        self.run_pass()
        self.notifier.notify("READY=1", f"STATUS={self.reconciler.summary()}")

    def _pins_changed(self, path: Path) -> None:
        """The clients file changed: a pass. dnsmasq's log grew: a pass only while a one-shot menu is
        out (a log line can use it up); a busy log otherwise costs nothing."""
        if path != self.config.dnsmasq_log or self.reconciler.pins.published_once:
            self.wake(f"{path} changed")

    def _refresh_watches(self) -> None:
        """Watch the folders the last pass listed (a new one from the pass its creation woke, a dead
        watch re-created); beyond dropfolder.MAX_WATCHED_FOLDERS the rescan finds changes."""
        if self.watcher is None:
            return
        self.watcher.refresh(self.reconciler.folders)
        if self.watcher.unwatched:
            self.system["watcher"] = (
                f"{self.watcher.unwatched} folders in the drop folder are not watched (at most"
                f" {dropfolder.MAX_WATCHED_FOLDERS}); changes there are found by the rescan every"
                f" {self.config.rescan_seconds:.0f} s"
            )
        else:
            self.system.pop("watcher", None)

    def _stop_watching(self) -> None:
        if self.pin_watcher is not None:
            self.pin_watcher.stop()
            self.pin_watcher = None
        if self.watcher is not None:
            self.watcher.stop()
            self.watcher = None

    def _next_timeout(self) -> float:
        timeouts = [self.config.rescan_seconds]
        next_retry = self.reconciler.retry.seconds_to_next()  # a failed ISO due again
        if next_retry is not None:
            timeouts.append(next_retry)
        if self.reconciler.jobs:
            timeouts.append(1.0)  # progress in STATUS=
        if self.retry_soon:
            timeouts.append(RETRY_SECONDS)
        if self.reconciler.settler.pending():
            timeouts.append(max(0.2, self.config.settle_seconds / 2))
        if self.notifier.watchdog_interval:
            timeouts.append(self.notifier.watchdog_interval)
        return min(timeouts)

    def _reload(self) -> None:
        """SIGHUP: read the configuration again; a changed one gets a new reconciler (running
        extractions are cancelled and start over), an unchanged one re-detects the address.
        Either way failed ISOs are tried again at once."""
        self.reload_requested = False
        self.reconciler.retry.retry_all_now()
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
        address = server_address(new)
        self._check_dnsmasq_network(new, address)
        if new == self.config and (new.http_url != HTTP_URL_AUTO or address == self.reconciler.server):
            self.reconciler.server = address
            self.reconciler.publisher.exports_pending = True
            self.run_pass()
            self.notifier.notify("READY=1", f"STATUS={self.reconciler.summary()}")
            return
        self._stop_watching()
        self.reconciler.shutdown(wait_for_removals=False)
        if new.state_dir != self.config.state_dir:
            lock.release(self.config.state_dir)
        self.config = new
        self.clients = clients.ClientWatch(new)
        self.reconciler = self._reconciler(new, address)
        self._start()

    def _reconciler(self, config: Config, address: str | None = None) -> Reconciler:
        """A reconciler for `config` at this server's address (http_url = "auto" made concrete for it)."""
        address = address or server_address(config)
        return Reconciler(served_by(config, address), address, self.wake, self.system)

    def _check_dnsmasq_network(self, config: Config, address: str) -> None:
        """Say so (journal, status) when the dnsmasq network file isodrop wrote is for an old address."""
        if config.local_mode:
            return
        net = dnsmasq_network.server_network(address, interface_networks())
        problem = dnsmasq_network.outdated(config.dnsmasq_network_file, net)
        if problem:
            log.warning("%s", problem)
            self.system["dnsmasq network"] = problem
        else:
            self.system.pop("dnsmasq network", None)

    # --- one pass, guarded ----------------------------------------------------------------------
    def run_pass(self) -> None:
        """A pass that fails (a full disk, a folder made read-only) is logged and retried, not fatal."""
        try:
            self.reconciler.run_pass()
        except Exception as exc:
            log.exception("reconcile pass failed, retrying in %.0f s: %s", RETRY_SECONDS, exc)
            self.system["last error"] = f"reconcile pass failed: {exc}"
            self.retry_soon = True
        else:
            self.retry_soon = False
            self.system.pop("last error", None)
        self._refresh_watches()
        with contextlib.suppress(OSError):
            self.write_status()

    def write_status(self, stopped: bool = False) -> None:
        """status.json and the status page; a page that cannot be written is a warning, logged when it
        starts or changes and shown in the status document, never a failed pass."""
        before = self.system.pop("status page", "")  # not on the page it is about
        doc = self.reconciler.status_document("service", running=not stopped, started=self.started, stopped=stopped)
        doc["clients"] = clients.status_part(self.clients, self.reconciler.states, save=True)
        problem = statuspage.publish(self.config, doc)
        if problem != before:
            if problem:
                log.warning("%s", problem)
            else:
                log.info("status page written to %s", statuspage.page_path(self.config))
        if problem:
            self.system["status page"] = problem
        status.write(self.config, doc | {"system": dict(self.system)})
