"""isodrop.extract on real ISO images built with pycdlib (tests/isofactory.py); xorriso serves as a reference.

Run on both pycdlib versions:
    /usr/bin/python3 -m pytest tests/test_extract.py            # Debian's pycdlib 1.12
    /tmp/venv-latest/bin/python -m pytest tests/test_extract.py # newest PyPI release
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pycdlib
import pytest

from isodrop.extract import ExtractError, IsoTree, extract_iso
from isodrop.extract import write as extract_write
from isodrop.extract.image import open_image
from isodrop.families.base import DirTree
from isodrop.trees import remove_tree
from tests.isofactory import File, HardLink, Symlink, build_iso

KERNEL = b"\x4d\x5a" + bytes(range(256)) * 40
SQUASHFS = os.urandom(3 * 1024 * 1024 + 123)  # not a multiple of the block size, several copy chunks


def md5(data: bytes | str) -> str:
    return hashlib.md5(data.encode() if isinstance(data, str) else data, usedforsecurity=False).hexdigest()


def read_volume_id(iso: Path) -> str:
    """The volume ID pycdlib reads, through the same open and checks as extraction (ExtractError)."""
    handle, image = open_image(iso)
    try:
        return image.pvd.volume_identifier.decode("utf-8", errors="replace").strip()
    finally:
        image.close()
        handle.close()


def data_of(value: object) -> bytes:
    return value.data if isinstance(value, File) else value.encode() if isinstance(value, str) else value


def md5sum_txt(files: dict[str, object], listed: dict[str, str]) -> str:
    """Debian/Ubuntu `md5sum.txt`: `<md5>  ./<listed path>` for the data of `files[listed[path]]`."""
    return "".join(f"{md5(data_of(files[source]))}  ./{rel}\n" for rel, source in listed.items())


def debian_live_files() -> dict[str, object]:
    files: dict[str, object] = {
        ".disk/info": 'Debian GNU/Linux 12.5.0 "Bookworm" - Official amd64 Live\n',
        ".disk/base_installable": b"",
        "live/vmlinuz-6.1.0-18-amd64": File(KERNEL, 0o100644),
        "live/initrd.img-6.1.0-18-amd64": b"initrd" * 3000,
        "live/filesystem.squashfs": SQUASHFS,
        "isolinux/isolinux.bin": bytes(range(256)) * 32,
        "isolinux/isolinux.cfg": "include menu.cfg\n",
        "boot/grub/grub.cfg": "menuentry live {}\n",
    }
    listed = ("live/vmlinuz-6.1.0-18-amd64", "live/initrd.img-6.1.0-18-amd64", "live/filesystem.squashfs")
    files["md5sum.txt"] = md5sum_txt(files, {rel: rel for rel in listed})
    return files


def ubuntu_files() -> dict[str, object]:
    files: dict[str, object] = {
        ".disk/info": 'Ubuntu 24.04 LTS "Noble Numbat" - Release amd64 (20240424)\n',
        ".disk/casper-uuid-generic": "1e2c3f9b-0000-4000-8000-123456789abc\n",
        "casper/vmlinuz": File(KERNEL, 0o100444),
        "casper/initrd": b"initrd" * 2000,
        "casper/minimal.squashfs": SQUASHFS,
        "casper/minimal.squashfs.gpg": "-----BEGIN PGP SIGNATURE-----\n",
        "boot/grub/grub.cfg": "menuentry 'Try or Install Ubuntu' {}\n",
        "ubuntu": Symlink("."),
        "dists/stable": Symlink("noble"),
        "dists/noble/Release": "Suite: noble\n",
    }
    listed = {rel: rel for rel in ("casper/initrd", "casper/minimal.squashfs", "boot/grub/grub.cfg")}
    files["md5sum.txt"] = md5sum_txt(files, {**listed, "dists/stable/Release": "dists/noble/Release"})
    return files


def listing(root: Path) -> dict[str, tuple[str, str]]:
    """{rel: (kind, content md5 or link target)} of a tree on disk, without following symlinks."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            out[rel] = ("l", os.readlink(path))
        elif path.is_dir():
            out[rel] = ("d", "")
        else:
            out[rel] = ("f", md5(path.read_bytes()))
    return out


