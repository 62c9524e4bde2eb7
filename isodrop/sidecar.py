"""Per-ISO overrides: a TOML sidecar `NAME.iso.toml` next to `NAME.iso`.

It lets a person rename an entry, add or remove kernel parameters, order or hide it, without
editing templates; applying it is a pure function of (entry, sidecar), so a changed sidecar only
re-renders the menu and never re-extracts. Keys:

    label = "Rescue stick"          # menu text
    add_params = ["nomodeset"]      # appended (replacing a parameter with the same key)
    remove_params = ["quiet", "vga="]   # "quiet" removes `quiet` (and `splash`); "vga=" removes any `vga=...`
    position = -10                  # menu order, lower first, default 0, ties by label
    hidden = true                   # served and exported, but not in the menu

Whoever writes the drop folder writes sidecars, also beside other people's ISOs, so what a sidecar may
change is the administrator's policy (`SidecarPolicy`, from `sidecar_params` and `sidecar_keys`): by
default no parameter that locates the root, chooses the init, loads code or settings from elsewhere,
layers a client's disk over the root or opens the booted system to others (`GUARDED_PARAMS`).
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from isodrop.config import Config
from isodrop.dropfolder import SIDECAR_MAX_BYTES, NotServable, open_regular, resolve_inside
from isodrop.errors import ConfigError, IsodropError
from isodrop.model import BootEntry

SIDECAR_SUFFIX = ".toml"  # NAME.iso -> NAME.iso.toml

# Removing one of these also removes its companions: `quiet` without `splash` shows a half-drawn
# splash screen over the boot messages the person asked to see.
COMPANIONS = {"quiet": ("splash",)}


class SidecarError(IsodropError):
    """A sidecar that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Sidecar:
    label: str = ""  # "" keeps the recognised label
    add_params: tuple[str, ...] = ()
    remove_params: tuple[str, ...] = ()
    position: int = 0
    hidden: bool = False


SIDECAR_KEYS = ("label", "add_params", "remove_params", "position", "hidden")

# Kernel parameters a sidecar may neither add nor remove under the default policy ("safe"), by what
# they do; read from the initramfs code of the families isodrop serves (isodrop/families/*.py) and from
# the kernel and boot loaders. A key ending in "*" covers every key it starts. Keys compare as
# param_key() makes them: the kernel treats "-" and "_" in a name alike, and unquotes `"key=value"`.
_GUARDED = {
    "it locates the root": (
        # kernel, klibc ipconfig (ip= can name the server a root without one is taken from)
        "root nfsroot nfsboot ip netroot "
        # live-boot and casper: which initramfs script mounts the root, and where it looks
        "boot netboot fetch httpfs ftpfs iscsi live-media bootfrom live-media-path findiso fromiso isofrom "
        "module iso-url iso-scan/filename layerfs-path plainroot "
        # dracut dmsquash-live, anaconda
        "rd.live.image rd.live.dir rd.live.squashimg inst.stage2 stage2 inst.repo repo "
        # archiso, miso, Alpine
        "archisobasedir archisolabel archisodevice archisosearchuuid archisosearchfilename archiso_nfs_srv "
        "archiso_http_srv archiso_nbd_srv img_dev img_loop misobasedir misolabel misodevice miso_nfs_srv "
        "miso_http_srv miso_nbd_srv alpine_repo modloop"
    ),
    "it chooses the init": "init rdinit initrd BOOT_IMAGE",
    "it loads code or settings from elsewhere": (
        "url preseed/url ks inst.ks inst.updates updates inst.dd dd ds cloud-config-url hooks "
        "live-config.hooks live-config.debconf-preseed debconf-preseed apkovl script ar_source sysrescuecfg "
        "systemd.run systemd.mount-extra"
    ),
    "it layers a client's disk over the root": "persistence* persistent rd.live.overlay cow_device cow_label "
    "cow_directory",
    "it opens the booted system to others": "rootpass rootcryptpass ssh_key",
}


def param_key(param: str) -> str:
    """The name of a kernel parameter as any reader of the command line may see it: without quotes (the
    kernel unquotes `"init=x"`), "-" as "_" (the kernel treats them alike), in lower case (more than any
    reader folds, so a variant refused is never one some reader takes for a guarded key)."""
    return param.replace('"', "").split("=", 1)[0].lower().replace("-", "_")


def _matches(key: str, pattern: str) -> bool:
    """`key` (from param_key) is `pattern`, or starts with it when the pattern ends in "*"."""
    return key.startswith(pattern[:-1]) if pattern.endswith("*") else key == pattern


GUARDED_PARAMS: dict[str, str] = {
    param_key(key): reason for reason, keys in _GUARDED.items() for key in keys.split()
}  # normalised key (or prefix*) -> why a sidecar may not touch it
PARAM_POLICIES = ("safe", "any", "none")  # sidecar_params as a word; a list is an allow list


