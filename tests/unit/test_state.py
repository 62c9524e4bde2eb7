"""Slugs (isodrop.state.slug_for): one folder, export, URL and menu-id name per ISO name, never shared.

Every name in the drop folder is chosen by whoever can write to it, including names copied from other
ISOs' slugs: no name may be given a slug another name has."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from isodrop.model import Outcome
from isodrop.state import HASH_SEPARATOR, RESERVED_NAMES, STEM_MAX, EntryState, is_reserved, legacy_slug_for, slug_for
from isodrop.vendorchain import VendorChain

SLUG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")


def test_safe_names_keep_their_stem_and_others_get_80_bits_of_sha256() -> None:
    assert slug_for("debian-live-12.iso") == "debian-live-12"
    assert slug_for("X.iso.iso") == "X.iso"
    hashed = slug_for("my iso.iso")
    stem, digest = hashed.rsplit(HASH_SEPARATOR, 1)
    assert stem == "my_iso" and re.fullmatch(r"[a-z2-7]{16}", digest), hashed


def test_a_safe_name_copied_from_a_hashed_slug_is_hashed_itself() -> None:
    """The attack: the victim "my iso.iso" is served as S; a file called S.iso (in the old rule a safe
    name, kept as it is) must not get S, nor may the old-rule slug of the victim plus ".iso"."""
    victim = slug_for("my iso.iso")
    for attacker in (f"{victim}.iso", f"{legacy_slug_for('my iso.iso')}.iso", f"{victim.upper()}.iso"):
        assert slug_for(attacker) != victim, attacker
    assert slug_for(f"{victim}.iso").count(HASH_SEPARATOR) == 1, "the copied separator is folded, one is added"
    assert legacy_slug_for(f"{legacy_slug_for('my iso.iso')}.iso") == legacy_slug_for("my iso.iso"), "the old hole"


def test_x_iso_and_x_iso_iso_and_upper_case_suffixes_are_distinct() -> None:
    names = ["X.iso", "X.iso.iso", "X.ISO", "X.ISO.iso", "X.iso.ISO", "x.iso"]
    slugs = [slug_for(name) for name in names]
    assert len(set(slugs)) == len(names), dict(zip(names, slugs, strict=True))
    assert slug_for("X.iso") == "X" and slug_for("X.ISO") != "X"


def test_loader_names_are_never_slugs_in_any_case() -> None:
    for stem in (
        "local",
        "LOCAL",
        "Local",
        "back",
        "start",
        "FAILED",
        "group-1",
        "Group-2",
        "entry-x",
        "iso-3",
        "ISO-a",
    ):
        slug = slug_for(f"{stem}.iso")
        assert slug != stem and HASH_SEPARATOR in slug, slug
        assert not is_reserved(slug), slug
    assert not is_reserved(slug_for("!!!.iso")), "the stand-in stem of a name with nothing safe in it"
    assert slug_for("localhost.iso") == "localhost" and slug_for("isolinux.iso") == "isolinux", "only loader names"


def test_long_names_are_cut_to_a_path_and_menu_friendly_length() -> None:
    slug = slug_for("a" * 300 + ".iso")
    assert len(slug) == STEM_MAX + len(HASH_SEPARATOR) + 16
    assert slug_for("a" * STEM_MAX + ".iso") == "a" * STEM_MAX


# --- property: distinct names never share a slug -------------------------------------------------------

_PIECES = st.sampled_from(
    ["a", "B", "-", "--", "_", ".", " ", "/", "~", "é", "\udc80", ".iso", ".ISO", "local", "LOCAL", "group-", "iso"]
)
_NAMES = st.lists(_PIECES, min_size=1, max_size=8).map("".join).map(lambda name: name + ".iso")


def _crafted_from(name: str) -> list[str]:
    """Names an attacker derives from another name's slugs."""
    new, old = slug_for(name), legacy_slug_for(name)
    return [f"{new}.iso", f"{new}.ISO", f"{new.upper()}.iso", f"{new}.iso.iso", f"{old}.iso", f"{new[1:]}.iso"]


@given(st.lists(_NAMES, min_size=1, max_size=12))
def test_distinct_names_never_share_a_slug_even_names_made_from_other_slugs(names: list[str]) -> None:
    everything = set(names)
    for name in names:
        everything.update(_crafted_from(name))
    slugs = {slug_for(name): name for name in everything}
    assert len(slugs) == len(everything), sorted(everything)
    for slug in slugs:
        assert SLUG.fullmatch(slug) and "/" not in slug, slug
        assert not is_reserved(slug) and slug.lower() not in RESERVED_NAMES, slug
        assert len(slug) <= 1 + STEM_MAX + len(HASH_SEPARATOR) + 16, slug


@given(_NAMES)
def test_kept_and_hashed_slugs_never_meet(name: str) -> None:
    """A kept stem has no separator; every hashed slug has one: so only a hash collision could tie them."""
    slug = slug_for(name)
    kept = slug == name[:-4]
    assert kept == (HASH_SEPARATOR not in slug), (name, slug)


def test_a_record_keeps_its_isos_own_chain_through_json() -> None:
    chain = VendorChain("Fedora", "EFI/BOOT/BOOTX64.EFI", "EFI/BOOT/grubx64.efi", "", ("", "EFI/BOOT"), True, "ok")
    state = EntryState("f", "f.iso", 1, 2, Outcome.SERVED, vendor_chain=chain)
    assert EntryState.from_json(state.to_json()).vendor_chain == chain
    assert EntryState.from_json(EntryState("g", "g.iso", 1, 2, Outcome.FAILED).to_json()).vendor_chain is None
