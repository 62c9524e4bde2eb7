"""The reconcile plan: a pure function from (drop folder, what is served) to what to do.

Nothing here touches the disk. The reconciler feeds in one snapshot of a pass (the drop folder
listing, the state records, the trees in place, where trees are served from) and executes the
plan; because the plan depends only on those, a restart, a missed event or a crash mid-way
converges to the same result.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from isodrop.dropfolder import collisions
from isodrop.model import Outcome, ServerContext
from isodrop.state import EntryState, slug_for


@dataclass(frozen=True)
class DropFile:
    """An ISO in the drop folder, as last seen."""

    name: str  # path relative to the drop folder
    size: int
    mtime_ns: int
    stable: bool  # completely copied (see watch.Settler)

    @property
    def slug(self) -> str:
        return slug_for(self.name)


@dataclass(frozen=True)
class Plan:
    extract: tuple[DropFile, ...] = ()  # new or changed ISOs that are ready
    remove: tuple[str, ...] = ()  # slugs whose ISO is gone or has changed
    cancel: tuple[str, ...] = ()  # extractions in progress whose ISO is gone or has changed
    waiting: tuple[DropFile, ...] = ()  # ISOs still being copied
    refresh: tuple[str, ...] = ()  # served slugs whose entry was built for another server address or path
    ignored: tuple[tuple[str, str], ...] = ()  # (ISO name, why): its slug is held by another name
    freed: tuple[str, ...] = ()  # ignored names whose slug's holder goes in this plan: plan again at once


def _matches(state: EntryState, drop: DropFile) -> bool:
    return state.source == drop.name and state.size == drop.size and state.mtime_ns == drop.mtime_ns


def plan(
    drop: list[DropFile],
    states: dict[str, EntryState],
    trees_present: set[str],
    in_progress: dict[str, DropFile],
    context: Callable[[str], ServerContext] | None = None,
    redo: frozenset[str] = frozenset(),
    held: Mapping[str, str] | None = None,
) -> Plan:
    """What to do so that what is served matches the drop folder.

    `states`: state records by slug; `trees_present`: slugs whose extracted tree exists;
    `in_progress`: extractions queued or running, by slug, with the ISO version they started from.
    A state whose outcome needs a tree but has none (a crash between steps) counts as absent.
    `context(slug)`: where SLUG is served from now; a kept entry built for another place is refreshed.
    `redo`: slugs whose ISO was replaced although name, size and mtime match (dropfolder.replaced).
    `held`: slug -> source name of every state record (default: those in `states`; the caller passes
    all of them, also those left out of `states` for a retry). A slug held by a record or an extraction
    for another name stays with it (dropfolder.collisions); the newcomer is ignored with the reason.
    """
    extract, remove, cancel, waiting, refresh = [], [], [], [], []
    records = {slug: state.source for slug, state in states.items()} if held is None else held
    holders = {slug: item.name for slug, item in in_progress.items()} | dict(records)
    losers = collisions((item.name for item in drop), slug_for, holders)
    wanted = {item.slug: item for item in sorted(drop, key=lambda d: d.name) if item.name not in losers}

    for slug, item in wanted.items():
        state = states.get(slug)
        running = in_progress.get(slug)
        intact = state is not None and (state.entry is None or slug in trees_present)
        if state is not None and _matches(state, item) and intact and slug not in redo:
            if context is not None and state.outcome is Outcome.SERVED and state.context != context(slug):
                refresh.append(slug)
            continue
        if state is not None:
            remove.append(slug)
        if running is not None:
            if (running.name, running.size, running.mtime_ns) == (item.name, item.size, item.mtime_ns):
                continue  # already being extracted from this very version
            cancel.append(slug)
        if item.stable:
            extract.append(item)
        else:
            waiting.append(item)

    for slug in states:
        if slug not in wanted:
            remove.append(slug)
    for slug in in_progress:
        if slug not in wanted and slug not in cancel:
            cancel.append(slug)
    going = set(remove) | set(cancel)
    return Plan(
        extract=tuple(extract),
        remove=tuple(sorted(set(remove))),
        cancel=tuple(sorted(cancel)),
        waiting=tuple(waiting),
        refresh=tuple(refresh),
        ignored=tuple((name, _conflict(slug_for(name), winner, holders)) for name, winner in losers.items()),
        freed=tuple(name for name in losers if slug_for(name) in going),
    )


def _conflict(slug: str, winner: str, holders: Mapping[str, str]) -> str:
    """Why a name is ignored for a slug conflict, for status and the journal."""
    if holders.get(slug) == winner:
        return f"slug conflict: its folder name {slug!r} is held by {winner!r}, which keeps it while it is there"
    return f"slug conflict: same folder name {slug!r} as {winner!r}, which comes first in sorted order"
