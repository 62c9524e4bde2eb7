"""Per-ISO overrides: a TOML sidecar `NAME.iso.toml` next to `NAME.iso`.

It lets a person rename an entry, add or remove kernel parameters, order or hide it, without
editing templates; applying it is a pure function of (entry, sidecar), so a changed sidecar only
re-renders the menu and never re-extracts. Keys:

    label = "Rescue stick"          # menu text
    add_params = ["nomodeset"]      # appended (replacing a parameter with the same key)
    remove_params = ["quiet", "vga="]   # "quiet" removes `quiet` (and `splash`); "vga=" removes any `vga=...`
    position = -10                  # menu order, lower first, default 0, ties by label
    hidden = true                   # served and exported, but not in the menu
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from isodrop.limits import command_line_problem
from isodrop.model import BootEntry

SIDECAR_SUFFIX = ".toml"  # NAME.iso -> NAME.iso.toml

# Removing one of these also removes its companions: `quiet` without `splash` shows a half-drawn
# splash screen over the boot messages the person asked to see.
COMPANIONS = {"quiet": ("splash",)}


class SidecarError(Exception):
    """A sidecar that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Sidecar:
    label: str = ""  # "" keeps the recognised label
    add_params: tuple[str, ...] = ()
    remove_params: tuple[str, ...] = ()
    position: int = 0
    hidden: bool = False


def sidecar_path(iso: Path) -> Path:
    """Where the sidecar of `iso` lives: `NAME.iso.toml` beside it."""
    iso = Path(iso)
    return iso.with_name(iso.name + SIDECAR_SUFFIX)


MAX_PARAMS = 64  # per list
MAX_PARAM_LENGTH = 1024
MAX_LABEL_LENGTH = 200


def _unshowable(text: str) -> bool:
    """Control, format, surrogate, private-use or unassigned characters: never valid in a menu or a
    kernel command line (a NUL or newline there breaks the menu for every ISO)."""
    return any(unicodedata.category(ch).startswith("C") for ch in text)


def _string_list(value: Any, key: str, where: Path) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise SidecarError(f"{where}: {key} must be a list of strings, got {value!r}"[:300])
    if len(value) > MAX_PARAMS:
        raise SidecarError(f"{where}: {key}: more than {MAX_PARAMS} parameters")
    for item in value:
        if not item.strip() or any(ch.isspace() for ch in item) or _unshowable(item):
            raise SidecarError(
                f"{where}: {key}: {item[:80]!r} must be one kernel parameter without blanks or control characters"
            )
        if len(item) > MAX_PARAM_LENGTH:
            raise SidecarError(f"{where}: {key}: a parameter longer than {MAX_PARAM_LENGTH} characters")
    return tuple(value)


def _read_bounded(path: Path) -> str:
    """The text of the regular file `path`: not a final symlink, never blocking on a FIFO or device,
    at most dropfolder.SIDECAR_MAX_BYTES. FileNotFoundError when there is none."""
    from isodrop.dropfolder import SIDECAR_MAX_BYTES, open_regular

    fd = open_regular(path)
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(SIDECAR_MAX_BYTES + 1)
    if len(data) > SIDECAR_MAX_BYTES:
        raise SidecarError(f"{path}: larger than {SIDECAR_MAX_BYTES // 1024} KiB, not read")
    if b"\0" in data:
        raise SidecarError(f"{path}: contains a NUL byte: not a text file")
    return data.decode("utf-8")


def load_drop_sidecar(drop_dir: Path, iso_name: str) -> Sidecar | None:
    """The sidecar of the drop folder's `iso_name`, None when it has none. A sidecar that is a symlink
    is followed only to a regular file inside the drop folder (isodrop.dropfolder's policy)."""
    from isodrop.dropfolder import NotServable, resolve_inside

    where = Path(drop_dir) / f"{iso_name}{SIDECAR_SUFFIX}"
    try:
        real, _st = resolve_inside(Path(drop_dir), f"{iso_name}{SIDECAR_SUFFIX}")
    except FileNotFoundError:
        return None
    except NotServable as why:
        raise SidecarError(f"{where}: not read: {why}") from why
    except OSError as error:
        raise SidecarError(f"{where}: cannot read: {error.strerror}") from error
    return load_sidecar(real, shown_as=where)


def load_sidecar(path: Path, shown_as: Path | None = None) -> Sidecar:
    """Read a sidecar; a missing file is an empty Sidecar. Raises SidecarError naming the key and file."""
    path = Path(path)
    try:
        text = _read_bounded(path)
    except FileNotFoundError:
        return Sidecar()
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else type(error).__name__
        raise SidecarError(f"{shown_as or path}: cannot read: {reason}") from error
    return parse_sidecar(text, shown_as or path)


def parse_sidecar(text: str, path: Path) -> Sidecar:
    """A sidecar from its text; `path` names it in errors."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SidecarError(f"{path}: not valid TOML: {error}") from error
    fields = {field.name for field in dataclasses.fields(Sidecar)}
    unknown = sorted(set(data) - fields)
    if unknown:
        raise SidecarError(f"{path}: unknown key {unknown[0][:80]!r} (known: {', '.join(sorted(fields))})")
    values: dict[str, Any] = {}
    if "label" in data:
        label = data["label"]
        if not isinstance(label, str) or not label.strip() or _unshowable(label) or len(label) > MAX_LABEL_LENGTH:
            raise SidecarError(
                f"{path}: label must be a non-empty one-line string of at most {MAX_LABEL_LENGTH} characters"
                f" without control characters, got {str(label)[:80]!r}"
            )
        values["label"] = label.strip()
    for key in ("add_params", "remove_params"):
        if key in data:
            values[key] = _string_list(data[key], key, path)
    if "position" in data:
        position = data["position"]
        if isinstance(position, bool) or not isinstance(position, int):
            raise SidecarError(f"{path}: position must be an integer, got {str(position)[:80]!r}")
        values["position"] = position
    if "hidden" in data:
        if not isinstance(data["hidden"], bool):
            raise SidecarError(f"{path}: hidden must be true or false, got {str(data['hidden'])[:80]!r}")
        values["hidden"] = data["hidden"]
    return Sidecar(**values)


def _removed(param: str, removals: tuple[str, ...]) -> bool:
    key = param.split("=", 1)[0]
    for removal in removals:
        if removal.endswith("="):
            if key == removal[:-1]:
                return True
        elif param == removal or param in COMPANIONS.get(removal, ()):
            return True
    return False


def apply(entry: BootEntry, sidecar: Sidecar) -> BootEntry:
    """`entry` with the sidecar's label and parameter changes (position/hidden are for the menu renderer)."""
    params = [param for param in entry.params if not _removed(param, sidecar.remove_params)]
    for added in sidecar.add_params:
        key = added.split("=", 1)[0]
        if "=" in added:
            params = [param for param in params if param.split("=", 1)[0] != key]
        elif added in params:
            continue
        params.append(added)
    changed = dataclasses.replace(entry, label=sidecar.label or entry.label, params=tuple(params))
    if sidecar.add_params and (problem := command_line_problem(changed.cmdline)):
        raise SidecarError(f"add_params: with them the {problem}")
    return changed