def xorriso_extract(iso: Path, dest: Path) -> dict[str, tuple[str, str]]:
    """The reference: what xorriso (libisofs, a separate implementation) extracts from the same image."""
    if shutil.which("xorriso") is None:
        pytest.skip("xorriso is not installed (tests/apt-packages.txt lists it); the reference is missing")
    subprocess.run(
        ["xorriso", "-osirrox", "on", "-indev", str(iso), "-extract", "/", str(dest)],
        check=True,
        capture_output=True,
    )
    return listing(dest)


def snapshot(folder: Path) -> dict[str, tuple[int, int, int]]:
    """Everything under `folder` (name, mode, size, mtime), to prove nothing else was written."""
    return {
        p.relative_to(folder).as_posix(): (p.lstat().st_mode, p.lstat().st_size, p.lstat().st_mtime_ns)
        for p in folder.rglob("*")
    }


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder next to `dest` with a file in it that an escaping write would hit."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "x").write_text("precious")
    return folder


# --- realistic layouts ---------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", [debian_live_files, ubuntu_files])
def test_live_layouts_match_xorriso_and_files_on_the_iso(tmp_path: Path, layout) -> None:
    files = layout()
    iso = build_iso(tmp_path / "live.iso", files, volume_id="d-live 12.5.0 gn amd64", boot_file=None)
    progress: list[tuple[int, int]] = []
    result = extract_iso(iso, tmp_path / "tree", progress=lambda done, total: progress.append((done, total)))

    assert result.volume_id == "d-live 12.5.0 gn amd64" == read_volume_id(iso)
    assert result.warnings == ()
    ours = listing(tmp_path / "tree")
    assert ours == xorriso_extract(iso, tmp_path / "reference")
    for rel, value in files.items():
        if isinstance(value, Symlink):
            assert ours[rel] == ("l", value.target)
        else:
            assert ours[rel] == ("f", md5(data_of(value))), rel
    assert ".disk" in ours and ours[".disk"][0] == "d"
    assert result.files == sum(1 for v in files.values() if not isinstance(v, Symlink))
    assert result.bytes == sum(os.lstat(tmp_path / "tree" / rel).st_size for rel, (k, _) in ours.items() if k == "f")
    # progress: called a few times, never backwards, ending at the total (which includes the md5 check)
    assert 3 <= len(progress) < 1000
    assert all(a[0] <= b[0] for a, b in zip(progress, progress[1:], strict=False))
    assert progress[-1][0] == progress[-1][1] > result.bytes


