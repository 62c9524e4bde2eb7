"""PassReport: what one pass leaves, read by the service, `isodrop scan` and the status document."""

from __future__ import annotations

import time
from concurrent.futures import Future

from isodrop.build import Job
from isodrop.model import Outcome
from isodrop.plan import DropFile
from isodrop.report import PassReport
from isodrop.state import EntryState


def record(name: str, outcome: Outcome) -> EntryState:
    return EntryState(slug=name.removesuffix(".iso"), source=name, size=1, mtime_ns=1, outcome=outcome)


def test_status_line_says_when_names_are_ignored_or_the_drop_folder_is_unavailable() -> None:
    states = {"a": record("a.iso", Outcome.SERVED)}
    assert PassReport(states=states).summary == "serving 1 ISO"
    line = PassReport(states=states, ignored={"b.iso": "link out", "c.iso": "FIFO"}, unavailable=True).summary
    assert "2 ignored in the drop folder" in line and "drop folder unavailable, keeping what is served" in line


def test_status_line_counts_running_and_queued_extractions_and_failures() -> None:
    states = {"a": record("a.iso", Outcome.SERVED), "b": record("b.iso", Outcome.FAILED)}
    running = Job(DropFile("dir/new.iso", 10, 1, True), done_bytes=5, total_bytes=10, started=True, future=Future())
    queued = Job(DropFile("later.iso", 10, 1, True))
    report = PassReport(states=states, jobs=(running, queued), being_copied=2)
    assert report.failed == ("b.iso",)
    assert report.summary == (
        "serving 1 ISO; extracting new.iso 50%; 1 queued; 2 being copied; 1 not bootable (see isodrop status)"
    )


def test_retries_are_shown_for_recorded_isos_only_and_never_below_zero() -> None:
    now = time.monotonic()
    report = PassReport(
        states={"a": record("a.iso", Outcome.FAILED)}, retries={"a": (2, now - 5), "gone": (1, now + 60)}
    )
    assert report.retries_now() == {"a": {"attempts": 2, "retry_in": 0.0}}
