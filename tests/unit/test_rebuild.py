"""Entries rebuilt from a tree in place: for a new address (`refreshed`) and for trees named by the old
slug rule (`adopt_old_slugs`), without extracting again."""

from __future__ import annotations

from pathlib import Path

from isodrop.config import local_defaults
from isodrop.model import BootEntry, Outcome
from isodrop.rebuild import adopt_old_slugs, refreshed
from isodrop.site import Site
from isodrop.state import EntryState, legacy_slug_for, slug_for
from tests.harness.servicekit import debian_live_files

NAME = "my iso.iso"  # the old slug rule named its tree differently


def served(site: Site, slug: str, name: str) -> EntryState:
    """A served record of a Debian live tree written under `slug`, its entry made for that slug."""
    tree = site.trees.tree(slug)
    for rel, data in debian_live_files().items():
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_bytes(data.encode() if isinstance(data, str) else data)
    state = EntryState(slug=slug, source=name, size=1, mtime_ns=1, outcome=Outcome.SERVED, volume_id="d-live 12")
    rebuilt = refreshed(site.trees, state, site.context(slug))
    assert rebuilt is not None
    site.trees.save(rebuilt)
    return rebuilt


def test_refreshed_rebuilds_the_entry_for_a_new_address(tmp_path: Path) -> None:
    site = Site.make(local_defaults(tmp_path), "192.0.2.1")
    state = served(site, "a", "a.iso")
    assert isinstance(state.entry, BootEntry) and any("192.0.2.1:" in p for p in state.entry.params)
    moved = site.at("198.51.100.9")
    again = refreshed(moved.trees, state, moved.context("a"))
    assert again is not None and again.context == moved.context("a")
    assert any("nfsroot=198.51.100.9:" in p for p in again.entry.params)
    assert not any("192.0.2.1" in p for p in again.entry.params)


def test_refreshed_gives_none_when_the_tree_no_longer_yields_an_entry(tmp_path: Path) -> None:
    site = Site.make(local_defaults(tmp_path), "192.0.2.1")
    state = served(site, "a", "a.iso")
    (site.trees.tree("a") / "live" / "filesystem.squashfs").unlink()
    assert refreshed(site.trees, state, site.context("a")) is None


def test_an_old_rule_tree_moves_to_its_new_slug_with_its_entry_rebuilt(tmp_path: Path) -> None:
    site = Site.make(local_defaults(tmp_path), "192.0.2.1")
    old, new = legacy_slug_for(NAME), slug_for(NAME)
    assert old != new
    served(site, old, NAME)
    inode = site.trees.tree(old).stat().st_ino
    adopt_old_slugs(site)
    records = site.trees.records()
    assert set(records) == {new}
    assert site.trees.tree(new).stat().st_ino == inode, "moved, not extracted again"
    assert records[new].context == site.context(new)
    assert not site.trees.tree(old).exists()


def test_an_old_rule_tree_whose_new_slug_is_taken_stays(tmp_path: Path) -> None:
    site = Site.make(local_defaults(tmp_path), "192.0.2.1")
    old, new = legacy_slug_for(NAME), slug_for(NAME)
    served(site, old, NAME)
    served(site, new, "someone else.iso")
    adopt_old_slugs(site)
    records = site.trees.records()
    assert records[old].source == NAME and records[new].source == "someone else.iso"
