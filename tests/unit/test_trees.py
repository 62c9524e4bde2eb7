"""The trees folder: namespaces no ISO name can reach, the old layout migrated, read-only trees moved
without CAP_DAC_OVERRIDE (removal itself is tested in test_removal.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from isodrop.model import BootEntry, Outcome, ServerContext
from isodrop.removal import remove_tree
from isodrop.state import EntryState, slug_for
from isodrop.trees import Trees
from tests.harness.extract_cases import (
    deep_tree,
)


def record(name: str) -> EntryState:
    entry = BootEntry(family="debian-live", label=name, kernel="live/vmlinuz", initrds=("live/initrd.img",), params=())
    ctx = ServerContext("10.0.0.1", f"/srv/tftp/isodrop/{slug_for(name)}", f"isodrop/{slug_for(name)}")
    return EntryState(
        slug=slug_for(name), source=name, size=1, mtime_ns=2, outcome=Outcome.SERVED, entry=entry, context=ctx
    )


def test_an_iso_named_like_a_state_record_cannot_touch_another_record(tmp_path: Path) -> None:
    trees = Trees(tmp_path / "trees")
    trees.prepare()
    trees.save(record("NAME.iso"))
    hostile = slug_for("NAME.state.json.iso")
    temp = trees.temporary(hostile, "extract")
    temp.mkdir()
    trees.install(hostile, temp, record("NAME.state.json.iso"))
    assert trees.tree(hostile).is_dir() and set(trees.records()) == {"NAME", hostile}
    assert trees.records()["NAME"].entry == record("NAME.iso").entry
    for name in (".state.iso", ".tmp.iso", "..iso", ".hidden/a.iso"):
        assert not slug_for(name).startswith(".")
    with pytest.raises(ValueError):
        trees.tree(".state")


def test_records_read_once_yet_every_change_and_no_caller_edit_leaks(tmp_path: Path, monkeypatch) -> None:
    """records() keeps what it parsed while a record file is unchanged; a saved change, a removed record
    and an edit a caller makes to its copy all show (or not) as they would with a fresh read."""
    import isodrop.trees as trees_module

    trees = Trees(tmp_path / "trees")
    trees.prepare()
    trees.save(record("a.iso"))
    trees.save(record("b.iso"))
    parsed = []
    real_read = trees_module._read_record
    monkeypatch.setattr(trees_module, "_read_record", lambda path: parsed.append(path.name) or real_read(path))
    first = trees.records()
    assert sorted(parsed) == ["a.json", "b.json"]
    first["a"].warnings.append("a caller's own note")
    first["a"].outcome = Outcome.FAILED
    parsed.clear()
    again = trees.records()
    assert parsed == [], "unchanged records were parsed again"
    assert again["a"].warnings == [] and again["a"].outcome is Outcome.SERVED
    changed = record("b.iso")
    changed.error = "rebuilt"
    trees.save(changed)
    trees.forget("a")
    third = trees.records()
    assert parsed == ["b.json"] and set(third) == {"b"} and third["b"].error == "rebuilt"


def test_old_layout_records_are_moved_and_trees_kept(tmp_path: Path) -> None:
    root = tmp_path / "trees"
    (root / "a" / "live").mkdir(parents=True)
    (root / "a.state.json").write_text(record("a.iso").to_json())
    (root / "x.state.json").mkdir()  # a tree of the old layout that carries a record's name
    (root / ".tmp-extract-b-1" / "deep").mkdir(parents=True)
    trees = Trees(root)
    trees.prepare()
    assert set(trees.records()) == {"a"} and trees.records()["a"].context == record("a.iso").context
    assert not (root / "a.state.json").exists() and (root / "a" / "live").is_dir()
    assert (root / "x.state.json").is_dir() and not (root / ".tmp-extract-b-1").exists()


def test_start_up_cleanup_logs_and_continues_on_what_it_cannot_remove(tmp_path: Path, caplog, monkeypatch) -> None:
    trees = Trees(tmp_path / "trees")
    trees.prepare()
    stuck = trees.temporary("a", "extract")
    (stuck / "inner").mkdir(parents=True)
    deep_tree(trees.temporary("b", "extract"), 1200)
    real_rmdir = os.rmdir

    def refuse(path, *, dir_fd=None):
        if path == stuck.name:
            raise PermissionError(13, "refused by the test", path)
        return real_rmdir(path, dir_fd=dir_fd)

    # Mocked: an undeletable folder (immutable bit, read-only mount) cannot be made on a test's tmpfs as root.
    monkeypatch.setattr(os, "rmdir", refuse)
    trees.prepare()
    assert "cannot remove" in caplog.text
    assert [p.name for p in trees.leftovers()] == [stuck.name] and not (stuck / "inner").exists()


def test_a_very_deep_tree_can_be_listed_for_recognition(tmp_path: Path) -> None:
    """Recognition walks trees too: depth must not raise RecursionError, nor a long path stop it."""
    from isodrop.families import DirTree

    tree = deep_tree(tmp_path / "deep", 1500)
    (tree / "live").mkdir()
    (tree / "live" / "vmlinuz").write_bytes(b"k")
    listing = DirTree(tree).listing()
    assert listing["live/vmlinuz"] == "f" and listing["d" * 100] == "d" and "f0" in listing
    os.chmod(tree, 0o755)
    remove_tree(tree)


def test_read_only_trees_move_in_and_out_without_cap_dac_override(tmp_path: Path) -> None:
    """The unit gives the service no CAP_DAC_OVERRIDE: moving a read-only tree (mode 0555, as extraction
    leaves it) between `.tmp/` and its place must still work. Run with that capability really dropped
    (setpriv), as the Debian server VM test found: rename(2) to another folder needs write permission on
    the moved folder itself."""

    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and util-linux's setpriv to drop CAP_DAC_OVERRIDE")
    code = """
