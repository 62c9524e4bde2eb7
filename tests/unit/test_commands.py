"""The command handlers in-process: which configuration a command line names, and exit statuses."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from isodrop import cli, commands
from isodrop.config import ConfigError
from isodrop.exits import EXIT_OK, EXIT_PROBLEMS


def args(**given: object) -> argparse.Namespace:
    return argparse.Namespace(**({"config": None, "root": None} | given))


def test_a_config_file_wins_over_root_and_root_over_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f'drop_dir = "{tmp_path}/named"\n')
    assert commands.resolve_config(args(config=config, root=tmp_path / "r")).drop_dir == tmp_path / "named"
    assert commands.resolve_config(args(root=tmp_path / "r")).drop_dir == tmp_path / "r" / "drop"
    monkeypatch.setattr(commands, "DEFAULT_CONFIG_PATH", tmp_path / "absent.toml")
    monkeypatch.chdir(tmp_path)
    assert commands.resolve_config(args()).drop_dir == tmp_path / "drop"


def test_a_name_no_registry_knows_is_refused_when_the_config_is_resolved(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('bios_loader = "grub"\n')
    with pytest.raises(ConfigError, match="bios_loader"):
        commands.resolve_config(args(config=config))


def test_check_exits_1_on_a_failure_and_0_without(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = commands.resolve_config(args(root=tmp_path / "demo"))
    assert commands.cmd_check(root, args()) == EXIT_OK
    config = tmp_path / "c.toml"
    config.write_text(f'drop_dir = "{tmp_path}/d"\nexports_reload_command = ["no-such-exportfs"]\n')
    assert commands.cmd_check(commands.resolve_config(args(config=config)), args()) == EXIT_PROBLEMS
    assert "FAIL  exports re-read command no-such-exportfs missing" in capsys.readouterr().out


def test_every_subcommand_of_the_command_line_has_its_handler() -> None:
    choices = next(a.choices for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert set(choices) == set(commands.HANDLERS)
