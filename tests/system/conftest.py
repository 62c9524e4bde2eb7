"""Fixtures the VM test modules share (tests/harness/e2e/vmtests.py holds their helpers)."""

from __future__ import annotations

import pytest

from tests.harness.e2e.liveiso import LiveIso, build_iso
from tests.harness.e2e.vmtests import missing


@pytest.fixture(scope="module")
def live_isos() -> tuple[LiveIso, LiveIso]:
    """Two cached Debian-live ISOs with different markers (built once, ~1 min, then cached)."""
    if missing():
        pytest.skip(f"e2e boot tests skipped: {missing()}")
    return build_iso("e2e-one"), build_iso("e2e-two")
