"""The pure parts of isodrop.dropfolder (retry policy, slug conflicts) and its listing on real files.
The service-level behaviour is in tests/service/test_faults.py and tests/service/test_hostile_drop.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from isodrop.dropfolder import (
    DropAvailability,
    NotServable,
    collisions,
    fingerprint,
    identity_of,
    list_drop,
    open_regular,
    resolve_inside,
)
from isodrop.state import legacy_slug_for, slug_for


def test_collisions_keep_each_slug_with_its_holder_whatever_the_order() -> None:
    """Under a rule where slugs collide (the old 24-bit one), the name holding a slug keeps it."""
    victim = "my~iso.iso"
    newcomer = f"{legacy_slug_for(victim)}.iso"  # a safe name equal to the victim's slug; sorts first
    assert legacy_slug_for(newcomer) == legacy_slug_for(victim) and newcomer < victim
    assert collisions([newcomer, victim, "c.iso"], legacy_slug_for, {}) == {victim: newcomer}, "nobody holds it"
    held = {legacy_slug_for(victim): victim}
    assert collisions([newcomer, victim, "c.iso"], legacy_slug_for, held) == {newcomer: victim}
    assert collisions([newcomer], legacy_slug_for, held) == {newcomer: victim}, "the holder's ISO went: next pass"
    assert collisions([newcomer, victim], slug_for, {slug_for(victim): victim}) == {}, "the rule now: never met"
    assert collisions([newcomer, victim], slug_for, held) == {newcomer: victim}, "an old record holds its slug"


def test_listing_depth_links_and_types(tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    deep = drop.joinpath(*"abcdefghi")
    deep.mkdir(parents=True)
    (deep.parent / "ok.iso").write_bytes(b"x")  # 8 folders down
    (deep / "lost.iso").write_bytes(b"x")  # 9 folders down
    (tmp_path / "out.iso").write_bytes(b"secret")
    os.symlink(tmp_path / "out.iso", drop / "out.iso")
    os.symlink("a/b/c/d/e/f/g/h/ok.iso", drop / "in.iso")
    os.mkfifo(drop / "pipe.iso")
    listing = list_drop(drop)
    assert sorted(listing.isos) == ["a/b/c/d/e/f/g/h/ok.iso", "in.iso"]
    assert listing.paths["in.iso"] == (deep.parent / "ok.iso").resolve()
    assert "more than 8 levels" in listing.ignored["a/b/c/d/e/f/g/h/i/"]
    assert "outside the drop folder" in listing.ignored["out.iso"]
    assert "a FIFO" in listing.ignored["pipe.iso"]
    assert len(listing.folders) == 9  # the drop folder and a..h
    with pytest.raises(NotServable):
        resolve_inside(drop, "out.iso")


def test_open_regular_never_blocks_and_never_follows(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(OSError, match="FIFO"):
        open_regular(tmp_path / "pipe")
    (tmp_path / "file").write_bytes(b"data")
    os.symlink("file", tmp_path / "link")
    with pytest.raises(OSError, match="symbolic link"):
        open_regular(tmp_path / "link")
    os.close(open_regular(tmp_path / "file"))


def test_fingerprint_tells_same_size_images_apart(tmp_path: Path) -> None:
    from tests.harness.servicekit import build_debian_live

    one = build_debian_live(tmp_path / "one.iso", "one")
    two = build_debian_live(tmp_path / "two.iso", "two")
    assert one.stat().st_size == two.stat().st_size
    assert fingerprint(one, one.stat().st_size) != fingerprint(two, two.stat().st_size)
    copy = tmp_path / "copy.iso"
    copy.write_bytes(one.read_bytes())
    assert fingerprint(copy, copy.stat().st_size) == fingerprint(one, one.stat().st_size)


def test_availability_is_none_while_usable_and_the_reason_when_not(tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    availability = DropAvailability(drop)
    assert availability.check() is None and availability.update(None) and availability.problem is None
    drop.rmdir()
    drop.write_text("not a folder")
    assert (availability.check() or "").endswith(", not a folder")
    drop.unlink()
    assert availability.check() == "the drop folder is missing"
    assert not availability.update(availability.check()) and availability.problem == "the drop folder is missing"
    assert DropAvailability(tmp_path, must_be_mountpoint=True).check() == (
        "the drop folder is not mounted (drop_dir_must_be_mountpoint = true)"
    ) or os.path.ismount(tmp_path)


def test_an_identity_is_the_inode_ctime_and_fingerprint_and_an_unreadable_file_raises(tmp_path: Path) -> None:
    iso = tmp_path / "a.iso"
    iso.write_bytes(b"x" * 5000)
    st = os.stat(iso)
    identity = identity_of(iso, st)
    assert (identity.ino, identity.ctime_ns) == (st.st_ino, st.st_ctime_ns) and identity.fingerprint
    iso.unlink()
    with pytest.raises(OSError):
        identity_of(iso, st)
