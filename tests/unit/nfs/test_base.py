"""isodrop.nfs (base and the registry): every NFS server the config can name writes a file of its own,
marked as generated, with exactly the trees it is given."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from isodrop.config import local_defaults
from isodrop.nfs import NFS_SERVERS, nfs_server
from isodrop.nfs.base import HEADER

CONFIG = local_defaults(Path("/nonexistent"))


@pytest.mark.parametrize("name", sorted(NFS_SERVERS))
def test_each_server_is_chosen_by_its_config_name_and_marks_its_file_generated(name: str) -> None:
    server = nfs_server(dataclasses.replace(CONFIG, nfs_server=name))
    assert server.name == name
    empty = server.render([])
    assert empty == HEADER
    text = server.render([Path("/srv/tftp/isodrop/b"), Path("/srv/tftp/isodrop/a")])
    assert text.startswith(HEADER) and text.index("isodrop/a") < text.index("isodrop/b")


def test_the_servers_write_different_files() -> None:
    files = {name: cls.for_config(CONFIG).exports_file for name, cls in NFS_SERVERS.items()}
    assert set(files) == {"kernel", "ganesha"} and len(set(files.values())) == 2
