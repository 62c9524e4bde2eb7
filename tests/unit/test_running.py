"""RunningState: each long-running part's last message, for the status document."""

from __future__ import annotations

from isodrop.running import RunningState


def test_a_part_says_clears_and_the_parts_are_a_copy() -> None:
    running = RunningState()
    assert running.said("watcher") is None and running.parts() == {}
    running.say("watcher", "inotify limit reached")
    running.say("watcher", "watching again")
    assert running.said("watcher") == "watching again"
    parts = running.parts()
    parts["watcher"] = "changed by a reader"
    assert running.parts() == {"watcher": "watching again"}
    running.clear("watcher")
    running.clear("never said")
    assert running.said("watcher") is None and running.parts() == {}
