"""The one owner of the trees folder: where trees, their state records and temporaries live.

    trees_dir/SLUG/            an extracted tree, served over TFTP and NFS
    trees_dir/.state/SLUG.json the state record of SLUG (which ISO it came from, what came of it)
    trees_dir/.tmp/...         trees being built or torn down; never served, removed at start

Slugs never start with '.', so no ISO name can reach `.state` or `.tmp`, and a record can never be
taken for a tree or the other way round. The trees folder lies in the TFTP root, which anyone on the
network may read: `.state/` and `.tmp/` are 0700 and records 0600 (drop-folder names, inodes and
fingerprints stay on the server; dnsmasq, running as its own user, cannot read them); start-up fixes
the modes an older version left. Records of the old layout (`SLUG.state.json` beside the tree) are
moved into `.state/` on start, so an upgrade does not re-extract anything; trees named
by the slug rule before it had a separator move to their new slug (`rename`, `rebuild.adopt_old_slugs`).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import stat
import time
from pathlib import Path

from isodrop.effects import write_atomically
from isodrop.removal import remove_tree
from isodrop.state import EntryState

log = logging.getLogger(__name__)

STATE_DIR = ".state"
TMP_DIR = ".tmp"
OLD_STATE_SUFFIX = ".state.json"  # the layout before .state/: SLUG.state.json beside the tree
OLD_TMP_PREFIX = ".tmp-"  # the layout before .tmp/: .tmp-PURPOSE-SLUG-N beside the trees
PRIVATE_DIR_MODE = 0o700  # .state/ and .tmp/: only isodrop's user, never the TFTP or web server
RECORD_MODE = 0o600


class Trees:
    """Paths and lifecycle of trees: build in `temporary`, `install` with the record, `retire` to remove."""

    def __init__(self, trees_dir: Path) -> None:
        self.root = Path(trees_dir)
        self._read_cache: dict[str, tuple[tuple[int, int, int], EntryState | None]] = {}

    # --- paths ---------------------------------------------------------------------------------
    @functools.cached_property
    def prefix(self) -> str:
        """The trees folder as the start of a slug's tree, e.g. "/srv/tftp/isodrop/"."""
        return str(self.root).rstrip("/") + "/"

    def prefix_under(self, root: Path) -> str:
        """The same relative to `root` (the TFTP root), e.g. "isodrop/" ("" when the trees are `root`)."""
        relative = self.root.relative_to(root).as_posix()
        return "" if relative == "." else relative + "/"

    def tree(self, slug: str) -> Path:
        return self.root / _checked(slug)

    def state(self, slug: str) -> Path:
        return self.root / STATE_DIR / f"{_checked(slug)}.json"

    @property
    def temporaries(self) -> Path:
        """The folder trees are built and retired in (on the trees' file system, private to isodrop)."""
        return self.root / TMP_DIR

    def temporary(self, slug: str, purpose: str) -> Path:
        """A fresh, not yet existing path under `.tmp/` (same file system, so a rename moves it)."""
        return self.temporaries / f"{purpose}-{_checked(slug)}-{time.monotonic_ns()}"

    # --- records -------------------------------------------------------------------------------
    def records(self) -> dict[str, EntryState]:
        """Every readable state record by slug; an unreadable one is reported and treated as absent.

        Every pass asks for all of them, and records are only ever replaced by rename (a new inode): a
        record whose (inode, mtime, size) is unchanged since the last pass is not read again."""
        states: dict[str, EntryState] = {}
        folder = self.root / STATE_DIR
        try:
            entries = sorted((e for e in os.scandir(folder) if e.name.endswith(".json")), key=lambda e: e.name)
        except OSError:
            return states
        seen: dict[str, tuple[tuple[int, int, int], EntryState | None]] = {}
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            identity = (info.st_ino, info.st_mtime_ns, info.st_size)
            known = self._read_cache.get(entry.name)
            state = known[1] if known and known[0] == identity else _read_record(Path(entry.path))
            seen[entry.name] = (identity, state)
            if state is not None and _is_slug(state.slug) and entry.name == f"{state.slug}.json":
                states[state.slug] = state.copy()  # callers change their copy, not the cached one
        self._read_cache = seen
        return states

    def save(self, state: EntryState, durable: bool = True) -> None:
        state.updated = time.time()
        write_atomically(self.state(state.slug), state.to_json(), RECORD_MODE, durable=durable)

    def forget(self, slug: str) -> None:
        self.state(slug).unlink(missing_ok=True)

    def has_tree(self, slug: str) -> bool:
        path = self.tree(slug)
        return path.is_dir() and not path.is_symlink()

    def present(self, slugs: set[str] | dict[str, EntryState]) -> set[str]:
        """Which of `slugs` have their tree in place."""
        return {slug for slug in slugs if self.has_tree(slug)}

    # --- lifecycle -----------------------------------------------------------------------------
    def install(self, slug: str, temp: Path | None, state: EntryState) -> None:
        """Record `state`, then move the tree built in `temp` into place (None: the ISO has no tree).

        The record is written first, so a tree on disk always has one; an older tree of the same slug
        is retired and deleted."""
        self.save(state)
        if temp is None:
            return
        final = self.tree(slug)
        if final.exists() or final.is_symlink():
            stale = self.temporary(slug, "remove")
            move_folder(final, stale)
            remove_tree(stale)
        move_folder(temp, final)

    def retire(self, slug: str) -> Path | None:
        """Take SLUG out of service: its record goes, its tree moves to `.tmp/` and is returned for
        deletion (a big tree takes a while: the caller deletes it off the main loop). None: no tree."""
        tree = self.tree(slug)
        doomed = None
        if tree.exists() or tree.is_symlink():
            doomed = self.temporary(slug, "remove")
            doomed.parent.mkdir(parents=True, exist_ok=True)
            move_folder(tree, doomed)
        self.forget(slug)
        return doomed

    def rename(self, old_slug: str, state: EntryState) -> None:
        """Move OLD_SLUG's record and tree to `state.slug` (the slug rule changed). The new record is
        written first, then the tree moves, then the old record goes: a stop at any point leaves every
        tree with a record, and the next start finishes the move or the plan retires what is left."""
        self.save(state)
        if self.has_tree(old_slug):
            move_folder(self.tree(old_slug), self.tree(state.slug))
        self.forget(old_slug)

    def prepare(self) -> None:
        """At start: create the folders, make `.state/`, `.tmp/` and the records private (an older
        version left them readable by anyone), move old-layout records into `.state/`, delete temporaries
        left by an interrupted run. Never fails on one folder it cannot delete: that is logged."""
        for sub in (self.root, self.root / STATE_DIR, self.root / TMP_DIR):
            sub.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)
        for private in (STATE_DIR, TMP_DIR):
            os.chmod(self.root / private, PRIVATE_DIR_MODE)
        self._make_records_private()
        self._migrate_old_records()
        for leftover in self.leftovers():
            log.info("removing %s left over from an interrupted run", leftover.name)
            try:
                remove_tree(leftover)
            except OSError as exc:
                log.warning("cannot remove %s, leaving it (it is never served): %s", leftover, exc)

    def leftovers(self) -> list[Path]:
        """Temporary folders of an interrupted extraction or removal: never served, safe to delete."""
        found = []
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            found += sorted((self.root / TMP_DIR).iterdir())
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            found += sorted(p for p in self.root.iterdir() if p.name.startswith(OLD_TMP_PREFIX))
        return found

    def _make_records_private(self) -> None:
        with contextlib.suppress(OSError), os.scandir(self.root / STATE_DIR) as entries:
            for entry in entries:
                with contextlib.suppress(OSError):
                    if entry.is_file(follow_symlinks=False) and stat.S_IMODE(entry.stat().st_mode) != RECORD_MODE:
                        os.chmod(entry.path, RECORD_MODE)

    def _migrate_old_records(self) -> None:
        for path in sorted(self.root.glob(f"*{OLD_STATE_SUFFIX}")):
            if path.is_symlink() or not path.is_file():
                continue  # a tree folder that happens to carry the name (an ISO called X.state.json.iso)
            state = _read_record(path)
            if state is None or not _is_slug(state.slug) or path.name != f"{state.slug}{OLD_STATE_SUFFIX}":
                continue
            if not self.state(state.slug).exists():
                write_atomically(self.state(state.slug), state.to_json(), RECORD_MODE)
                log.info("moved the state record of %s into %s/", state.slug, STATE_DIR)
            path.unlink()


def _is_slug(slug: str) -> bool:
    return bool(slug) and not slug.startswith(".") and "/" not in slug and "\0" not in slug


def _checked(slug: str) -> str:
    if not _is_slug(slug):
        raise ValueError(f"not a tree name: {slug!r}")
    return slug


def _read_record(path: Path) -> EntryState | None:
    try:
        return EntryState.from_json(path.read_text())
    except (OSError, ValueError, TypeError, KeyError) as exc:
        log.warning("ignoring unreadable state file %s: %s", path, exc)
        return None


def move_folder(source: Path, dest: Path) -> None:
    """rename(2) a tree between `.tmp/` and its place. Moving a folder to another parent needs write
    permission on the folder itself (its `..` changes), and the service runs without CAP_DAC_OVERRIDE
    (the unit): a read-only tree root is made owner-writable for the move, then read-only again."""
    info = os.lstat(source)
    mode = stat.S_IMODE(info.st_mode)
    if not stat.S_ISDIR(info.st_mode) or mode & stat.S_IWUSR:
        os.rename(source, dest)
        return
    os.chmod(source, mode | stat.S_IWUSR)
    try:
        os.rename(source, dest)
    except BaseException:
        os.chmod(source, mode)
        raise
    os.chmod(dest, mode)
