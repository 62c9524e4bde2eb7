"""Entries rebuilt from the trees in place, without extracting again: for a new server address or
paths (`refreshed`), and for trees named by the old slug rule (`adopt_old_slugs`, at start)."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import PurePosixPath

from isodrop.families import DirTree, recognise
from isodrop.model import BootEntry, ServerContext
from isodrop.site import Site
from isodrop.state import EntryState, legacy_slug_for, slug_for
from isodrop.trees import Trees

log = logging.getLogger("isodrop")


def refreshed(trees: Trees, state: EntryState, ctx: ServerContext) -> EntryState | None:
    """The state with its entry rebuilt for `ctx` (the server address or paths changed since it was
    made), from the tree in place; None when the tree no longer yields an entry (the old one stays)."""
    tree = DirTree(trees.tree(state.slug), state.volume_id, PurePosixPath(state.source).name)
    try:
        recognition = recognise(tree, ctx)
    except Exception as exc:  # a tree that cannot be read again must not stop every pass
        log.warning("%s: entry not rebuilt for %s, keeping the old one: %s", state.source, ctx.server, exc)
        return None
    if not isinstance(recognition, BootEntry):
        return None
    return dataclasses.replace(state, entry=recognition, context=ctx, label=recognition.label)


def adopt_old_slugs(site: Site) -> None:
    """At start: records and trees named by the slug rule before hashed slugs had a separator move to
    their ISO's slug now, the entry rebuilt for the new paths from the tree in place, so an upgrade
    extracts nothing again. One that cannot move (its new slug taken by another name, its tree gone
    or no longer recognised) stays; it no longer matches its ISO's slug, so the plan retires it and
    extracts the ISO anew under its new slug."""
    trees = site.trees
    records = trees.records()
    for old, state in sorted(records.items()):
        new = slug_for(state.source)
        if new == old or _legacy_slug(state.source) != old:
            continue
        taken = records.get(new)
        if (taken is not None and taken.source != state.source) or trees.tree(new).exists():
            continue
        moved = dataclasses.replace(state.copy(), slug=new)
        if state.entry is not None:
            rebuilt = refreshed(trees, state, site.context(new)) if trees.has_tree(old) else None
            if rebuilt is None:
                log.info("%s: its tree cannot move to its new slug %s, it is extracted again", state.source, new)
                continue
            moved = dataclasses.replace(rebuilt, slug=new)
        try:
            trees.rename(old, moved)
        except OSError as exc:
            log.warning("%s: cannot move %s to %s, it is extracted again: %s", state.source, old, new, exc)
            continue
        records[new] = moved
        log.info("%s: moved from %s to %s (the slug rule changed), not extracted again", state.source, old, new)


def _legacy_slug(name: str) -> str:
    try:
        return legacy_slug_for(name)
    except UnicodeEncodeError:  # not a name a listing gives (the old rule could not have made it)
        return ""
