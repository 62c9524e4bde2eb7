"""The implementations a config names, resolved once: its boot loaders, its NFS server and its sidecar
policy. Each registry checks its own names (isodrop.loaders, isodrop.nfs, isodrop.sidecar) and raises
the ConfigError naming the key, so `resolve` is also what makes a wrong name fail at start."""

from __future__ import annotations

from dataclasses import dataclass

from isodrop.config import Config
from isodrop.loaders import Loader, active_loaders
from isodrop.nfs import NfsServer, nfs_server
from isodrop.sidecar import SidecarPolicy


@dataclass(frozen=True)
class Units:
    loaders: tuple[Loader, ...]  # in the order their menus are written
    nfs_server: NfsServer
    sidecar_policy: SidecarPolicy


def resolve(config: Config) -> Units:
    """The units `config` names; ConfigError naming the key for a name no registry knows."""
    return Units(tuple(active_loaders(config)), nfs_server(config), SidecarPolicy.of(config))
