"""The reconcile plan: a pure function from (drop folder, what is served) to what to do.

Nothing here touches the disk. The service feeds in a listing of the drop folder and the state
records, and applies the plan; because the plan depends only on those two, a restart, a missed
event or a crash mid-way converges to the same result.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
    keep: tuple[str, ...] = ()  # slugs served (or failed) for an unchanged ISO
    notes: tuple[str, ...] = field(default=())  # e.g. slug clashes, for the log


def _matches(state: EntryState, drop: DropFile) -> bool:
    return state.source == drop.name and state.size == drop.size and state.mtime_ns == drop.mtime_ns


def plan(
    drop: list[DropFile],
    states: dict[str, EntryState],
    trees_present: set[str],
    in_progress: dict[str, DropFile],
    redo: frozenset[str] = frozenset(),
) -> Plan:
    """What to do so that what is served matches the drop folder.

    `states`: state records by slug; `trees_present`: slugs whose extracted tree exists;
    `in_progress`: extractions queued or running, by slug, with the ISO version they started from.
    A state whose outcome needs a tree but has none (a crash between steps) counts as absent.
    `redo`: slugs whose ISO was replaced although name, size and mtime match ([h6] dropfolder.replaced).
    """
    extract, remove, cancel, waiting, keep, notes = [], [], [], [], [], []
    wanted: dict[str, DropFile] = {}
    for item in sorted(drop, key=lambda d: d.name):
        if item.slug in wanted:
            notes.append(f"{item.name}: same folder name as {wanted[item.slug].name}; ignored")
            continue
        wanted[item.slug] = item

    for slug, item in wanted.items():
        state = states.get(slug)
        running = in_progress.get(slug)
        intact = state is not None and (state.entry is None or slug in trees_present)
        if state is not None and _matches(state, item) and intact and slug not in redo:  # [h6] redo
            keep.append(slug)
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
    return Plan(
        extract=tuple(extract),
        remove=tuple(sorted(set(remove))),
        cancel=tuple(sorted(cancel)),
        waiting=tuple(waiting),
        keep=tuple(keep),
        notes=tuple(notes),
    )
