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
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def _string_list(value: Any, key: str, where: Path) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise SidecarError(f"{where}: {key} must be a list of strings, got {value!r}")
    for item in value:
        if not item.strip() or any(ch.isspace() for ch in item):
            raise SidecarError(f"{where}: {key}: {item!r} must be one kernel parameter without blanks")
    return tuple(value)


def load_sidecar(path: Path) -> Sidecar:
    """Read a sidecar; a missing file is an empty Sidecar. Raises SidecarError naming the key and file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Sidecar()
    except (OSError, UnicodeDecodeError) as error:
        raise SidecarError(f"{path}: cannot read: {error}") from error
    except tomllib.TOMLDecodeError as error:
        raise SidecarError(f"{path}: not valid TOML: {error}") from error
    fields = {field.name for field in dataclasses.fields(Sidecar)}
    unknown = sorted(set(data) - fields)
    if unknown:
        raise SidecarError(f"{path}: unknown key {unknown[0]!r} (known: {', '.join(sorted(fields))})")
    values: dict[str, Any] = {}
    if "label" in data:
        label = data["label"]
        if not isinstance(label, str) or not label.strip() or any(ch in label for ch in "\n\r\0"):
            raise SidecarError(f"{path}: label must be a non-empty one-line string, got {label!r}")
        values["label"] = label.strip()
    for key in ("add_params", "remove_params"):
        if key in data:
            values[key] = _string_list(data[key], key, path)
    if "position" in data:
        position = data["position"]
        if isinstance(position, bool) or not isinstance(position, int):
            raise SidecarError(f"{path}: position must be an integer, got {position!r}")
        values["position"] = position
    if "hidden" in data:
        if not isinstance(data["hidden"], bool):
            raise SidecarError(f"{path}: hidden must be true or false, got {data['hidden']!r}")
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
    return dataclasses.replace(entry, label=sidecar.label or entry.label, params=tuple(params))