def test_extract_is_what_the_linux_kernel_mount_shows(tmp_path: Path) -> None:
    """The strongest reference there is: mount the image with the kernel's isofs driver (needs root + loop)."""
    iso = build_iso(tmp_path / "live.iso", debian_live_files(), boot_file="isolinux/isolinux.bin")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    mounted = subprocess.run(["mount", "-o", "loop,ro", str(iso), str(mnt)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot loop-mount here ({mounted.stderr.strip()}); xorriso comparison covers names")
    try:
        expected = listing(mnt)
    finally:
        subprocess.run(["umount", str(mnt)], check=True)
    extract_iso(iso, tmp_path / "tree")
    assert listing(tmp_path / "tree") == expected  # includes boot.cat and the patched boot info table


def test_boot_catalog_and_boot_info_table_are_copied_as_on_disc(tmp_path: Path) -> None:
    files = debian_live_files()
    iso = build_iso(tmp_path / "boot.iso", files, boot_file="isolinux/isolinux.bin")
    extract_iso(iso, tmp_path / "tree")
    ours = listing(tmp_path / "tree")
    assert "boot.cat" in ours
    assert ours == xorriso_extract(iso, tmp_path / "reference")
    # the boot info table (bytes 8-64) was patched in by the ISO writer, so the file differs from its source
    patched = (tmp_path / "tree/isolinux/isolinux.bin").read_bytes()
    assert patched[:8] == files["isolinux/isolinux.bin"][:8] and patched[64:] == files["isolinux/isolinux.bin"][64:]
    assert patched != files["isolinux/isolinux.bin"]


def test_iso_written_by_xorriso_mkisofs_gives_back_the_source_tree(tmp_path: Path) -> None:
    """The producer real live ISOs come from (live-build, debian-cd, Ubuntu all run xorriso -as mkisofs)."""
    if shutil.which("xorriso") is None:
        pytest.skip("xorriso is not installed (tests/apt-packages.txt lists it)")
    src = tmp_path / "src"
    for rel, value in debian_live_files().items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data_of(value))
    (src / "live/vmlinuz-6.1.0-18-amd64").chmod(0o755)
    deep = src / "/".join(f"d{i}" for i in range(10))
    deep.mkdir(parents=True)
    (deep / ("n" * 150)).write_text("long name, deep folder")
    (src / "live/vmlinuz").symlink_to("vmlinuz-6.1.0-18-amd64")
    (src / "debian").symlink_to(".")
    (src / "escape").symlink_to("../../../etc/shadow")
    iso = tmp_path / "xorriso.iso"
    subprocess.run(
        ["xorriso", "-as", "mkisofs", "-R", "-J", "-joliet-long", "-V", "XORRISO LIVE", "-o", str(iso), str(src)],
        check=True,
        capture_output=True,
    )
    result = extract_iso(iso, tmp_path / "tree")
    expected = listing(src)
    del expected["escape"]
    assert listing(tmp_path / "tree") == expected
    assert result.volume_id == "XORRISO LIVE"
    assert result.warnings == ("skipped symlink escape -> ../../../etc/shadow: target is outside the tree",)
    assert stat.S_IMODE(os.stat(tmp_path / "tree/live/vmlinuz-6.1.0-18-amd64").st_mode) == 0o555


# --- names ----------------------------------------------------------------------------------------------


def test_long_names_and_deep_trees_keep_their_rock_ridge_names(tmp_path: Path) -> None:
    long65 = "l" * 65 + ".txt"
    long130 = "averyveryverylongname-" * 6 + ".cfg"
    deep = "/".join(f"level{i}" for i in range(12)) + "/bottom.txt"
    files = {long65: "65", f"dir/{long130}": "130", deep: "deep", "a/.hidden/file": "dot folders too"}
    iso = build_iso(tmp_path / "names.iso", files)
    assert _has_relocated_directories(iso), "pycdlib should have relocated the deep folders to rr_moved"
    extract_iso(iso, tmp_path / "tree")
    ours = listing(tmp_path / "tree")
    assert {rel for rel, (kind, _) in ours.items() if kind == "f"} == set(files)
    assert not [rel for rel in ours if rel.startswith("rr_moved/")], "relocated folders show where they belong"
    assert ours == xorriso_extract(iso, tmp_path / "reference")


def _has_relocated_directories(iso: Path) -> bool:
    image = pycdlib.PyCdlib()
    image.open(str(iso))
    try:
        names = [c.file_identifier() for c in image.get_record(iso_path="/").children]
        return any(name.upper().startswith(b"RR_MOVED") for name in names)
    finally:
        image.close()


def test_joliet_only_iso_uses_joliet_names(tmp_path: Path) -> None:
    long80 = "j" * 80
    files = {"casper/vmlinuz": KERNEL, "Mixed Case/Name With Spaces.TXT": "x", long80: "truncated by Joliet"}
    iso = build_iso(tmp_path / "joliet.iso", files, rock_ridge=False, joliet=True)
    result = extract_iso(iso, tmp_path / "tree")
    ours = listing(tmp_path / "tree")
    assert set(ours) == {"casper", "casper/vmlinuz", "Mixed Case", "Mixed Case/Name With Spaces.TXT", "j" * 64}
    assert ours["casper/vmlinuz"] == ("f", md5(KERNEL))
    assert result.files == 3
    assert stat.S_IMODE(os.stat(tmp_path / "tree/casper/vmlinuz").st_mode) == 0o444


def test_plain_iso9660_names_are_mapped_like_linux(tmp_path: Path) -> None:
    """Without Rock Ridge or Joliet, Linux shows `F00002.;1` as `f00002` (map=normal)."""
    iso = build_iso(tmp_path / "plain.iso", {"live/vmlinuz": KERNEL, "README": "hi"}, rock_ridge=False, joliet=False)
    extract_iso(iso, tmp_path / "tree")
    ours = listing(tmp_path / "tree")
    assert set(ours) == {"d00001", "d00001/f00002", "f00003"}, ours
    assert ours["d00001/f00002"] == ("f", md5(KERNEL))
    with IsoTree(iso) as tree:
        assert set(tree.listing()) == set(ours)


def _patched_name_iso(tmp_path: Path, bad: bytes) -> Path:
    """An image whose Rock Ridge NM entry for the file `zz` (same length as `bad`) says `bad` instead."""
    assert len(bad) == 2
    iso = build_iso(tmp_path / "evil.iso", {"live/zz": "payload", "live/vmlinuz": KERNEL})
    data = bytearray(iso.read_bytes())
    nm = b"NM\x07\x01\x00zz"
    assert data.count(nm) == 1, "the factory's NM entry for zz should appear once"
    start = data.index(nm)
    data[start + 5 : start + 7] = bad
    iso.write_bytes(bytes(data))
    return iso


@pytest.mark.parametrize("bad", [b"..", b"a/", b"\x00a"], ids=["dotdot", "slash", "nul"])
def test_unsafe_rock_ridge_name_fails_the_whole_extraction(tmp_path: Path, outside: Path, bad: bytes) -> None:
    iso = _patched_name_iso(tmp_path, bad)
    before = snapshot(tmp_path)
    with pytest.raises(ExtractError, match="unsafe file name") as caught:
        extract_iso(iso, tmp_path / "tree")
    assert repr(bad.decode())[1:-1] in str(caught.value) or bad.decode() in str(caught.value)
    assert snapshot(tmp_path) == before  # nothing at dest, nothing next to it
    with pytest.raises(ExtractError, match="unsafe file name"):
        IsoTree(iso)


def test_multi_extent_file_is_joined(tmp_path: Path) -> None:
    """Files over 4 GiB are stored as several directory records with one name (ISO 9660 multi-extent).
    Building 4 GiB here is too slow, so the same structure is made small: the record of file `b` is renamed
    to `a`'s ISO 9660 name and `a`'s record gets the multi-extent flag, making `b`'s data a's second extent.
    (A real 4.3 GB multi-extent image was checked by hand on both pycdlib versions.)"""
    first, second = os.urandom(4096), os.urandom(3000)
    iso = build_iso(tmp_path / "multi.iso", {"big": first, "bih": second, "z": "after"}, joliet=False)
    data = bytearray(iso.read_bytes())
    assert data.count(b"F00001.;1") == data.count(b"F00002.;1") == data.count(b"NM\x08\x01\x00bih") == 1
    data[data.index(b"F00002.;1") : data.index(b"F00002.;1") + 9] = b"F00001.;1"
    data[data.index(b"NM\x08\x01\x00bih") + 5 : data.index(b"NM\x08\x01\x00bih") + 8] = b"big"
    data[data.index(b"F00001.;1") - 8] |= 0x80  # file flags byte: "the file continues in the next record"
    iso.write_bytes(bytes(data))
    result = extract_iso(iso, tmp_path / "tree")
    assert (tmp_path / "tree/big").read_bytes() == first + second
    assert listing(tmp_path / "tree") == xorriso_extract(iso, tmp_path / "reference")
    assert set(listing(tmp_path / "tree")) == {"big", "z"} and result.bytes == 4096 + 3000 + 5
    with IsoTree(iso) as tree:
        assert tree.read_bytes("big", limit=5000) == (first + second)[:5000]


# --- symlinks, modes, hard links ------------------------------------------------------------------------


def test_symlinks_inside_are_kept_and_escaping_ones_skipped(tmp_path: Path, outside: Path) -> None:
    files = {
        "live/vmlinuz": KERNEL,
        "live/kernel": Symlink("vmlinuz"),
        "live/up": Symlink("../live/./vmlinuz"),
        "self": Symlink("."),
        "etc": Symlink("/etc"),
        "live/out": Symlink("../../x"),
        "dot": Symlink("."),
        "via-dot": Symlink("dot/.."),  # lexically inside, but through `dot` the kernel ends outside
        "via-etc": Symlink("etc/passwd"),
        "loop1": Symlink("loop2"),
        "loop2": Symlink("loop1"),
    }
    iso = build_iso(tmp_path / "links.iso", files)
    before = snapshot(outside)
    result = extract_iso(iso, tmp_path / "tree")
    tree = tmp_path / "tree"
    assert (tree / "live/kernel").read_bytes() == KERNEL
    assert (tree / "live/up").read_bytes() == KERNEL
    assert os.readlink(tree / "self") == "." and os.readlink(tree / "dot") == "."
    for skipped in ("etc", "live/out", "via-dot", "via-etc", "loop1", "loop2"):
        assert not os.path.lexists(tree / skipped), skipped
        assert any(w.startswith(f"skipped symlink {skipped} -> ") for w in result.warnings), result.warnings
    assert len(result.warnings) == 6
    assert any("absolute target" in w for w in result.warnings)
    assert any("outside the tree" in w for w in result.warnings)
    assert snapshot(outside) == before
    for path in tree.rglob("*"):
        assert os.path.realpath(path).startswith(str(tree)), path


def test_modes_are_readable_by_everyone_without_special_or_write_bits(tmp_path: Path) -> None:
    files = {
        "private": File(b"secret-ish", 0o100600),
        "exec": File(b"#!/bin/sh\n", 0o100700),
        "setuid": File(b"x", 0o104755),
        "writable": File(b"x", 0o100666),
        "dir/file": "in a folder",
    }
    iso = build_iso(tmp_path / "modes.iso", files)
    extract_iso(iso, tmp_path / "tree")
    mode = {rel: stat.S_IMODE(os.lstat(tmp_path / "tree" / rel).st_mode) for rel in [*files, "dir", ""]}
    assert mode["private"] == 0o444
    assert mode["exec"] == 0o544
    assert mode["setuid"] == 0o555
    assert mode["writable"] == 0o444
    assert mode["dir/file"] == 0o444
    assert mode["dir"] == 0o555 and mode[""] == 0o555


def test_hard_links_share_data(tmp_path: Path) -> None:
    files = {"live/vmlinuz": KERNEL, "install/vmlinuz": HardLink("live/vmlinuz"), "other": b"different"}
    iso = build_iso(tmp_path / "hard.iso", files)
    result = extract_iso(iso, tmp_path / "tree")
    a, b = os.stat(tmp_path / "tree/live/vmlinuz"), os.stat(tmp_path / "tree/install/vmlinuz")
    assert (a.st_ino, a.st_nlink) == (b.st_ino, 2)
    assert (tmp_path / "tree/install/vmlinuz").read_bytes() == KERNEL
    assert result.files == 3 and result.bytes == len(KERNEL) + len(b"different")


# --- bad input ------------------------------------------------------------------------------------------


def test_zero_byte_file_is_not_an_iso(tmp_path: Path) -> None:
    iso = tmp_path / "empty.iso"
    iso.write_bytes(b"")
    with pytest.raises(ExtractError, match="empty"):
        extract_iso(iso, tmp_path / "tree")
    with pytest.raises(ExtractError, match="empty"):
        read_volume_id(iso)
    assert not (tmp_path / "tree").exists()


def test_random_bytes_are_not_an_iso(tmp_path: Path) -> None:
    iso = tmp_path / "random.iso"
    iso.write_bytes(os.urandom(200_000))
    with pytest.raises(ExtractError, match="not an ISO 9660 image") as caught:
        extract_iso(iso, tmp_path / "tree")
    assert str(iso) in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(ExtractError, match="not an ISO 9660 image"):
        read_volume_id(iso)
    with pytest.raises(ExtractError, match="not an ISO 9660 image"):
        IsoTree(iso)
    assert not (tmp_path / "tree").exists()


@pytest.mark.parametrize("cut", [1000, 2 * 1024 * 1024], ids=["tail", "inside-squashfs"])
def test_truncated_iso_names_the_cut_file(tmp_path: Path, cut: int) -> None:
    files = {"live/vmlinuz": KERNEL, "live/filesystem.squashfs": SQUASHFS}
    iso = build_iso(tmp_path / "cut.iso", files)
    size = iso.stat().st_size
    os.truncate(iso, size - cut)
    before = snapshot(tmp_path)
    with pytest.raises(ExtractError, match="ISO is truncated") as caught:
        extract_iso(iso, tmp_path / "tree")
    message = str(caught.value)
    assert str(size - cut) in message
    if cut > 2048:  # more than the padding after the last file: name the file that lost data
        assert "live/filesystem.squashfs" in message
    assert snapshot(tmp_path) == before


def test_truncated_inside_directory_records(tmp_path: Path) -> None:
    iso = build_iso(tmp_path / "cut.iso", {"live/vmlinuz": KERNEL})
    os.truncate(iso, 17 * 2048)  # keeps the primary volume descriptor, loses the directories
    with pytest.raises(ExtractError, match="ISO is truncated|cannot read"):
        extract_iso(iso, tmp_path / "tree")
    assert not (tmp_path / "tree").exists()


def test_unreadable_iso_file(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        iso = build_iso(tmp_path / "locked.iso", {"live/vmlinuz": KERNEL})
        iso.chmod(0)
        with pytest.raises(ExtractError, match="cannot read"):
            extract_iso(iso, tmp_path / "tree")
        return
    # root reads anything, so run the same call as `nobody` in a child process
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: cannot drop privileges to test an unreadable file")
    # `nobody` must reach the ISO's folder and the code, but not the checkout (a root user's checkout
    # under /root is mode 0700) nor pytest's tmp_path (under a 0700 folder): a world-readable folder
    # holding a copy of the isodrop package and the ISO, so only the ISO's own mode keeps it out.
    shared = Path(tempfile.mkdtemp(prefix="isodrop-unreadable-"))
    try:
        shared.chmod(0o755)
        shutil.copytree(
            Path(__file__).resolve().parents[1] / "isodrop",
            shared / "isodrop",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        for path in shared.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        iso = build_iso(shared / "locked.iso", {"live/vmlinuz": KERNEL})
        iso.chmod(0)
        code = (
            "import sys; from pathlib import Path; from isodrop.extract import extract_iso, ExtractError\n"
            f"try: extract_iso(Path({str(iso)!r}), Path('/nonexistent-dir/tree'))\n"
            "except ExtractError as err: print(err); sys.exit(3)\n"
        )
        env = {**os.environ, "PYTHONPATH": str(shared), "PYTHONDONTWRITEBYTECODE": "1"}
        run = subprocess.run(
            ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env=env,
            cwd="/",
        )
    finally:
        shutil.rmtree(shared)
    assert run.returncode == 3, run.stderr
    assert "cannot read" in run.stdout and "Permission denied" in run.stdout
    assert str(iso) in run.stdout or "locked.iso" in run.stdout


def test_md5sum_mismatch_and_missing_files_fail(tmp_path: Path, outside: Path) -> None:
    files = debian_live_files()
    files["md5sum.txt"] = (
        f"{md5(KERNEL)}  ./live/vmlinuz-6.1.0-18-amd64\n"
        f"{'0' * 32}  ./live/filesystem.squashfs\n"
        f"{md5('gone')}  ./pool/main/gone.deb\n"
    )
    iso = build_iso(tmp_path / "bad-md5.iso", files)
    before = snapshot(tmp_path)
    with pytest.raises(ExtractError) as caught:
        extract_iso(iso, tmp_path / "tree")
    message = str(caught.value)
    assert "md5sum.txt" in message and "bad-md5.iso" in message
    assert "live/filesystem.squashfs (checksum mismatch)" in message
    assert "pool/main/gone.deb (missing)" in message
    assert "vmlinuz" not in message
    assert snapshot(tmp_path) == before
    # the same image extracts when verification is off
    result = extract_iso(iso, tmp_path / "tree", verify_checksums=False)
    assert (tmp_path / "tree/live/filesystem.squashfs").read_bytes() == SQUASHFS and result.files == len(files)


def test_should_stop_removes_everything(tmp_path: Path) -> None:
    iso = build_iso(tmp_path / "stop.iso", debian_live_files())
    before = snapshot(tmp_path)
    calls = 0

    def stop_after_a_few() -> bool:
        nonlocal calls
        calls += 1
        return calls > 4

    with pytest.raises(ExtractError, match="stopped"):
        extract_iso(iso, tmp_path / "tree", should_stop=stop_after_a_few)
    assert calls == 5
    assert snapshot(tmp_path) == before


def test_existing_destination_is_refused_and_left_alone(tmp_path: Path) -> None:
    iso = build_iso(tmp_path / "x.iso", {"a": "b"})
    dest = tmp_path / "tree"
    dest.mkdir()
    (dest / "keep").write_text("mine")
    with pytest.raises(ExtractError, match="cannot create"):
        extract_iso(iso, dest)
    assert (dest / "keep").read_text() == "mine"


def test_full_disk_fails_cleanly(tmp_path: Path) -> None:
    """A real full filesystem: a 1 MiB tmpfs (needs root; skipped with the reason otherwise)."""
    small = tmp_path / "small"
    small.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(small)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        iso = build_iso(tmp_path / "big.iso", {"live/filesystem.squashfs": SQUASHFS, "live/vmlinuz": KERNEL})
        with pytest.raises(ExtractError, match="No space left on device") as caught:
            extract_iso(iso, small / "tree")
        assert "big.iso" in str(caught.value)
        assert os.listdir(small) == []
        extract_iso(build_iso(tmp_path / "fits.iso", {"live/vmlinuz": KERNEL}), small / "tree")  # across filesystems
        assert (small / "tree/live/vmlinuz").read_bytes() == KERNEL
        remove_tree(small / "tree")
    finally:
        subprocess.run(["umount", str(small)], check=True)


# --- copy paths -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("refused", [("copy_file_range",), ("copy_file_range", "sendfile")])
def test_fallback_copy_methods_give_identical_trees(tmp_path: Path, monkeypatch, refused) -> None:
    """copy_file_range is refused across some filesystems (EXDEV) and sendfile on some kernels (EINVAL);
    those refusals cannot be produced on demand here, so they are simulated by replacing the calls."""

    def refusing(code: int):
        def refuse(*_args, **_kwargs):
            raise OSError(code, "simulated refusal")

        return refuse

    for name in refused:
        monkeypatch.setattr(
            extract_write.os, name, refusing(errno.EXDEV if name == "copy_file_range" else errno.EINVAL)
        )
    iso = build_iso(tmp_path / "fallback.iso", debian_live_files())
    extract_iso(iso, tmp_path / "tree")
    monkeypatch.undo()
    extract_iso(iso, tmp_path / "reference")
    assert listing(tmp_path / "tree") == listing(tmp_path / "reference")


def _unaligned(iso: Path, rel: str) -> bool:
    from isodrop.extract.image import read_manifest

    handle, manifest = read_manifest(iso)
    with handle:
        node = next(n for n in manifest.files if n.rel == rel)
    return any(offset % extract_write.PAGE for offset, _length in node.extents)


@pytest.mark.parametrize("large_file", [1 << 40, 64 * 1024], ids=["one-thread", "second-thread"])
def test_page_unaligned_and_large_files_copy_exactly(tmp_path: Path, monkeypatch, large_file: int) -> None:
    """Files starting mid-page go through read/write, large ones through the second thread (made to take
    every file over 64 KiB here); both give back the ISO's bytes, as xorriso reads them."""
    monkeypatch.setattr(extract_write, "LARGE_FILE", large_file)
    files: dict[str, object] = {f"pool/f{i}": os.urandom(1000 + 2048 * i) for i in range(6)}
    files |= {f"live/big{i}.squashfs": os.urandom(300_000 + 4096 * i) for i in range(3)}
    iso = build_iso(tmp_path / "mixed.iso", files)
    assert any(_unaligned(iso, rel) for rel in files), "the image has no file starting mid-page"
    extract_iso(iso, tmp_path / "tree")
    assert listing(tmp_path / "tree") == xorriso_extract(iso, tmp_path / "reference")


def test_second_thread_failure_and_stop_leave_nothing(tmp_path: Path, monkeypatch) -> None:
    """A large file the image cuts short fails in the second thread: the error reaches the caller and
    nothing is left; should_stop while it copies also ends it."""
    monkeypatch.setattr(extract_write, "LARGE_FILE", 1 << 20)
    iso = build_iso(tmp_path / "cut.iso", {"a/small": b"x" * 100, "live/filesystem.squashfs": SQUASHFS})
    os.truncate(iso, iso.stat().st_size - 1024 * 1024)
    before = snapshot(tmp_path)
    with pytest.raises(ExtractError, match="ISO is truncated: live/filesystem.squashfs"):
        extract_iso(iso, tmp_path / "tree")
    assert snapshot(tmp_path) == before
    whole = build_iso(tmp_path / "whole.iso", {"live/filesystem.squashfs": SQUASHFS, "z/last": b"y"})
    copied = []
    with pytest.raises(ExtractError, match="stopped"):
        extract_iso(
            whole,
            tmp_path / "tree",
            progress=lambda done, _total: copied.append(done),
            should_stop=lambda: bool(copied),
        )
    assert not (tmp_path / "tree").exists()


# --- IsoTree and remove_tree ----------------------------------------------------------------------------


@pytest.mark.parametrize("layout", [debian_live_files, ubuntu_files])
def test_iso_tree_lists_and_reads_what_extraction_writes(tmp_path: Path, layout) -> None:
    files = layout()
    files["etc-link"] = Symlink("/etc")  # skipped by both
    iso = build_iso(
        tmp_path / "live.iso",
        files,
        volume_id="LIVE",
        boot_file="isolinux/isolinux.bin" if "isolinux/isolinux.bin" in files else None,
    )
    extract_iso(iso, tmp_path / "tree")
    on_disk = DirTree(tmp_path / "tree", volume_id="LIVE")
    with IsoTree(iso) as tree:
        assert tree.volume_id == "LIVE" and tree.iso_name == "live.iso"
        assert tree.listing() == on_disk.listing()
        assert "etc-link" not in tree.listing() and tree.warnings
        for rel, kind in on_disk.listing().items():
            if kind == "f":
                assert tree.read_bytes(rel, limit=1 << 30) == on_disk.read_bytes(rel, limit=1 << 30), rel
        assert (
            tree.read_bytes(
                "live/filesystem.squashfs" if "live/filesystem.squashfs" in files else "casper/minimal.squashfs",
                limit=10,
            )
            == SQUASHFS[:10]
        )
        assert tree.disk_info() == on_disk.disk_info() != ""
        assert tree.read_bytes("boot") is None and tree.read_bytes("no/such/file") is None


def test_remove_tree_handles_read_only_folders_and_never_follows_links(tmp_path: Path, outside: Path) -> None:
    iso = build_iso(tmp_path / "live.iso", ubuntu_files())
    extract_iso(iso, tmp_path / "tree")
    tree = tmp_path / "tree"
    tree.chmod(0o755)
    (tree / "to-outside").symlink_to(outside)  # as if something planted a link after extraction
    (tree / "abs").symlink_to(outside / "x")
    tree.chmod(0o555)
    assert stat.S_IMODE((tree / "casper").stat().st_mode) == 0o555
    before = snapshot(outside)
    remove_tree(tree)
    assert not tree.exists()
    assert snapshot(outside) == before and (outside / "x").read_text() == "precious"
    remove_tree(tree)  # already gone: nothing to do
    link = tmp_path / "link-to-outside"
    link.symlink_to(outside)
    remove_tree(link)
    assert not link.exists() and (outside / "x").exists()
