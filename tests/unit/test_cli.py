"""The `isodrop` command as a user runs it: help, inspect, check, status and their exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.harness.isofactory import build_iso
from tests.harness.servicekit import REPO, ServiceRun, build_debian_live


def isodrop(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("JOURNAL_STREAM", None)
    return subprocess.run(
        [sys.executable, "-m", "isodrop", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=60,
        check=False,
    )


def test_help_documents_commands_files_and_exit_status() -> None:
    done = isodrop("--help")
    assert done.returncode == 0
    for word in (
        "serve",
        "scan",
        "status",
        "inspect",
        "check",
        "exit status",
        "/etc/isodrop/isodrop.toml",
        "NAME.iso.toml",
    ):
        assert word in done.stdout
    assert "Exits 0 when bootable" in isodrop("inspect", "--help").stdout


def test_inspect_shows_the_exact_boot_entry_and_writes_nothing(tmp_path: Path) -> None:
    iso = build_debian_live(tmp_path / "debian-live-12.iso")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    done = isodrop("inspect", str(iso), "--server", "10.9.8.7", "--root", str(tmp_path / "demo"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "system:     debian-live" in done.stdout
    assert "matched by: live/filesystem.squashfs" in done.stdout
    assert "kernel:     isodrop/debian-live-12/live/vmlinuz" in done.stdout
    assert "initrd:     isodrop/debian-live-12/live/initrd.img" in done.stdout
    nfs = f"{tmp_path}/demo/tftp/isodrop/debian-live-12"
    assert "cmdline:    boot=live " in done.stdout
    assert f" netboot=nfs nfsroot=10.9.8.7:{nfs} ip=dhcp" in done.stdout
    assert "proven:     booted in a VM with live-boot 1:20230131" in done.stdout
    assert "checked:    names, " in done.stdout and "md5sum.txt skipped: not in the image" in done.stdout
    assert sorted(p.name for p in tmp_path.rglob("*")) == before, "inspect wrote something"


def test_inspect_says_a_family_is_not_proven_by_a_boot(tmp_path: Path) -> None:
    """casper is not in Debian, so Ubuntu's line is only checked against its layout: inspect says so."""
    from tests.harness.family_layouts import ubuntu_2404

    layout = ubuntu_2404()
    iso = build_iso(tmp_path / "ubuntu-24.04.1-desktop-amd64.iso", layout.files, volume_id=layout.volume_id)
    done = isodrop("inspect", str(iso), "--server", "10.9.8.7", "--root", str(tmp_path / "demo"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "system:     ubuntu-layered" in done.stdout
    assert " layerfs-path=minimal.standard.live.squashfs" in done.stdout
    assert "proven:     checked against the layout, not booted" in done.stdout


def test_inspect_refuses_what_scan_refuses(tmp_path: Path) -> None:
    """An md5 mismatch and a FIFO named like an ISO: the reason scan gives, no hang, no traceback."""
    files = {"live/vmlinuz": "kernel", "md5sum.txt": f"{'0' * 32}  ./live/vmlinuz\n"}
    bad = build_iso(tmp_path / "bad-md5.iso", files)
    done = isodrop("inspect", str(bad), "--root", str(tmp_path))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "fails its md5sum.txt: live/vmlinuz (checksum mismatch)" in done.stdout
    os.mkfifo(tmp_path / "fifo.iso")
    done = isodrop("inspect", str(tmp_path / "fifo.iso"), "--root", str(tmp_path))
    assert done.returncode == 2 and "not a regular file" in done.stdout and "Traceback" not in done.stderr


def test_inspect_exit_codes_for_unknown_and_unreadable(tmp_path: Path) -> None:
    unknown = build_iso(tmp_path / "u.iso", {"README.TXT": "hi"}, volume_id="NOTHING")
    done = isodrop("inspect", str(unknown), "--root", str(tmp_path))
    assert done.returncode == 1 and "not recognised" in done.stdout
    junk = tmp_path / "junk.iso"
    junk.write_bytes(b"\0" * 70_000)
    done = isodrop("inspect", str(junk), "--root", str(tmp_path))
    assert done.returncode == 2 and "cannot be read" in done.stdout


def test_config_errors_exit_2_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('menu_timeout = "soon"\n')
    done = isodrop("check", "--config", str(config))
    assert done.returncode == 2
    assert "'menu_timeout'" in done.stderr and "whole number" in done.stderr


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('nfs_server = "samba"', """key 'nfs_server': must be "kernel" or "ganesha", got 'samba'"""),
        ('bios_loader = "grub"', "key 'bios_loader': must be one of 'pxelinux', 'ipxe', got 'grub'"),
        ('sidecar_keys = ["label", "params"]', "key 'sidecar_keys': 'params' is not a sidecar key"),
    ],
)
def test_a_name_no_registry_knows_fails_at_start(tmp_path: Path, line: str, message: str) -> None:
    """The registries check their names when the units are made, right after loading: before any command."""
    config = tmp_path / "bad.toml"
    config.write_text(line + "\n")
    done = isodrop("status", "--config", str(config))
    assert done.returncode == 2 and done.stderr.startswith(f"isodrop: configuration error: {config}: {message}")


