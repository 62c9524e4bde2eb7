"""The exit statuses the man page documents (docs/isodrop.1): distinct, and named there."""

from __future__ import annotations

from pathlib import Path

from isodrop import exits

MAN_PAGE = Path(__file__).resolve().parents[2] / "docs" / "isodrop.1"


def test_exit_statuses_are_distinct_and_each_is_in_the_man_page() -> None:
    statuses = {name: value for name, value in vars(exits).items() if name.startswith("EXIT_")}
    assert statuses["EXIT_OK"] == 0 and statuses["EXIT_USAGE"] == 2 and statuses["EXIT_NOT_RUNNING"] == 3
    assert len(set(statuses.values())) == len(statuses)
    man = MAN_PAGE.read_text()
    section = man[man.index(".SH EXIT STATUS") : man.index(".SH EXAMPLES")]
    assert sorted(int(line.removeprefix(".B ")) for line in section.splitlines() if line.startswith(".B ")) == sorted(
        statuses.values()
    )
