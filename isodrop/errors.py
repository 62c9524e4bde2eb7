"""The base of every failure that stops an isodrop command, caught once at the command line's edge."""

from __future__ import annotations


class IsodropError(Exception):
    """A failure with one sentence for a person: `reason`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
