"""Finding: one level and one sentence, for checks and side effects."""

from __future__ import annotations

from isodrop.findings import FAIL, OK, WARN, Finding


def test_only_an_ok_finding_is_ok_and_it_unpacks_as_level_and_message() -> None:
    assert Finding(OK, "fine").ok
    assert not Finding(WARN, "off").ok and not Finding(FAIL, "broken").ok
    level, message = Finding(FAIL, "exports re-read command missing")
    assert (level, message) == ("FAIL", "exports re-read command missing")
