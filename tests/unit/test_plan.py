"""The reconcile plan is pure: these tests feed it listings and state records directly."""

import pytest

from isodrop import plan as plan_module
from isodrop.model import BootEntry, Outcome
from isodrop.plan import DropFile, plan
from isodrop.state import EntryState, legacy_slug_for, slug_for


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


def test_names_that_look_alike_after_cleaning_get_their_own_slugs() -> None:
    p = plan([drop("x/a.iso"), drop("x_a.iso")], {}, set(), {})
    assert slug_for("x/a.iso") != slug_for("x_a.iso")
    assert len(p.extract) == 2 and p.ignored == ()


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


# --- a slug is kept by the name holding it -------------------------------------------------------------

VICTIM = "my~iso.iso"  # sorts after the names made from its slug ("my_iso...": '_' < '~')


def held_by_victim(slug: str) -> EntryState:
    state = served(VICTIM)
    state.slug = slug
    return state


def test_a_record_made_by_the_old_rule_goes_and_its_iso_is_extracted_under_its_new_slug() -> None:
    """Upgrading without adoption: the old record no longer matches its ISO's slug; the ISO is extracted
    again under the new slug, and a newcomer named like the old slug waits for the old record to go."""
    old = legacy_slug_for(VICTIM)
    newcomer = f"{old}.iso"
    assert slug_for(newcomer) == old and sorted([newcomer, VICTIM])[0] == newcomer
    first = plan([drop(newcomer), drop(VICTIM)], {old: held_by_victim(old)}, {old}, {})
    assert [d.name for d in first.extract] == [VICTIM] and first.extract[0].slug == slug_for(VICTIM)
    assert first.remove == (old,)
    reason = dict(first.ignored)[newcomer]
    assert "slug conflict" in reason and repr(VICTIM) in reason and "held" in reason, reason
    assert first.freed == (newcomer,), "the slug is free once this plan is carried out: plan again"
    second = plan([drop(newcomer), drop(VICTIM)], {}, set(), {slug_for(VICTIM): drop(VICTIM)})
    assert [d.name for d in second.extract] == [newcomer] and second.ignored == () and second.freed == ()


@pytest.fixture
def old_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    """The 24-bit rule, under which a safe name can equal another ISO's slug: the holder rule must
    protect a served ISO even when slugs collide."""
    monkeypatch.setattr(plan_module, "slug_for", legacy_slug_for)


@pytest.mark.usefixtures("old_rule")
def test_a_newcomer_sorting_first_never_takes_a_held_slug() -> None:
    slug = legacy_slug_for(VICTIM)
    newcomer = f"{slug}.iso"
    assert drop(newcomer).slug == drop(VICTIM).slug == slug and newcomer < VICTIM
    p = plan([drop(newcomer), drop(VICTIM)], {slug: held_by_victim(slug)}, {slug}, {})
    assert p.extract == () and p.remove == () and p.cancel == () and p.freed == ()
    reason = dict(p.ignored)[newcomer]
    assert reason.startswith("slug conflict") and repr(slug) in reason and repr(VICTIM) in reason, reason


@pytest.mark.usefixtures("old_rule")
def test_an_extraction_under_way_holds_its_slug_and_a_record_out_for_a_retry_too() -> None:
    slug = legacy_slug_for(VICTIM)
    newcomer = drop(f"{slug}.iso")
    running = plan([newcomer, drop(VICTIM)], {}, set(), {slug: drop(VICTIM)})
    assert running.extract == () and running.cancel == () and newcomer.name in dict(running.ignored)
    retry = plan([newcomer, drop(VICTIM)], {}, set(), {}, held={slug: VICTIM})  # its record left out to retry
    assert [d.name for d in retry.extract] == [VICTIM] and newcomer.name in dict(retry.ignored)


@pytest.mark.usefixtures("old_rule")
def test_a_held_slug_passes_on_only_after_its_holder_is_gone() -> None:
    slug = legacy_slug_for(VICTIM)
    newcomer = drop(f"{slug}.iso")
    gone = plan([newcomer], {slug: held_by_victim(slug)}, {slug}, {})
    assert gone.remove == (slug,) and gone.extract == () and gone.freed == (newcomer.name,)
    cancelled = plan([newcomer], {}, set(), {slug: drop(VICTIM)})
    assert cancelled.cancel == (slug,) and cancelled.extract == () and cancelled.freed == (newcomer.name,)
    later = plan([newcomer], {}, set(), {})
    assert later.extract == (newcomer,) and later.ignored == ()


@pytest.mark.usefixtures("old_rule")
def test_among_names_nobody_holds_the_first_in_sorted_order_gets_the_slug() -> None:
    slug = legacy_slug_for(VICTIM)
    p = plan([drop(VICTIM), drop(f"{slug}.iso")], {}, set(), {})
    assert [d.name for d in p.extract] == [f"{slug}.iso"]
    assert "comes first" in dict(p.ignored)[VICTIM] and p.freed == ()
