"""NFS servers, one module each; NFS_SERVERS by config name (`nfs_server`), `nfs_server` for a config."""

from __future__ import annotations

from isodrop.config import Config
from isodrop.errors import ConfigError
from isodrop.nfs.base import NfsServer
from isodrop.nfs.ganesha import Ganesha
from isodrop.nfs.kernel import KernelNfs

NFS_SERVERS: dict[str, type[NfsServer]] = {cls.name: cls for cls in (KernelNfs, Ganesha)}


def nfs_server(config: Config) -> NfsServer:
    """The NFS server config.nfs_server names, with the settings it uses; ConfigError naming the key when
    no server has that name."""
    server = NFS_SERVERS.get(config.nfs_server)
    if server is None:
        names = " or ".join(f'"{name}"' for name in NFS_SERVERS)
        raise ConfigError.for_key(config.source, "nfs_server", f"must be {names}, got {config.nfs_server!r}")
    return server.for_config(config)


__all__ = ["NFS_SERVERS", "NfsServer", "nfs_server"]
