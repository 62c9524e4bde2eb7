"""Publishing: writes what `render.publication` computed, and tells dnsmasq and the NFS server.

It only writes and signals: it never looks at trees or state records. A re-read that failed is
retried on the next pass (`exports_pending`); what each part last said is kept in the running state
(isodrop.running) for the status report.
"""

from __future__ import annotations

import logging
from pathlib import Path

from isodrop import effects
from isodrop.findings import Finding
from isodrop.loaders import loader_files
from isodrop.render.publication import Publication
from isodrop.running import RunningState
from isodrop.site import Site

log = logging.getLogger("isodrop")


class Publisher:
    def __init__(self, site: Site, running: RunningState) -> None:
        self.config = site.config
        self.loaders = site.loaders
        self.nfs = site.nfs
        self.running = running  # what each part last said, for the status report
        self.exports_pending = True  # re-read exports once at start: the file may predate a reboot
        self.loader_files_pending = False  # some loader file could not be installed: try again
        self._install_failures: set[str] = set()

    def install_loader_files(self) -> None:
        """Copy every active loader's files into the TFTP root, and refresh those whose source changed."""
        wanted = {self.config.tftp_root / dest: source for dest, source in loader_files(self.config).items()}
        self.loader_files_pending = False
        failures = set()
        for result in effects.install_files(wanted):
            if result.ok:
                log.info("%s", result.message)
                continue
            if result.message not in self._install_failures:  # a full disk: said once, not every pass
                log.warning("%s", result.message)
            failures.add(result.message)
            self.running.say("boot files", result.message)
            self.loader_files_pending = True  # tried again before the next publication
        self._install_failures = failures
        if not self.loader_files_pending:
            self.running.clear("boot files")

    def publish(self, wanted: Publication) -> None:
        """Write menus and exports that changed; re-read exports and signal dnsmasq when needed."""
        if self.loader_files_pending:  # a full disk at start: the loaders are installed once there is room
            self.install_loader_files()
        changed = False
        for path, text in wanted.menus:
            changed |= effects.write_if_changed(path, text)
        changed |= self._remove_unpinned(wanted.client_files)
        exports_changed = effects.write_if_changed(wanted.exports_file, wanted.exports)
        if exports_changed or self.exports_pending:
            result = self.nfs.reread()
            self._record("exports", result)
            self.exports_pending = not result.ok and not self.config.local_mode
        if changed or exports_changed:
            log.info("menu and exports updated: %d entr%s", wanted.shown, "y" if wanted.shown == 1 else "ies")
            self._record("dnsmasq", effects.signal_pidfile(self.config.dnsmasq_pid_file, "dnsmasq"))

    def _remove_unpinned(self, keep: frozenset[Path]) -> bool:
        """Delete per-PC menus isodrop wrote for pins that are gone (only files it generated: a
        pxelinux.cfg/01-<mac> written by hand stays). True when one went."""
        removed = False
        for loader in self.loaders:
            for pattern in loader.client_globs():
                for path in self.config.tftp_root.glob(pattern):
                    if path not in keep and effects.generated_by_isodrop(path):
                        path.unlink(missing_ok=True)
                        log.info("%s removed: no pin wants it any more", path)
                        removed = True
        return removed

    def _record(self, part: str, result: Finding) -> None:
        previous = self.running.said(part)
        self.running.say(part, result.message)
        if result.ok:
            log.info("%s", result.message)
        elif self.config.local_mode:
            if previous != result.message:
                log.info("%s (local mode)", result.message)
        else:
            log.warning("%s; will retry on the next change", result.message)