import os, sys
from pathlib import Path
from isodrop.model import Outcome
from isodrop.state import EntryState
from isodrop.removal import remove_tree
from isodrop.trees import Trees
trees = Trees(Path(sys.argv[1]))
trees.prepare()
for round in (1, 2):  # the second install replaces (retires) the first tree
    temp = trees.temporary("a", "extract")
    temp.parent.mkdir(parents=True, exist_ok=True)
    (temp / "live").mkdir(parents=True)
    (temp / "live" / "vmlinuz").write_text(f"kernel {round}")
    os.chmod(temp / "live", 0o555)
    os.chmod(temp, 0o555)
    trees.install("a", temp, EntryState(slug="a", source="a.iso", size=1, mtime_ns=1, outcome=Outcome.SERVED))
print(oct(os.stat(trees.tree("a")).st_mode & 0o777), (trees.tree("a") / "live" / "vmlinuz").read_text())
doomed = trees.retire("a")
print(doomed is not None and doomed.is_dir() and not trees.tree("a").exists())
"""
    root = tmp_path / "trees"
    from tests.harness.servicekit import REPO

    done = subprocess.run(
        ["setpriv", "--bounding-set=-dac_override", sys.executable, "-c", code, str(root)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["0o555 kernel 2", "True"], done.stdout


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o7777


def test_records_and_temporaries_are_private_and_start_up_fixes_an_older_installation(tmp_path: Path) -> None:
    """The trees folder is in the TFTP root: `.state/` and `.tmp/` are 0700, records 0600, trees stay
    world-readable; an installation made by an older version (0755 folders, 0644 records) is fixed."""
    root = tmp_path / "trees"
    (root / ".state").mkdir(parents=True)
    (root / ".tmp").mkdir()
    (root / "a" / "live").mkdir(parents=True)
    os.chmod(root / ".state", 0o755)
    os.chmod(root / ".tmp", 0o755)
    (root / ".state" / "a.json").write_text(record("a.iso").to_json())
    os.chmod(root / ".state" / "a.json", 0o644)
    (root / "b.state.json").write_text(record("b.iso").to_json())  # the old layout, moved on start
    os.chmod(root / "b.state.json", 0o644)
    trees = Trees(root)
    trees.prepare()
    assert (mode(root), mode(root / ".state"), mode(root / ".tmp")) == (0o755, 0o700, 0o700)
    assert mode(root / ".state" / "a.json") == 0o600 and mode(root / ".state" / "b.json") == 0o600
    assert mode(root / "a") == 0o755, "trees are not touched"
    trees.save(record("c.iso"))
    trees.save(record("d.iso"), durable=False)
    assert mode(root / ".state" / "c.json") == 0o600 and mode(root / ".state" / "d.json") == 0o600
    assert set(trees.records()) == {"a", "b", "c", "d"}
