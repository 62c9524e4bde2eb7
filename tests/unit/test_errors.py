"""isodrop.errors: every error a person reads carries its sentence as `reason`; config errors name the key."""

from __future__ import annotations

import pytest

from isodrop.errors import ConfigError, IsodropError
from isodrop.extract import ExtractError
from isodrop.loaders.base import MenuLineError
from isodrop.sidecar import SidecarError


def test_a_config_error_names_the_file_and_the_key() -> None:
    error = ConfigError.for_key("/etc/isodrop/isodrop.toml", "menu_timeout", "must be an integer, got 'x'")
    assert error.reason == "/etc/isodrop/isodrop.toml: key 'menu_timeout': must be an integer, got 'x'"
    assert str(error) == error.reason and isinstance(error, IsodropError)


@pytest.mark.parametrize("kind", [ConfigError, ExtractError, MenuLineError, SidecarError])
def test_every_error_a_person_reads_is_caught_by_the_one_base(kind: type[Exception]) -> None:
    assert issubclass(kind, IsodropError)
