"""The drop folder as untrusted input: what is listed, what is opened, and whether it is there at all.

Anybody who can write to the drop folder (a Samba guest share, a USB disk) controls every name,
link, file type and folder depth in it. The policies, documented in the README and isodrop(1):

- Symbolic links: an ISO or sidecar that is a symlink is followed only when its target resolves
  to a regular file inside the drop folder; links to anything outside, dangling links and loops are
  listed as ignored with the reason, never opened. Symlinked folders are never followed.
- Files: only regular files are opened, with O_NOFOLLOW and O_NONBLOCK and checked with fstat, so a
  FIFO, socket or device named `x.iso` (or `x.iso.toml`) never blocks or is read.
- Depth: ISOs are found up to MAX_DEPTH folders below the drop folder; deeper folders are listed
  as ignored, never walked, so no nesting can exhaust the stack, PATH_MAX or inotify.
- Availability: a drop folder that is missing, unreadable, or unmounted (it sat on its own file
  system before and now sits on its parent's, or `drop_dir_must_be_mountpoint = true` and it is not
  a mount point) means "keep serving what is served"; nothing is removed until it is back.
- Identity: an ISO is the same when its name, size and mtime match its record and either its inode
  and ctime match too or, when they do not (a remount, a chmod), a cheap fingerprint of the volume
  descriptor, root folder and last 4 KiB is unchanged: a same-size replacement with a restored mtime
  is noticed without hashing whole images.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import logging
import os
import stat
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from isodrop.errors import IsodropError
from isodrop.isofile import BLOCK, file_kind

log = logging.getLogger("isodrop")

MAX_DEPTH = 8  # ISOs are found in the drop folder and up to this many folders below it
MAX_WATCHED_FOLDERS = 32  # one inotify instance each (a user has 128); beyond: found by the rescan
SIDECAR_MAX_BYTES = 64 * 1024


def is_iso_name(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return base.lower().endswith(".iso") and not base.startswith(".")


def open_regular(path: str | os.PathLike[str], *, follow: bool = False) -> int:
    """A read-only fd of the regular file `path`; never blocks on a FIFO or device, never follows a
    final symlink unless `follow`. Raises OSError with a one-line reason."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY | (0 if follow else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except OSError as err:
        if err.errno == errno.ELOOP and not follow:
            raise OSError(errno.ELOOP, "is a symbolic link (not followed)") from err
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, f"is {file_kind(st.st_mode)}, not a regular file")
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    except BaseException:
        os.close(fd)
        raise
    return fd


class NotServable(IsodropError):
    """A drop-folder entry that is not used; the message is the reason shown in status."""


def _inside(root: str, target: str) -> bool:
    return target == root or target.startswith(root.rstrip("/") + "/")


def resolve_inside(drop_dir: Path, rel: str, root: str = "") -> tuple[Path, os.stat_result]:
    """The real path and stat of the regular file `rel` in the drop folder, following a symlink only
    when it stays inside the drop folder. Raises NotServable with the reason, FileNotFoundError when
    there is nothing at all. `root`: the drop folder's real path, when the caller has just resolved it."""
    path = os.path.join(drop_dir, rel)
    st = os.lstat(path)  # FileNotFoundError: nothing there (most sidecars), before any other work
    root = root or os.path.realpath(drop_dir)
    if stat.S_ISLNK(st.st_mode):
        try:
            target = os.path.realpath(path, strict=True)
        except OSError as err:
            if err.errno == errno.ELOOP:
                raise NotServable("symbolic link loop (not followed)") from err
            if err.errno == errno.ENOENT:
                raise NotServable("dangling symbolic link (its target does not exist)") from err
            raise NotServable(f"symbolic link that cannot be followed: {err.strerror}") from err
        if not _inside(root, target):
            raise NotServable("symbolic link to a file outside the drop folder (not followed)")
        st = os.stat(target)
        if not stat.S_ISREG(st.st_mode):
            raise NotServable(f"symbolic link to {file_kind(st.st_mode)}, not to a regular file")
        return Path(target), st
    if not stat.S_ISREG(st.st_mode):
        raise NotServable(f"{file_kind(st.st_mode)}, not a regular file")
    if "/" not in rel:  # no folder on the way but the drop folder, just resolved: no second walk
        return Path(root, rel), st
    real = os.path.realpath(path)
    if not _inside(root, real):  # a folder on the way was swapped for a link since it was listed
        raise NotServable("reached through a symbolic link to outside the drop folder (not followed)")
    return Path(real), st