@dataclass(frozen=True)
class SidecarPolicy:
    """What sidecars may change: `params` "safe" (all but GUARDED_PARAMS), "any", "none", or the parameter
    keys allowed (an allow list); `keys` the sidecar keys honoured at all."""

    params: str | tuple[str, ...] = "safe"
    keys: tuple[str, ...] = SIDECAR_KEYS

    @classmethod
    def of(cls, config: Config) -> SidecarPolicy:
        """The policy config's sidecar_params and sidecar_keys set (the config has checked their types);
        ConfigError naming the key for a policy word or a sidecar key this module does not know."""
        if isinstance(config.sidecar_params, str) and config.sidecar_params not in PARAM_POLICIES:
            words = ", ".join(f'"{word}"' for word in PARAM_POLICIES)
            problem = f"expected {words} or a list of parameter keys, got {config.sidecar_params!r}"
            raise ConfigError.for_key(config.source, "sidecar_params", problem)
        for key in config.sidecar_keys:
            if key not in SIDECAR_KEYS:
                problem = f"{key!r} is not a sidecar key (known: {', '.join(SIDECAR_KEYS)})"
                raise ConfigError.for_key(config.source, "sidecar_keys", problem)
        return cls(config.sidecar_params, config.sidecar_keys)

    def refusal(self, param: str) -> str | None:
        """Why a sidecar may not add or remove `param` under this policy; None when it may."""
        key = param_key(param)
        if self.params == "any":
            return None
        if self.params == "none":
            return 'sidecar_params = "none" in isodrop.toml'
        if self.params == "safe":
            reason = next((why for pattern, why in GUARDED_PARAMS.items() if _matches(key, pattern)), None)
            return f"{reason}; see sidecar_params in isodrop.toml" if reason else None
        if any(_matches(key, param_key(allowed)) for allowed in self.params):
            return None
        return "not in sidecar_params in isodrop.toml"


def permitted(sidecar: Sidecar, policy: SidecarPolicy, where: Path) -> Sidecar:
    """`sidecar` when `policy` allows all it changes; else SidecarError naming the key and the reason."""
    changes = {
        "label": bool(sidecar.label),
        "add_params": bool(sidecar.add_params),
        "remove_params": bool(sidecar.remove_params),
        "position": sidecar.position != 0,
        "hidden": sidecar.hidden,
    }
    for key, changed in changes.items():
        if changed and key not in policy.keys:
            allowed = ", ".join(policy.keys) or "nothing"
            raise SidecarError(f"{where}: {key} is not allowed (sidecar_keys in isodrop.toml allows: {allowed})")
    for key, verb, params in (
        ("add_params", "set", sidecar.add_params),
        ("remove_params", "remove", sidecar.remove_params),
    ):
        for param in params:
            why = policy.refusal(param)
            if why is not None:
                name = param.split("=", 1)[0] + ("=" if "=" in param else "")
                raise SidecarError(f"{where}: {key} may not {verb} {name[:80]} ({why})")
    return sidecar


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
    fd = open_regular(path)
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(SIDECAR_MAX_BYTES + 1)
    if len(data) > SIDECAR_MAX_BYTES:
        raise SidecarError(f"{path}: larger than {SIDECAR_MAX_BYTES // 1024} KiB, not read")
    if b"\0" in data:
        raise SidecarError(f"{path}: contains a NUL byte: not a text file")
    return data.decode("utf-8")


def load_drop_sidecar(drop_dir: Path, iso_name: str, policy: SidecarPolicy) -> Sidecar | None:
    """The sidecar of the drop folder's `iso_name`, None when it has none. A sidecar that is a symlink
    is followed only to a regular file inside the drop folder (isodrop.dropfolder's policy); one that
    changes what `policy` does not allow is a SidecarError."""
    where = Path(drop_dir) / f"{iso_name}{SIDECAR_SUFFIX}"
    try:
        real, _st = resolve_inside(Path(drop_dir), f"{iso_name}{SIDECAR_SUFFIX}")
    except FileNotFoundError:
        return None
    except NotServable as why:
        raise SidecarError(f"{where}: not read: {why}") from why
    except OSError as error:
        raise SidecarError(f"{where}: cannot read: {error.strerror}") from error
    return permitted(load_sidecar(real, shown_as=where), policy, where)


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
    if sidecar.add_params and (problem := changed.too_long()):
        raise SidecarError(f"add_params: with them the {problem}")
    return changed


@dataclass(frozen=True)
class Change:
    """What a sidecar changes in an entry, for `isodrop status` and `inspect`."""

    added: tuple[str, ...] = ()  # parameters in the effective command line, not in the recognised one
    removed: tuple[str, ...] = ()  # and the other way round (a replaced value is both)
    label: str = ""  # the menu label it sets, "" = the recognised one
    position: int = 0
    hidden: bool = False

    def describe(self) -> str:
        parts = [f"added {' '.join(self.added)}"] if self.added else []
        parts += [f"removed {' '.join(self.removed)}"] if self.removed else []
        parts += [f"label {self.label!r}"] if self.label else []
        parts += [f"position {self.position}"] if self.position else []
        parts += ["hidden from the menu"] if self.hidden else []
        return "; ".join(parts) or "changes nothing"


def change(entry: BootEntry, sidecar: Sidecar) -> Change:
    """What applying `sidecar` to `entry` changes."""
    effective = apply(entry, sidecar)
    return Change(
        added=tuple(param for param in effective.params if param not in entry.params),
        removed=tuple(param for param in entry.params if param not in effective.params),
        label=effective.label if effective.label != entry.label else "",
        position=sidecar.position,
        hidden=sidecar.hidden,
    )
