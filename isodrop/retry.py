"""Retries: an ISO that failed is tried again after RetryPolicy's backoff (30 s doubling to 1 h by
default) and at once on SIGHUP / `systemctl reload`. In memory only: a restart retries at once."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from isodrop.model import Outcome
from isodrop.plan import DropFile
from isodrop.state import EntryState


@dataclass(frozen=True)
class RetryPolicy:
    """When to try a failed ISO again: `first` seconds after the first failure, doubling up to `longest`."""

    first: float = 30.0
    longest: float = 3600.0

    def delay(self, attempts: int) -> float:
        return min(self.longest, self.first * 2 ** max(0, min(attempts, 64) - 1))


class RetryBook:
    """Failed ISOs and when each is due again. In memory: a restart (like SIGHUP) retries at once."""

    def __init__(self, policy: RetryPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self.clock = clock
        self._book: dict[str, tuple[tuple[str, int, int], int, float]] = {}  # slug -> (version, attempts, due)

    def failed(self, slug: str, version: tuple[str, int, int]) -> float:
        """Record a failed attempt; returns the seconds until the next one."""
        previous = self._book.get(slug)
        attempts = previous[1] + 1 if previous and previous[0] == version else 1
        delay = self.policy.delay(attempts)
        self._book[slug] = (version, attempts, self.clock() + delay)
        return delay

    def forget(self, slug: str) -> None:
        self._book.pop(slug, None)

    def retry_all_now(self) -> None:
        self._book = {slug: (v, a, 0.0) for slug, (v, a, _due) in self._book.items()}

    def due(self, slug: str, version: tuple[str, int, int]) -> bool:
        entry = self._book.get(slug)
        return entry is None or entry[0] != version or self.clock() >= entry[2]

    def next_due(self) -> float | None:
        """When (on the book's clock) the next failed ISO is due again; None when none failed."""
        return min((due for _v, _a, due in self._book.values()), default=None)

    def pending(self) -> dict[str, tuple[int, float]]:
        """slug -> (failed attempts, when it is due again on the book's clock)."""
        return {slug: (attempts, due) for slug, (_v, attempts, due) in self._book.items()}

    def planning_view(self, states: dict[str, EntryState], drop: Iterable[DropFile]) -> dict[str, EntryState]:
        """`states` without the failed records that are due for a retry (so the plan extracts them again).
        Only records whose ISO is still there, unchanged, are left out: a gone ISO is still removed."""
        present = {(d.name, d.size, d.mtime_ns) for d in drop}
        view = {}
        for slug, state in states.items():
            version = (state.source, state.size, state.mtime_ns)
            if state.outcome is Outcome.FAILED and version in present and self.due(slug, version):
                continue
            view[slug] = state
        for slug in [s for s, (version, _a, _d) in self._book.items() if version not in present]:
            del self._book[slug]  # gone or changed: a new version starts with a clean slate
        return view
