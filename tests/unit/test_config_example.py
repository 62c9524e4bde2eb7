"""contrib/isodrop.toml (shipped as /etc/isodrop/isodrop.toml) documents every config key with its default.

The example keeps every key commented out; the test uncomments them all, loads the result with the real
loader and checks that each documented value is the built-in system default, so a changed default or a new
key fails here until the example follows.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from isodrop import config

EXAMPLE = Path(__file__).resolve().parents[2] / "contrib" / "isodrop.toml"
INTERNAL = {"local_mode", "source"}  # not settable from a file
SETTING = re.compile(r"^# ([a-z_0-9]+) = (.+)$")


def documented_settings() -> dict[str, str]:
    settings: dict[str, str] = {}
    for line in EXAMPLE.read_text().splitlines():
        match = SETTING.match(line)
        if match:
            assert match.group(1) not in settings, f"{match.group(1)} documented twice"
            settings[match.group(1)] = match.group(2)
    return settings


def test_every_key_is_documented():
    keys = {field.name for field in dataclasses.fields(config.Config)} - INTERNAL
    documented = set(documented_settings())
    assert keys - documented == set(), "keys missing from contrib/isodrop.toml"
    assert documented - keys == set(), "contrib/isodrop.toml documents keys the Config does not have"


def test_the_example_loads_as_is(tmp_path):
    loaded = config.load(EXAMPLE)
    assert dataclasses.replace(loaded, source="x") == dataclasses.replace(config.system_defaults(), source="x")


def test_documented_values_are_the_defaults(tmp_path):
    uncommented = tmp_path / "isodrop.toml"
    uncommented.write_text("\n".join(f"{key} = {value}" for key, value in documented_settings().items()) + "\n")
    loaded = config.load(uncommented)
    defaults = config.system_defaults()
    for field in dataclasses.fields(config.Config):
        if field.name not in INTERNAL:
            assert getattr(loaded, field.name) == getattr(defaults, field.name), f"{field.name}: documented value"
