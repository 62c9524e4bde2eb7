"""Suite-wide test settings: tests marked `nochroot` are skipped, with their reason printed, inside the CI's
fresh-machine chroot (tests/fresh-chroot.sh sets ISODROP_FRESH_CHROOT=1); they still run on the host."""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not os.environ.get("ISODROP_FRESH_CHROOT"):
        return
    for item in items:
        marker = item.get_closest_marker("nochroot")
        if marker is not None:
            why = marker.args[0] if marker.args else marker.kwargs.get("reason", "cannot run in a chroot")
            item.add_marker(pytest.mark.skip(reason=f"not in the fresh-machine chroot: {why}; it runs on the host"))
