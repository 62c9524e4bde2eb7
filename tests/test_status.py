"""The status document and its text, from plain values (no service running)."""

from pathlib import Path

from isodrop.config import local_defaults
from isodrop.model import Outcome
from isodrop.state import EntryState
from isodrop.status import MAX_IGNORED_SHOWN, document, format_status, has_problems, status_line


def record(name: str, outcome: Outcome) -> EntryState:
    return EntryState(slug=name.removesuffix(".iso"), source=name, size=1, mtime_ns=1, outcome=outcome)


def test_ignored_names_and_retries_are_in_the_document_and_count_as_problems(tmp_path: Path) -> None:
    config = local_defaults(tmp_path)
    states = {"good": record("good.iso", Outcome.SERVED)}
    clean = document(config, states=states, summary="", running=True)
    assert not has_problems(clean) and clean["ignored"] == [] and clean["ignored_total"] == 0
    states["bad"] = record("bad.iso", Outcome.FAILED)
    ignored = {f"x{i:04}.iso": "a FIFO, not a regular file" for i in range(MAX_IGNORED_SHOWN + 3)}
    doc = document(
        config,
        states=states,
        summary="",
        running=True,
        retries={"bad": {"attempts": 2, "retry_in": 55.0}},
        ignored=ignored,
    )
    bad = next(e for e in doc["entries"] if e["iso"] == "bad.iso")
    assert (bad["attempts"], bad["retry_in"]) == (2, 55.0)
    assert "attempts" not in next(e for e in doc["entries"] if e["iso"] == "good.iso")
    assert len(doc["ignored"]) == MAX_IGNORED_SHOWN and doc["ignored_total"] == MAX_IGNORED_SHOWN + 3
    only_ignored = document(config, states={}, summary="", running=True, ignored={"l.iso": "link out"})
    assert has_problems(only_ignored)
    text = format_status(doc | {"pid": 1})
    assert "  ignored       x0000.iso\n      a FIFO, not a regular file" in text
    assert "... and 3 more ignored names" in text


def test_status_line_says_when_names_are_ignored_or_the_drop_folder_is_unavailable() -> None:
    states = {"a": record("a.iso", Outcome.SERVED)}
    assert status_line(states, [], 0) == "serving 1 ISO"
    line = status_line(states, [], 0, ignored=2, unavailable=True)
    assert "2 ignored in the drop folder" in line and "drop folder unavailable, keeping what is served" in line
