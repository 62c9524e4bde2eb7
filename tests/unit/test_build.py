"""isodrop.build: one ISO's job from drop file to state record: where its tree is served from, what its
recognition makes of the outcome, and junk judged from one small read before any worker or parser."""

from __future__ import annotations

from pathlib import Path

from isodrop.build import Job, entry_state, junk_state, outcome_of
from isodrop.model import BootEntry, NotBootable, Outcome, ServerContext
from isodrop.plan import DropFile

ENTRY = BootEntry("debian-live", "Live", "live/vmlinuz", ("live/initrd.img",), ("boot=live",))


def test_outcomes_say_served_unsupported_or_unrecognised_with_the_reason() -> None:
    assert outcome_of(ENTRY) == (Outcome.SERVED, "")
    assert outcome_of(NotBootable("Tails needs its own USB stick")) == (
        Outcome.UNSUPPORTED,
        "Tails needs its own USB stick",
    )
    assert outcome_of(NotBootable("no known live system", guessed=True)) == (
        Outcome.UNRECOGNISED,
        "no known live system",
    )


def test_a_state_keeps_the_entry_and_its_context_only_when_served() -> None:
    drop = DropFile(name="a.iso", size=3, mtime_ns=7, stable=True)
    ctx = ServerContext("10.0.0.1", "/srv/tftp/isodrop/a", "isodrop/a")
    served = entry_state(drop, Outcome.SERVED, recognition=ENTRY, ctx=ctx, secure_boot={"boots": True})
    assert (served.entry, served.context, served.label, served.family) == (ENTRY, ctx, "Live", "debian-live")
    unsupported = entry_state(drop, Outcome.UNSUPPORTED, recognition=NotBootable("no", family="tails"), ctx=ctx)
    assert (unsupported.entry, unsupported.context, unsupported.family) == (None, None, "tails")


def test_junk_is_failed_from_its_size_and_a_real_iso_is_left_to_its_extraction(tmp_path: Path) -> None:
    small = tmp_path / "small.iso"
    small.write_bytes(b"x" * 1000)
    state = junk_state(Job(DropFile(name="small.iso", size=1000, mtime_ns=1, stable=True)), small)
    assert state is not None and state.outcome is Outcome.FAILED
    assert state.error == f"{small} is not an ISO 9660 image: 1000 bytes, smaller than any (34816)"
    maybe = tmp_path / "maybe.iso"
    maybe.write_bytes(bytes(32769) + b"CD001" + bytes(2042))
    assert junk_state(Job(DropFile(name="maybe.iso", size=34816, mtime_ns=1, stable=True)), maybe) is None
    assert junk_state(Job(DropFile(name="gone.iso", size=0, mtime_ns=1, stable=True)), tmp_path / "gone.iso") is None
