"""`isodrop check`'s findings, made in-process from a Site (the command's exit status is tested in
test_commands.py, its output through the command line in test_cli.py)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from isodrop.check import _folder, findings
from isodrop.config import load, local_defaults
from isodrop.findings import FAIL, OK, WARN
from isodrop.site import Site


def test_check_reports_each_part_and_local_mode_stops_before_the_servers(tmp_path: Path) -> None:
    found = list(findings(Site.make(local_defaults(tmp_path / "demo"), "192.0.2.7")))
    messages = "\n".join(f.message for f in found)
    assert "drop_dir" in messages and "boot loader files" in messages and "clients will boot from 192.0.2.7" in messages
    assert found[-1].message.startswith("local mode") and not any(f.level == FAIL for f in found)


def test_a_missing_reread_command_fails_and_a_missing_pid_file_warns(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        f'drop_dir = "{tmp_path}/d"\ntftp_root = "{tmp_path}/t"\nstate_dir = "{tmp_path}/r"\n'
        'exports_reload_command = ["no-such-exportfs"]\n'
        f'dnsmasq_pid_file = "{tmp_path}/none.pid"\n'
    )
    found = list(findings(Site.make(load(config), "192.0.2.7")))
    assert any(
        f.level == FAIL and f.message.startswith("exports re-read command no-such-exportfs missing") for f in found
    )
    assert any(f.level == WARN and "does not exist" in f.message for f in found)


def test_check_warns_that_menu_default_first_hands_the_choice_to_the_drop_folder(tmp_path: Path) -> None:
    config = local_defaults(tmp_path)
    first = [f for f in findings(Site.make(dataclasses.replace(config, menu_default="first"), "192.0.2.7"))]
    assert any(f.level == WARN and f.message.startswith('menu_default = "first": whoever can write') for f in first)
    named = findings(Site.make(dataclasses.replace(config, menu_default="a.iso"), "192.0.2.7"))
    assert not any("menu_default" in f.message for f in named)


def test_a_folder_is_fine_when_it_exists_or_can_be_made(tmp_path: Path) -> None:
    assert _folder("state_dir", tmp_path) == (OK, f"state_dir {tmp_path} exists")
    assert _folder("state_dir", tmp_path / "new" / "deeper") == (OK, f"state_dir {tmp_path}/new/deeper will be created")
