"""Suite-wide test settings: hypothesis's profile (below), and tests marked `nochroot` are skipped, with
their reason printed, inside the CI's fresh-machine chroot (tests/fresh-chroot.sh sets
ISODROP_FRESH_CHROOT=1); they still run on the host."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

# Property tests (hypothesis) run the same examples every time, keep no example database on disk and
# have no per-example deadline (a loaded 2-core CI machine is slow, not wrong).
settings.register_profile("isodrop", derandomize=True, database=None, deadline=None)
settings.load_profile("isodrop")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not os.environ.get("ISODROP_FRESH_CHROOT"):
        return
    for item in items:
        marker = item.get_closest_marker("nochroot")
        if marker is not None:
            why = marker.args[0] if marker.args else marker.kwargs.get("reason", "cannot run in a chroot")
            item.add_marker(pytest.mark.skip(reason=f"not in the fresh-machine chroot: {why}; it runs on the host"))
