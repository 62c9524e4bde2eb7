"""Build real ISO images inside the tests, with pycdlib (Rock Ridge + Joliet + ISO9660).

`build_iso(path, {"live/vmlinuz": b"...", "live/link": Symlink("vmlinuz")}, volume_id="...")`
writes an ISO whose Rock Ridge names, modes and symlinks are exactly the given ones. ISO9660
names are short generated ones (D0001, F0002.;1), so Rock Ridge is what carries the real
names, as on real live ISOs; Joliet carries them too (truncated to Joliet's 64 characters).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pycdlib


@dataclass(frozen=True)
class Symlink:
    target: str


@dataclass(frozen=True)
class File:
    data: bytes
    mode: int = 0o100444


@dataclass(frozen=True)
class HardLink:
    """Another name for the data of the file `target` (a key of the same `files` dict)."""

    target: str


Entry = bytes | str | File | Symlink | HardLink


def build_iso(
    path: Path,
    files: dict[str, Entry],
    volume_id: str = "TESTISO",
    rock_ridge: bool = True,
    joliet: bool = True,
    boot_file: str | None = None,
) -> Path:
    """Write an ISO with the given files (str values are UTF-8 text). Returns `path`.

    `boot_file` (a key of `files`) makes the image El Torito bootable the way isolinux ISOs are: a
    boot catalog `boot.cat` and a boot info table patched into that file.
    """
    iso = pycdlib.PyCdlib()
    iso.new(
        interchange_level=3,
        vol_ident=volume_id[:16],  # Joliet's limit; the primary descriptor gets all 32 below
        rock_ridge="1.09" if rock_ridge else None,
        joliet=3 if joliet else None,
    )
    iso.pvd.volume_identifier = volume_id.encode("ascii").ljust(32)
    counter = 0
    iso_dirs: dict[PurePosixPath, str] = {PurePosixPath("."): ""}
    joliet_dirs: dict[PurePosixPath, str] = {PurePosixPath("."): ""}
    keep_open = []
    iso_files: dict[str, str] = {}
    joliet_files: dict[str, str] = {}

    def ensure_dir(rel: PurePosixPath) -> None:
        nonlocal counter
        if rel in iso_dirs:
            return
        ensure_dir(rel.parent)
        counter += 1
        iso_path = f"{iso_dirs[rel.parent]}/D{counter:05d}"
        joliet_path = f"{joliet_dirs[rel.parent]}/{rel.name[:64]}"
        kwargs = {}
        if rock_ridge:
            kwargs["rr_name"] = rel.name
        if joliet:
            kwargs["joliet_path"] = joliet_path
        iso.add_directory(iso_path, **kwargs)
        iso_dirs[rel] = iso_path
        joliet_dirs[rel] = joliet_path

    for name in sorted(files, key=lambda n: isinstance(files[n], HardLink)):  # link targets first
        rel = PurePosixPath(name)
        ensure_dir(rel.parent)
        counter += 1
        value = files[name]
        iso_path = f"{iso_dirs[rel.parent]}/F{counter:05d}.;1"
        joliet_path = f"{joliet_dirs[rel.parent]}/{rel.name[:64]}"
        if isinstance(value, HardLink):
            kwargs = {"rr_name": rel.name} if rock_ridge else {}
            iso.add_hard_link(iso_old_path=iso_files[value.target], iso_new_path=iso_path, **kwargs)
            if joliet:
                iso.add_hard_link(joliet_old_path=joliet_files[value.target], joliet_new_path=joliet_path)
            continue
        if isinstance(value, Symlink):
            if not rock_ridge:
                continue
            iso.add_symlink(symlink_path=iso_path, rr_symlink_name=rel.name, rr_path=value.target)
            continue
        if isinstance(value, str):
            value = File(value.encode())
        elif isinstance(value, bytes):
            value = File(value)
        stream = io.BytesIO(value.data)
        keep_open.append(stream)
        kwargs = {}
        if rock_ridge:
            kwargs["rr_name"] = rel.name
            kwargs["file_mode"] = value.mode
        if joliet:
            kwargs["joliet_path"] = joliet_path
        iso.add_fp(stream, len(value.data), iso_path, **kwargs)
        iso_files[name], joliet_files[name] = iso_path, joliet_path
    if boot_file is not None:
        kwargs = {"rr_bootcatname": "boot.cat"} if rock_ridge else {}
        iso.add_eltorito(iso_files[boot_file], bootcatfile="/BOOT.CAT;1", boot_info_table=True, **kwargs)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    iso.write(str(path))
    iso.close()
    return path
