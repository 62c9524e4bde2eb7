"""What one reconcile pass leaves: the report the reconciler returns and the service, `isodrop scan` and
the status document read (the status line, what to watch, when to look again)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from isodrop.build import Job
from isodrop.model import Outcome, shown
from isodrop.plan import DropFile
from isodrop.sidecar import Sidecar
from isodrop.state import EntryState


@dataclass(frozen=True)
class PassReport:
    server: str = ""
    states: Mapping[str, EntryState] = field(default_factory=dict)  # by slug, as this pass left them
    jobs: tuple[Job, ...] = ()  # extractions queued or running (live: their progress moves on)
    waiting: tuple[DropFile, ...] = ()  # ISOs still being copied
    being_copied: int = 0  # ISOs that looked unfinished (watch.Settler)
    sidecars: Mapping[str, Sidecar] = field(default_factory=dict)  # applied, by ISO name
    sidecar_errors: Mapping[str, str] = field(default_factory=dict)  # by ISO name: why ignored
    ignored: Mapping[str, str] = field(default_factory=dict)  # drop-folder names not used, and why
    retries: Mapping[str, tuple[int, float]] = field(default_factory=dict)  # slug -> (attempts, monotonic due)
    pins: Mapping[str, Any] = field(default_factory=dict)  # isodrop.pins.PinBook.status()
    unavailable: bool = False  # the drop folder could not be used: nothing served changed
    folders: Mapping[str, tuple[int, int]] = field(default_factory=dict)  # drop-folder folders seen (to watch)
    queued: tuple[str, ...] = ()  # slugs queued for extraction by this pass
    removed: tuple[str, ...] = ()  # slugs whose entry, export and tree this pass removed
    next_retry: float | None = None  # monotonic time a failed ISO is due again
    again: bool = False  # a slug was freed for a waiting name: plan again at once
    one_shots_out: bool = False  # a one-shot menu is written: dnsmasq's log may use it up
    handover: Mapping[str, Any] = field(default_factory=dict)  # isodrop.handover.HandoverBook.status()

    @property
    def failed(self) -> tuple[str, ...]:
        """The ISOs (by name) that are not served."""
        return tuple(sorted(s.source for s in self.states.values() if s.outcome is not Outcome.SERVED))

    @property
    def summary(self) -> str:
        """The one-line summary for systemd's STATUS=, `isodrop scan` and `isodrop status`."""
        served = sum(1 for s in self.states.values() if s.outcome is Outcome.SERVED)
        parts = [f"serving {served} ISO{'s' if served != 1 else ''}"]
        running = [j for j in self.jobs if j.started and not (j.future and j.future.done())]
        for job in running:
            parts.append(f"extracting {shown(PurePosixPath(job.drop.name).name)} {job.percent}%")  # one line
        queued = len(self.jobs) - len(running)
        if queued:
            parts.append(f"{queued} queued")
        if self.being_copied:
            parts.append(f"{self.being_copied} being copied")
        if self.failed:
            parts.append(f"{len(self.failed)} not bootable (see isodrop status)")
        if self.ignored:
            parts.append(f"{len(self.ignored)} ignored in the drop folder (see isodrop status)")
        if self.unavailable:
            parts.append("drop folder unavailable, keeping what is served")
        return "; ".join(parts)

    def retries_now(self) -> dict[str, dict[str, float | int]]:
        """By slug of a recorded ISO: its failed attempts and the seconds to its next try, as of now."""
        now = time.monotonic()
        return {
            slug: {"attempts": attempts, "retry_in": round(max(0.0, due - now), 1)}
            for slug, (attempts, due) in self.retries.items()
            if slug in self.states
        }
