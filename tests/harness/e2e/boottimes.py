"""Boot times are part of what the VM tests measure: each module prints its own at its end, also without -s.

A VM test module imports `boot_times` (an autouse fixture: importing it is enough) and calls `report()`
for each boot, or `note()` for a line such as where the logs are.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

_lines: list[str] = []


@pytest.fixture(scope="module", autouse=True)
def boot_times(pytestconfig: pytest.Config) -> Iterator[None]:
    """Print the module's boot times (and notes) when it is done, past pytest's output capture."""
    yield
    if _lines:
        capture = pytestconfig.pluginmanager.getplugin("capturemanager")
        with capture.global_and_fixture_disabled():
            print("\n" + "\n".join(_lines))
        _lines.clear()


def note(line: str) -> None:
    _lines.append(line)


def report(what: str, seconds: float) -> None:
    line = f"[e2e] {what}: VM start to marker {seconds:.1f} s"
    note(line)
    print(line)
