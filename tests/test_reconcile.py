"""The reconcile plan is pure: these tests feed it listings and state records directly."""

from isodrop.model import BootEntry, Outcome
from isodrop.reconcile import DropFile, plan
from isodrop.state import EntryState, slug_for


def drop(name: str, size: int = 100, mtime: int = 1, stable: bool = True) -> DropFile:
    return DropFile(name=name, size=size, mtime_ns=mtime, stable=stable)


def served(name: str, size: int = 100, mtime: int = 1, outcome: Outcome = Outcome.SERVED) -> EntryState:
    entry = BootEntry(family="x", label="x", kernel="k", initrds=(), params=())
    return EntryState(
        slug=slug_for(name),
        source=name,
        size=size,
        mtime_ns=mtime,
        outcome=outcome,
        entry=entry if outcome is Outcome.SERVED else None,
    )


def test_new_stable_iso_is_extracted_and_unstable_waits() -> None:
    p = plan([drop("a.iso"), drop("b.iso", stable=False)], {}, set(), {})
    assert [d.name for d in p.extract] == ["a.iso"]
    assert [d.name for d in p.waiting] == ["b.iso"]
    assert p.remove == () and p.cancel == ()


def test_unchanged_served_iso_is_kept() -> None:
    state = served("a.iso")
    p = plan([drop("a.iso")], {"a": state}, {"a"}, {})
    assert p.extract == () and p.remove == () and p.cancel == () and p.waiting == ()


def test_vanished_iso_is_removed() -> None:
    p = plan([], {"a": served("a.iso")}, {"a"}, {})
    assert p.remove == ("a",)


def test_changed_iso_is_removed_then_extracted_again() -> None:
    p = plan([drop("a.iso", size=200)], {"a": served("a.iso")}, {"a"}, {})
    assert p.remove == ("a",)
    assert [d.size for d in p.extract] == [200]


def test_failed_iso_is_not_retried_until_it_changes() -> None:
    failed = served("bad.iso", outcome=Outcome.FAILED)
    kept = plan([drop("bad.iso")], {"bad": failed}, set(), {})
    assert kept.extract == () and kept.remove == ()
    again = plan([drop("bad.iso", mtime=2)], {"bad": failed}, set(), {})
    assert [d.name for d in again.extract] == ["bad.iso"]


def test_served_state_without_tree_is_rebuilt() -> None:
    """A crash between writing the record and renaming the tree into place converges."""
    p = plan([drop("a.iso")], {"a": served("a.iso")}, set(), {})
    assert p.remove == ("a",) and [d.name for d in p.extract] == ["a.iso"]


def test_running_extraction_of_same_version_is_left_alone() -> None:
    item = drop("a.iso")
    p = plan([item], {}, set(), {"a": item})
    assert p.extract == () and p.cancel == ()


def test_running_extraction_is_cancelled_when_iso_goes_or_changes() -> None:
    assert plan([], {}, set(), {"a": drop("a.iso")}).cancel == ("a",)
    p = plan([drop("a.iso", size=5)], {}, set(), {"a": drop("a.iso")})
    assert p.cancel == ("a",) and [d.size for d in p.extract] == [5]


def test_names_that_clash_after_slugging_are_reported() -> None:
    p = plan([drop("x/a.iso"), drop("x_a.iso")], {}, set(), {})
    assert slug_for("x/a.iso") != slug_for("x_a.iso")
    assert len(p.extract) == 2 and p.notes == ()


def test_slugs_are_safe_and_distinct() -> None:
    assert slug_for("debian-live-12.iso") == "debian-live-12"
    names = ["A.iso", "A.ISO", "a b.iso", "a_b.iso", "../../etc.iso", "x/y.iso", "ü.iso", "..iso"]
    slugs = [slug_for(n) for n in names]
    assert len(set(slugs)) == len(slugs)
    for slug in slugs:
        assert slug and "/" not in slug and not slug.startswith(".")
        assert all(c.isalnum() or c in "._-" for c in slug)


def test_a_replaced_iso_is_removed_and_extracted_again_although_its_name_size_and_mtime_match() -> None:
    """`redo`: dropfolder.replaced found another image behind the same name, size and mtime."""
    p = plan([drop("a.iso")], {"a": served("a.iso")}, {"a"}, {}, redo=frozenset({"a"}))
    assert p.remove == ("a",) and [d.name for d in p.extract] == ["a.iso"]
    assert plan([drop("a.iso")], {"a": served("a.iso")}, {"a"}, {}, redo=frozenset({"b"})).extract == ()
