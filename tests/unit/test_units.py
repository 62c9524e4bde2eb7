"""isodrop.units: the loaders, NFS server and sidecar policy a config names, resolved once; a name no
registry knows fails with the key named."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from isodrop.config import ConfigError, local_defaults
from isodrop.units import resolve

CONFIG = local_defaults(Path("/nonexistent"))


def test_the_default_config_resolves_to_its_named_units() -> None:
    units = resolve(dataclasses.replace(CONFIG, nfs_server="ganesha", bios_loader="ipxe"))
    assert units.nfs_server.name == "ganesha"
    assert "ipxe" in [loader.name for loader in units.loaders]


@pytest.mark.parametrize(("key", "value"), [("nfs_server", "samba"), ("bios_loader", "grub")])
def test_an_unknown_name_fails_naming_its_key(key: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"key '{key}'"):
        resolve(dataclasses.replace(CONFIG, **{key: value}))