# --- listing ----------------------------------------------------------------------------------------


@dataclass
class Listing:
    """One look at the drop folder."""

    isos: dict[str, os.stat_result] = field(default_factory=dict)  # relative name -> stat of the file
    paths: dict[str, Path] = field(default_factory=dict)  # relative name -> real path to open
    ignored: dict[str, str] = field(default_factory=dict)  # relative name -> why it is not used
    folders: dict[str, tuple[int, int]] = field(default_factory=dict)  # "" and subfolders -> (st_dev, st_ino)
    files: set[str] = field(default_factory=set)  # every other name seen: a sidecar is only read where one is


def list_drop(drop_dir: Path, max_depth: int = MAX_DEPTH) -> Listing:
    """ISOs under the drop folder, breadth first and without recursion (hidden names skipped: copy
    tools' temporary files). Raises OSError only when the drop folder itself cannot be listed."""
    listing = Listing()
    root_st = os.stat(drop_dir)
    real_root = os.path.realpath(drop_dir)
    listing.folders[""] = (root_st.st_dev, root_st.st_ino)
    queue: list[tuple[str, int]] = [("", 0)]
    while queue:
        rel_dir, depth = queue.pop(0)
        try:
            with os.scandir(os.path.join(drop_dir, rel_dir) if rel_dir else drop_dir) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as err:
            if not rel_dir:
                raise
            listing.ignored[rel_dir + "/"] = f"folder cannot be listed: {err.strerror}"
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
                is_link = entry.is_symlink()
            except OSError:
                continue  # vanished
            if is_dir:
                if depth >= max_depth:
                    listing.ignored[rel + "/"] = f"folder more than {max_depth} levels deep: not searched for ISOs"
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                listing.folders[rel] = (st.st_dev, st.st_ino)
                queue.append((rel, depth + 1))
                continue
            if not is_iso_name(entry.name):
                listing.files.add(rel)
                if is_link and os.path.isdir(os.path.join(drop_dir, rel)):
                    listing.ignored[rel + "/"] = "symbolic link to a folder: not followed"
                continue
            try:
                real, st = resolve_inside(drop_dir, rel, real_root)
            except FileNotFoundError:
                continue
            except NotServable as why:
                listing.ignored[rel] = str(why)
                continue
            except OSError as err:
                listing.ignored[rel] = f"cannot be read: {err.strerror}"
                continue
            listing.isos[rel] = st
            listing.paths[rel] = real
    return listing


# --- availability -----------------------------------------------------------------------------------


class DropAvailability:
    """Is the drop folder there? A vanished USB disk or share must not read as "every ISO was deleted"."""

    def __init__(self, drop_dir: Path, must_be_mountpoint: bool = False) -> None:
        self.drop_dir = drop_dir
        self.must_be_mountpoint = must_be_mountpoint
        self.was_mounted = False  # seen on its own file system since start
        self.problem: str | None = None  # why it is not usable, None while it is

    def check(self) -> str | None:
        """Why the drop folder is not usable (and then nothing may be removed); None when it is."""
        try:
            st = os.stat(self.drop_dir)
            parent = os.stat(self.drop_dir.parent)
        except FileNotFoundError:
            return "the drop folder is missing"
        except OSError as err:
            return f"the drop folder cannot be read: {err.strerror}"
        if not stat.S_ISDIR(st.st_mode):
            return f"the drop folder is {file_kind(st.st_mode)}, not a folder"
        mounted = st.st_dev != parent.st_dev or st.st_ino == parent.st_ino
        if self.must_be_mountpoint and not mounted:
            return "the drop folder is not mounted (drop_dir_must_be_mountpoint = true)"
        if self.was_mounted and not mounted:
            return "the drop folder's file system is unmounted (it now sits on its parent's file system)"
        try:
            with os.scandir(self.drop_dir) as it:
                next(it, None)
        except OSError as err:
            return f"the drop folder cannot be listed: {err.strerror}"
        self.was_mounted |= mounted
        return None

    def update(self, problem: str | None) -> bool:
        """Remember and log a change of availability; True when the folder is usable."""
        if problem != self.problem:
            if problem:
                log.warning("%s: keeping everything served as it is until it is back", problem)
            else:
                log.info("the drop folder %s is back; comparing it with what is served", self.drop_dir)
            self.problem = problem
        return not problem


