"""What the long-running parts say about themselves, for the status report (like uvicorn's `ServerState`).

The service (watcher, dnsmasq network file, status page, a failed pass), the reconciler (the drop
folder) and the publisher (boot files, exports, dnsmasq) each keep their part's last message here;
the status document shows them under "system".
"""

from __future__ import annotations


class RunningState:
    def __init__(self) -> None:
        self._said: dict[str, str] = {}  # part -> its last message

    def say(self, part: str, message: str) -> None:
        self._said[part] = message

    def clear(self, part: str) -> None:
        self._said.pop(part, None)

    def said(self, part: str) -> str | None:
        """The part's last message; None when it has said nothing (or was cleared)."""
        return self._said.get(part)

    def parts(self) -> dict[str, str]:
        """Every part's last message (a copy), for the status document."""
        return dict(self._said)