def test_an_isodrop_error_is_caught_once_at_the_edge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Whatever command lets an IsodropError through, the person reads its reason on one line, no traceback."""
    from isodrop import cli, commands
    from isodrop.extract import ExtractError

    def failing(config: object, args: object) -> int:
        raise ExtractError("broken.iso: not opened: a FIFO, not a regular file")

    monkeypatch.setitem(commands.HANDLERS, "status", failing)
    assert cli.main(["status", "--root", str(tmp_path)]) == cli.EXIT_PROBLEMS
    assert capsys.readouterr().err == "isodrop: broken.iso: not opened: a FIFO, not a regular file\n"


def test_check_reports_each_part(tmp_path: Path) -> None:
    done = isodrop("check", "--root", str(tmp_path / "demo"))
    assert "drop_dir" in done.stdout and "boot loader files" in done.stdout and "local mode" in done.stdout
    assert done.returncode == 0, done.stdout
    config = tmp_path / "c.toml"
    config.write_text(
        f'drop_dir = "{tmp_path}/d"\ntftp_root = "{tmp_path}/t"\nstate_dir = "{tmp_path}/r"\n'
        'exports_reload_command = ["no-such-exportfs"]\n'
        f'dnsmasq_pid_file = "{tmp_path}/none.pid"\n'
    )
    done = isodrop("check", "--config", str(config))
    assert done.returncode == 1
    assert "FAIL  exports re-read command no-such-exportfs missing" in done.stdout
    assert "WARN" in done.stdout and "does not exist" in done.stdout


def test_status_when_not_running_exits_3_and_lists_records(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    (demo / "drop").mkdir(parents=True)
    build_debian_live(demo / "drop" / "a.iso")
    (demo / "drop" / "bad.iso").write_bytes(b"not an iso" * 1000)
    for iso in (demo / "drop").iterdir():  # copied a minute ago: scan need not wait for them
        os.utime(iso, (time.time() - 60, time.time() - 60))
    scan = isodrop("scan", "--root", str(demo))
    assert scan.returncode == 1, "scan exits 1 when an ISO could not be served"
    done = isodrop("status", "--root", str(demo))
    assert done.returncode == 3
    assert "not running" in done.stdout and "a.iso" in done.stdout and "bad.iso" in done.stdout
    assert "not an ISO 9660 image" in done.stdout


def test_scan_waits_for_an_iso_written_moments_ago(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        f'drop_dir = "{tmp_path}/drop"\ntftp_root = "{tmp_path}/tftp"\nstate_dir = "{tmp_path}/run"\n'
        f'exports_file = "{tmp_path}/exports"\nexports_reload_command = ["true"]\n'
        'dnsmasq_pid_file = ""\nserver_address = "192.0.2.1"\nquiet_seconds = 2.0\n'
    )
    build_debian_live(tmp_path / "drop" / "fresh.iso")
    started = time.monotonic()
    done = isodrop("scan", "--config", str(config))
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started >= 1.5, "scan took an ISO written just now without waiting"
    assert "LABEL iso-fresh\n" in (tmp_path / "tftp/pxelinux.cfg/default").read_text()


def test_inspect_explains_a_kernel_name_with_a_newline_instead_of_a_traceback(tmp_path: Path) -> None:
    from tests.harness.servicekit import debian_live_files

    files = debian_live_files()
    files["live/vmlinuz-99\nAPPEND init=sh"] = files.pop("live/vmlinuz")
    iso = build_iso(tmp_path / "evil.iso", files, volume_id="EVIL")
    done = isodrop("inspect", str(iso), "--root", str(tmp_path / "demo"))
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "bootable:   no:" in done.stdout and "control character" in done.stdout


def _scan_config(tmp_path: Path) -> Path:
    """A config whose folders are all under tmp_path/served, with one ISO copied a minute ago."""
    base = tmp_path / "served"
    config = tmp_path / "c.toml"
    config.write_text(
        f'drop_dir = "{base}/drop"\ntftp_root = "{base}/tftp"\nstate_dir = "{base}/run"\n'
        f'exports_file = "{base}/exports"\nexports_reload_command = ["true"]\n'
        'dnsmasq_pid_file = ""\nserver_address = "192.0.2.1"\n'
    )
    iso = build_debian_live(base / "drop" / "a.iso")
    os.utime(iso, (time.time() - 60, time.time() - 60))
    return config


@pytest.mark.parametrize("before", [True, False], ids=["before the command", "after the command"])
def test_config_and_verbose_work_before_and_after_the_command(tmp_path: Path, before: bool) -> None:
    config = _scan_config(tmp_path)
    here = tmp_path / "cwd"
    here.mkdir()
    options = ["--config", str(config), "-v"]
    done = isodrop(*(options + ["scan"] if before else ["scan"] + options), cwd=here)
    assert done.returncode == 0, done.stderr
    assert "LABEL iso-a\n" in (tmp_path / "served/tftp/pxelinux.cfg/default").read_text(), "the config was not used"
    assert list(here.iterdir()) == [], "scan created a local layout in the current directory"
    assert ": debug: " in done.stderr, f"-v shows no debugging details:\n{done.stderr}"


@pytest.mark.parametrize("before", [True, False], ids=["before the command", "after the command"])
def test_root_works_before_and_after_the_command(tmp_path: Path, before: bool) -> None:
    demo = tmp_path / "demo"
    build_debian_live(demo / "drop" / "a.iso")
    os.utime(demo / "drop" / "a.iso", (time.time() - 60, time.time() - 60))
    here = tmp_path / "cwd"
    here.mkdir()
    done = isodrop(*(["--root", str(demo), "scan"] if before else ["scan", "--root", str(demo)]), cwd=here)
    assert done.returncode == 0, done.stderr
    assert "LABEL iso-a\n" in (demo / "tftp/pxelinux.cfg/default").read_text()
    assert list(here.iterdir()) == []
    assert ": debug: " not in done.stderr, "debugging details shown without -v"


def test_config_before_and_root_after_the_command_is_refused(tmp_path: Path) -> None:
    config = _scan_config(tmp_path)
    done = isodrop("--config", str(config), "scan", "--root", str(tmp_path / "demo"), cwd=tmp_path)
    assert done.returncode == 2
    assert "not allowed with" in done.stderr
    assert not (tmp_path / "demo").exists() and not (tmp_path / "served/tftp").exists()


# --- sidecars under the policy, and one status whoever wrote it ------------------------------------------

EVIL = {  # ISO -> what its sidecar adds, and the reason the default policy gives
    "nfs.iso": ("nfsroot=10.6.6.6:/evil", "add_params may not set nfsroot= (it locates the root; "),
    "init.iso": ("init=/bin/sh", "add_params may not set init= (it chooses the init; "),
    "fetch.iso": ("fetch=http://evil/x.squashfs", "add_params may not set fetch= (it locates the root; "),
}


def _evil_drop(tmp_path: Path, **settings: object) -> ServiceRun:
    """A drop folder with the EVIL ISOs and their sidecars, a FIFO and a link out, and its config."""
    run = ServiceRun(tmp_path / "srv", **settings)
    source = build_debian_live(tmp_path / "source.iso")
    for name, (param, _why) in EVIL.items():
        os.link(source, run.drop / name)
        (run.drop / f"{name}.toml").write_text(f'add_params = ["{param}"]\n')
        os.utime(run.drop / name, (time.time() - 60, time.time() - 60))
    os.mkfifo(run.drop / "fifo.iso")
    (run.drop / "out.iso").symlink_to("/etc/passwd")
    run.write_config()
    return run


def _status(run: ServiceRun) -> tuple[dict, str]:
    as_json, as_text = run.command("status", "--json"), run.command("status")
    assert as_json.returncode == as_text.returncode == 3, as_json.stderr  # not running
    return json.loads(as_json.stdout), as_text.stdout


def test_scan_then_status_refuses_sidecars_that_redirect_root_or_init_by_default(tmp_path: Path) -> None:
    run = _evil_drop(tmp_path)
    scan = run.command("scan")
    assert scan.returncode == 0, scan.stderr
    doc, text = _status(run)
    assert doc["made_by"] == "scan" and "as of `isodrop scan` at " in text
    assert {item["iso"] for item in doc["ignored"]} == {"fifo.iso", "out.iso"}
    assert "  ignored       fifo.iso\n      a FIFO, not a regular file" in text
    for entry in doc["entries"]:
        param, why = EVIL[entry["iso"]]
        assert why in entry["sidecar_error"] and entry["sidecar_error"].endswith("see sidecar_params in isodrop.toml)")
        assert f"sidecar ignored: {run.drop / entry['iso']}.toml: {why}" in text
        assert entry["cmdline"] == entry["params"] and entry["sidecar"] == {}, "the recognised line is booted"
        assert f"nfsroot=192.0.2.10:{run.trees}/{entry['slug']} ip=dhcp" in entry["cmdline"]
        assert param not in run.menu() and param not in entry["cmdline"]
    assert "Traceback" not in scan.stderr and "sidecar ignored" in scan.stderr, "the journal says it too"


def test_scan_then_status_shows_the_effective_line_and_its_sidecar_when_sidecars_may_change_anything(
    tmp_path: Path,
) -> None:
    run = _evil_drop(tmp_path, sidecar_params="any")
    assert run.command("scan").returncode == 0
    doc, text = _status(run)
    for entry in doc["entries"]:
        param, _why = EVIL[entry["iso"]]
        assert entry["sidecar_error"] == "" and param in entry["cmdline"] and param not in entry["params"]
        assert entry["sidecar"]["file"] == f"{entry['iso']}.toml" and entry["sidecar"]["added"] == [param]
        assert f"      command line: {entry['cmdline']}\n      recognised:   {entry['params']}\n" in text
        assert f"      sidecar {entry['iso']}.toml: added {param}" in text
        assert param in run.menu()
    nfs = next(e for e in doc["entries"] if e["iso"] == "nfs.iso")
    assert nfs["sidecar"]["removed"] == [f"nfsroot=192.0.2.10:{run.trees}/nfs"], "the replaced value"
    shown = isodrop("inspect", str(run.drop / "nfs.iso"), "--config", str(run.config), "--server", "192.0.2.10")
    assert f"cmdline:    {nfs['cmdline']}\nrecognised: {nfs['params']}\n" in shown.stdout
    assert "sidecar:    nfs.iso.toml: added nfsroot=10.6.6.6:/evil; removed nfsroot=" in shown.stdout


def test_inspect_shows_a_refused_sidecar_and_boots_the_recognised_line(tmp_path: Path) -> None:
    run = _evil_drop(tmp_path)
    shown = isodrop("inspect", str(run.drop / "init.iso"), "--config", str(run.config), "--server", "192.0.2.10")
    assert shown.returncode == 0, shown.stderr
    assert "init=/bin/sh" not in shown.stdout.split("sidecar:")[0] and "recognised:" not in shown.stdout
    assert f"sidecar:    ignored: {run.drop}/init.iso.toml: {EVIL['init.iso'][1]}" in shown.stdout


STATUS_FIELDS = ("iso", "outcome", "label", "menu_label", "params", "cmdline", "sidecar", "sidecar_error", "warnings")


def test_status_after_scan_equals_status_after_a_service_pass(tmp_path: Path) -> None:
    run = _evil_drop(tmp_path)
    (run.drop / "nfs.iso.toml").write_text('add_params = ["nomodeset"]\nremove_params = ["components"]\n')
    assert run.command("scan").returncode == 0
    scanned, _text = _status(run)
    run.start()
    try:
        run.wait_for(lambda: run.status().get("made_by") == "service", 30, "the service's first status")
        served = run.status()
    finally:
        run.stop()
    after_stop, text = _status(run)
    assert "as of the service's last pass at " in text and after_stop["made_by"] == "service"

    def essentials(doc: dict) -> tuple:
        entries = [{key: entry[key] for key in STATUS_FIELDS} for entry in doc["entries"]]
        return entries, doc["ignored"], doc["ignored_total"]

    assert essentials(scanned) == essentials(served) == essentials(after_stop)
    assert [e["sidecar"].get("added") for e in scanned["entries"]] == [None, None, ["nomodeset"]]
    assert sum(bool(e["sidecar_error"]) for e in scanned["entries"]) == 2 and scanned["ignored_total"] == 2


# Names a hostile drop folder can hold: a colour escape, a forged log line, a bidi override (and isolate)
HOSTILE_NAMES = {
    "red\x1b[31m.iso": "red\\x1b[31m.iso",
    "a.iso\nisodrop: error: forged.iso: failed.iso": "a.iso\\nisodrop: error: forged.iso: failed.iso",
    "evil\u202egpj\u2066.iso": "evil\\u202egpj\\u2066.iso",
}


def assert_escaped(output: str) -> None:
    """Every hostile name appears as its escapes, never as the raw characters (and no forged line)."""
    for escaped in HOSTILE_NAMES.values():
        assert escaped in output, f"{escaped!r} not in {output!r}"
    assert "\x1b" not in output and "\u202e" not in output and "\u2066" not in output, output
    assert not any(line.startswith("isodrop: error: forged") for line in output.splitlines()), output


def test_hostile_names_are_shown_as_escapes_in_scan_status_and_inspect(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    (demo / "drop").mkdir(parents=True)
    iso = build_debian_live(tmp_path / "debian-live.iso")
    for name in HOSTILE_NAMES:
        (demo / "drop" / name).write_bytes(iso.read_bytes())
        os.utime(demo / "drop" / name, (time.time() - 60, time.time() - 60))
    scan = isodrop("scan", "--root", str(demo))
    assert scan.returncode == 0, scan.stderr
    assert_escaped(scan.stderr)  # the log lines naming each ISO
    status = isodrop("status", "--root", str(demo))
    assert status.returncode == 3 and status.stdout.count("served ") == 3, status.stdout
    assert_escaped(status.stdout)
    as_json = isodrop("status", "--json", "--root", str(demo))
    assert "\\u001b[31m" in as_json.stdout and "\x1b" not in as_json.stdout, "JSON escapes them itself"
    for raw, escaped in HOSTILE_NAMES.items():
        done = isodrop("inspect", str(demo / "drop" / raw), "--root", str(demo))
        assert done.returncode == 0, done.stderr
        assert f"file:       {demo}/drop/{escaped}\n" in done.stdout
        assert "\x1b" not in done.stdout and "\u202e" not in done.stdout and "\u2066" not in done.stdout


def test_an_entry_that_copies_its_root_into_ram_says_how_much_ram_it_needs(tmp_path: Path) -> None:
    """dracut without its nfs module boots over HTTP, and livenet then downloads the image whole into RAM:
    inspect, status and status --json give the copy and the RAM a PC needs (copy + 512 MiB); a streamed
    root has 0 in both fields."""
    from tests.harness.family_layouts import fedora_41_without_nfs

    layout = fedora_41_without_nfs()
    image = len(layout.files["LiveOS/squashfs.img"])
    config = tmp_path / "c.toml"
    config.write_text(
        f'drop_dir = "{tmp_path}/drop"\ntftp_root = "{tmp_path}/tftp"\nstate_dir = "{tmp_path}/run"\n'
        f'exports_file = "{tmp_path}/exports"\nexports_reload_command = ["true"]\n'
        'dnsmasq_pid_file = ""\nserver_address = "192.0.2.1"\nquiet_seconds = 0.1\n'
        'http_url = "http://192.0.2.1/"\n'
    )
    iso = build_iso(tmp_path / "drop" / "fedora.iso", layout.files, volume_id=layout.volume_id)
    build_debian_live(tmp_path / "drop" / "debian.iso")
    needed = -(-(image + 512 * 2**20) // 2**20)
    copied = f"copied whole into RAM before the system starts (1 MiB): needs at least {needed} MiB"
    done = isodrop("inspect", str(iso), "--config", str(config))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"root:       {copied}" in done.stdout
    assert isodrop("scan", "--config", str(config)).returncode == 0
    doc = json.loads(isodrop("status", "--json", "--config", str(config)).stdout)
    by_iso = {entry["iso"]: entry for entry in doc["entries"]}
    assert by_iso["fedora.iso"]["copies_to_ram_bytes"] == image
    assert by_iso["fedora.iso"]["ram_needed_bytes"] == image + 512 * 2**20
    assert by_iso["debian.iso"]["copies_to_ram_bytes"] == by_iso["debian.iso"]["ram_needed_bytes"] == 0
    text = isodrop("status", "--config", str(config)).stdout
    assert f"root: {copied}" in text
    assert text.count("root: copied whole into RAM") == 1
