"""A hostile drop folder: everything a user with write access to it can put there that is not ISO content
(links, file types, folders, names, sidecars), all at once next to a good ISO, under `isodrop serve`
run as a subprocess. Each kind must get its specific reason in `isodrop status --json`, nothing from
outside the drop folder may reach a menu or the log, and the good ISO stays served in a well-formed menu.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.faultkit import assert_menu_well_formed, ignored_reason, status_json
from tests.harness.servicekit import ServiceRun, build_debian_live

pytestmark = pytest.mark.service

SECRET = "SECRET-FROM-OUTSIDE-THE-DROP-FOLDER"

# name in the drop folder -> words its reason in status "ignored" must contain
IGNORED = {
    "link-out.iso": "outside the drop folder",
    "shadow.iso": "outside the drop folder",
    "up.iso": "outside the drop folder",
    "chain.iso": "outside the drop folder",
    "dangling.iso": "dangling symbolic link",
    "loop.iso": "symbolic link loop",
    "fifo.iso": "a FIFO, not a regular file",
    "fifo-link.iso": "symbolic link to a FIFO",
    "socket.iso": "a socket, not a regular file",
    "null.iso": "a character device, not a regular file",
    "etc-link/": "symbolic link to a folder: not followed",
    "deep/" + "/".join(["d"] * 8) + "/": "more than 8 levels deep",
}

# sidecar of a served copy of the good ISO -> words its sidecar_error must contain ("" = applied fine)
SIDECARS = {
    "s-outside.iso": "outside the drop folder",
    "s-fifo.iso": "a FIFO, not a regular file",
    "s-device.iso": "a character device, not a regular file",
    "s-huge.iso": "larger than 64 KiB",
    "s-nul.iso": "control characters",
    "s-binary.iso": "NUL byte",
    "s-latin1.iso": "cannot read",
    "s-label.iso": "label must be",
    "s-dangling.iso": "dangling symbolic link",
    "s-inside-link.iso": "",
}

# served copies with hostile names
ODD_NAMES = ["new\nline.iso", os.fsdecode(b"bad-\xff\xfe-bytes.iso"), "L" * 240 + ".iso", "sp ace & $(x).iso"]


def rm_deep(path: Path) -> None:
    subprocess.run(["rm", "-rf", "--one-file-system", str(path)], check=False)


def make_deep(base: Path, levels: int) -> None:
    base.mkdir()
    fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(levels):
        os.mkdir("d", dir_fd=fd)
        child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = child
    os.close(fd)


@pytest.fixture
def hostile(tmp_path: Path) -> Iterator[tuple[ServiceRun, list[socket.socket]]]:
    run = ServiceRun(tmp_path / "srv", rescan_seconds=600.0)
    drop = run.drop
    good = build_debian_live(tmp_path / "good-src.iso")
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(good, outside / "other.iso")
    (outside / "secret.toml").write_text(f'label = "{SECRET}"\n')
    shutil.copy(good, drop / "good.iso")

    # links
    os.symlink(outside / "other.iso", drop / "link-out.iso")
    os.symlink("/etc/shadow", drop / "shadow.iso")
    os.symlink("../../outside/other.iso", drop / "up.iso")
    os.symlink("link-out.iso", drop / "chain.iso")
    os.symlink("good.iso", drop / "link-in.iso")  # inside: followed and served
    os.symlink("nowhere.iso", drop / "dangling.iso")
    os.symlink("loop.iso", drop / "loop.iso")
    os.symlink("/etc", drop / "etc-link")
    # file types
    os.mkfifo(drop / "fifo.iso")
    os.symlink("fifo.iso", drop / "fifo-link.iso")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(drop / "socket.iso"))
    os.mknod(drop / "null.iso", 0o600 | 0o020000, os.makedev(1, 3))
    # folders
    make_deep(drop / "deep", 1100)
    (drop / "dir.iso").mkdir()  # a folder named like an ISO: searched, holds nothing
    # sidecars on served copies of the good ISO
    for name in SIDECARS:
        os.link(drop / "good.iso", drop / name)
    os.symlink(outside / "secret.toml", drop / "s-outside.iso.toml")
    os.mkfifo(drop / "s-fifo.iso.toml")
    os.mknod(drop / "s-device.iso.toml", 0o600 | 0o020000, os.makedev(1, 5))  # /dev/zero: endless
    (drop / "s-huge.iso.toml").write_text("# padding\n" * 10_000)
    (drop / "s-nul.iso.toml").write_text('add_params = ["boot=\\u0000live"]\n')
    (drop / "s-binary.iso.toml").write_bytes(os.urandom(300) + b"\0")
    (drop / "s-latin1.iso.toml").write_bytes('label = "Café"\n'.encode("latin-1"))
    (drop / "s-label.iso.toml").write_text('label = "two\\nlines"\n')
    os.symlink("nowhere.toml", drop / "s-dangling.iso.toml")
    (drop / ".shared.toml").write_text('label = "Shared label"\n')
    os.symlink(".shared.toml", drop / "s-inside-link.iso.toml")
    # names
    for name in ODD_NAMES:
        os.link(drop / "good.iso", drop / name)
    old = time.time() - 60
    for path in drop.iterdir():
        if path.is_file() and not path.is_symlink() and path.suffix == ".iso":
            os.utime(path, (old, old))
    yield run, [sock]
    run.stop()
    sock.close()
    rm_deep(drop / "deep")


def test_hostile_drop_folder(hostile: tuple[ServiceRun, list[socket.socket]]) -> None:
    run, _keep = hostile
    run.start()
    served = ["good.iso", "link-in.iso", *SIDECARS, *ODD_NAMES]
    run.wait_for(
        lambda: all((run.entry(n) or {}).get("outcome") == "served" for n in served), 90, "every good copy served"
    )
    run.wait_for(lambda: all(run.entry(n).get("sidecar_error") for n in SIDECARS if SIDECARS[n]), 15, "sidecars")
    doc = status_json(run)
    for name, words in IGNORED.items():
        assert words in ignored_reason(doc, name), f"{name}: {ignored_reason(doc, name)!r} lacks {words!r}"
    ignored_names = {item["iso"] for item in doc["ignored"]}
    assert not ignored_names & set(served), ignored_names & set(served)
    for name, words in SIDECARS.items():
        error = run.entry(name)["sidecar_error"]
        if words:
            assert words in error, f"{name}: sidecar error {error!r} lacks {words!r}"
        else:
            assert error == "", error
    menu = run.menu()
    assert_menu_well_formed(menu)
    assert_menu_well_formed((run.tftp / "efi64/pxelinux.cfg/default").read_text())
    assert "MENU LABEL Shared label" in menu, "a sidecar linked inside the drop folder is used"
    assert "LABEL iso-good\n" in menu and "LABEL iso-link-in\n" in menu
    log = run.log_text()
    assert SECRET not in menu and SECRET not in log and SECRET not in (run.state / "status.json").read_text()
    shadow = [line for line in Path("/etc/shadow").read_text().splitlines() if line.strip()]
    assert not [line for line in shadow if line in log or line in menu], "/etc/shadow content in the log or menu"
    assert "Traceback" not in log
    for name in ("link-out", "shadow", "up", "chain", "fifo", "socket", "null"):
        assert not (run.trees / name).exists(), f"{name}.iso was extracted"
    text = run.command("status")
    assert "ignored" in text.stdout and "symbolic link loop" in text.stdout
    assert "new\\nline.iso" in text.stdout, "a newline in a name is shown as its escape, on one line"

    # the service keeps working: a new ISO appears, a removed one goes, nothing above disturbs it
    shutil.copy(run.drop / "good.iso", run.drop / ".later.part")
    os.rename(run.drop / ".later.part", run.drop / "later.iso")
    (run.drop / "s-nul.iso").unlink()
    run.wait_for(
        lambda: "LABEL iso-later\n" in run.menu() and "LABEL iso-s-nul\n" not in run.menu(), 30, "later in, s-nul out"
    )
    assert run.stop() == 0

    # one `scan` over the same folder: no hang, no Traceback, the same menu entries
    scan = run.command("scan")
    assert "Traceback" not in scan.stdout + scan.stderr, scan.stderr[-3000:]
    assert "LABEL iso-later\n" in run.menu() and "LABEL iso-good\n" in run.menu()


def test_inspect_refuses_a_fifo_at_once(tmp_path: Path) -> None:
    run = ServiceRun(tmp_path / "srv")
    run.write_config()
    fifo = tmp_path / "x.iso"
    os.mkfifo(fifo)
    begun = time.monotonic()
    result = run.command("inspect", str(fifo))
    assert time.monotonic() - begun < 30
    assert result.returncode == 2, result
    assert "FIFO" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    os.symlink(fifo, tmp_path / "link.iso")
    result = run.command("inspect", str(tmp_path / "link.iso"))
    assert result.returncode == 2 and "FIFO" in result.stdout + result.stderr


def test_a_file_named_like_a_state_record(tmp_path: Path) -> None:
    """`NAME.state.json.iso` next to `NAME.iso`: both are served and later saves keep working.

    Records live in trees_dir/.state/ and temporaries in trees_dir/.tmp/ (isodrop.trees), and no slug
    starts with '.', so no ISO name can reach either or be taken for the other."""
    run = ServiceRun(tmp_path / "srv", rescan_seconds=600.0)
    good = build_debian_live(tmp_path / "good.iso")
    shutil.copy(good, run.drop / "a.iso")
    shutil.copy(good, run.drop / "a.state.json.iso")
    try:
        run.start()
        run.wait_for(
            lambda: all((run.entry(n) or {}).get("outcome") == "served" for n in ("a.iso", "a.state.json.iso")),
            30,
            "both served",
        )
        shutil.copy(good, run.drop / "b.iso")
        run.wait_for(lambda: (run.entry("b.iso") or {}).get("outcome") == "served", 30, "a later save")
        assert "Traceback" not in run.log_text()
        assert_menu_well_formed(run.menu())
        assert run.log_text().count("a.iso: extracting") == 1
    finally:
        run.stop()