# --- identity ---------------------------------------------------------------------------------------


def fingerprint(path: Path, size: int) -> str:
    """A cheap fingerprint of an image: its primary volume descriptor (which holds the volume creation
    date), the first block of its root folder and its last 4 KiB. Reads at most 8 KiB."""
    fd = open_regular(path)
    try:
        digest = hashlib.sha256(str(size).encode())
        pvd = os.pread(fd, BLOCK, 16 * BLOCK)
        digest.update(pvd)
        if len(pvd) >= 162 and pvd[1:6] == b"CD001":
            root_lba = int.from_bytes(pvd[158:162], "little")
            if 0 < root_lba * BLOCK < size:
                digest.update(os.pread(fd, BLOCK, root_lba * BLOCK))
        digest.update(os.pread(fd, 4096, max(0, size - 4096)))
        return digest.hexdigest()[:32]
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Identity:
    ino: int
    ctime_ns: int
    fingerprint: str


def identity_of(path: Path, st: os.stat_result) -> Identity:
    """The identity of the file `st` describes; raises OSError when it cannot be read right now."""
    return Identity(st.st_ino, st.st_ctime_ns, fingerprint(path, st.st_size))


def replaced(
    states: dict,
    listing: Listing,
    save: Callable[[object], None],
    being_written: Callable[[Path], bool] = lambda path: False,
) -> frozenset[str]:
    """Slugs whose record matches the ISO by name, size and mtime but whose file was replaced.

    `states`: EntryState records by slug (with ino, ctime_ns, fingerprint). A record without an
    identity (made before identities were kept) or whose file only moved to another inode (a
    remount) with the same fingerprint gets the current identity saved, and counts as unchanged.
    A replacement that some process still has open for writing (`cp -p` restores the mtime before
    it closes) is judged on a later pass: its close wakes the service.
    """
    changed = set()
    for slug, state in states.items():
        st = listing.isos.get(state.source)
        if st is None or (st.st_size, st.st_mtime_ns) != (state.size, state.mtime_ns):
            continue  # absent or visibly changed: the plan handles it
        if state.ino and (state.ino, state.ctime_ns) == (st.st_ino, st.st_ctime_ns):
            continue
        try:
            now = identity_of(listing.paths[state.source], st)
        except OSError:
            continue  # cannot be read right now: judge it on the next pass
        if state.fingerprint and now.fingerprint != state.fingerprint:
            if being_written(listing.paths[state.source]):
                continue
            log.info("%s: replaced by a different image with the same size and time; serving it anew", state.source)
            changed.add(slug)
            continue
        state.ino, state.ctime_ns, state.fingerprint = now.ino, now.ctime_ns, now.fingerprint
        save(state)
    return frozenset(changed)


# --- slug collisions --------------------------------------------------------------------------------


def collisions(names: Iterable[str], slug_for: Callable[[str], str], held: Mapping[str, str]) -> dict[str, str]:
    """loser -> the name that keeps the folder name (slug) the loser maps to. Pure: names and holders only.

    `held`: slug -> the name holding it now (its state record, its extraction under way). A holder
    keeps its slug whatever the sort order, so a newcomer can never take over a served ISO's tree,
    export or menu id; it may have it only once the holder is gone (a later pass). Among names
    nobody holds a slug for, the first in sorted order gets it.
    """
    winners: dict[str, str] = {}
    losers: dict[str, str] = {}
    for name in sorted(names):
        slug = slug_for(name)
        holder = held.get(slug, name)
        if holder != name:
            losers[name] = holder
        elif slug in winners:
            losers[name] = winners[slug]
        else:
            winners[slug] = name
    return losers
