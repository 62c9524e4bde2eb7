"""NFS servers, one module each; NFS_SERVERS by config name (`nfs_server`)."""

from __future__ import annotations

from isodrop.config import Config
from isodrop.nfs.base import NfsServer
from isodrop.nfs.ganesha import Ganesha
from isodrop.nfs.kernel import KernelNfs

NFS_SERVERS: dict[str, type[NfsServer]] = {cls.name: cls for cls in (KernelNfs, Ganesha)}


def nfs_server(config: Config) -> NfsServer:
    """The NFS server the config names (config validation has checked the name)."""
    return NFS_SERVERS[config.nfs_server]()


__all__ = ["NFS_SERVERS", "NfsServer", "nfs_server"]
