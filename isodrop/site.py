"""The site: where and how this server serves, made once from the config and the server address.

Shaped like mkosi's `Context`: the config inside (with http_url = "auto" made concrete for the
address), and what follows from the two made here once, not rebuilt where needed: the trees, the boot
loaders, the NFS server, and each ISO's `ServerContext`. `serve`, `scan`, `inspect` and `check` build
it the same way (`Site.make`); the service makes a new one when a reload changes the config or the
address.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from dataclasses import dataclass, field

from isodrop.address import server_address
from isodrop.config import Config, served_by
from isodrop.loaders import Loader
from isodrop.model import ServerContext
from isodrop.nfs import NfsServer
from isodrop.trees import Trees
from isodrop.units import resolve

log = logging.getLogger("isodrop")


@dataclass(frozen=True)
class Site:
    config: Config  # as served: http_url never "auto"
    server: str  # the address clients reach this server at
    how: str  # how that address was found, for the journal
    trees: Trees = field(compare=False, repr=False)
    loaders: tuple[Loader, ...] = field(compare=False, repr=False)
    nfs: NfsServer = field(compare=False, repr=False)

    @classmethod
    def make(cls, config: Config, server: str = "") -> Site:
        """The site of `config` at `server`; without one, at server_address or the detected address."""
        how = "given"
        if not server:
            server, how = server_address(config.server_address)
        served = served_by(config, server)
        named = resolve(served)
        return cls(served, server, how, Trees(served.trees_dir), named.loaders, named.nfs_server)

    def at(self, server: str) -> Site:
        """The same site at another address (a reload found a new one, the config unchanged): the trees,
        loaders and NFS server stay."""
        return dataclasses.replace(self, server=server, how="detected again")

    def log_address(self) -> None:
        log.info("clients reach this server at %s (%s)", self.server, self.how)

    def context(self, slug: str) -> ServerContext:
        """Where the tree of `slug` is served from (asked for every entry in every pass: no pathlib here)."""
        http_url = self.config.http_url
        return ServerContext(
            server=self.server,
            nfs_path=self.trees.prefix + slug,
            tftp_path=self._tftp_prefix + slug,
            http_url=f"{http_url.rstrip('/')}/{slug}/" if http_url else "",
        )

    @functools.cached_property
    def _tftp_prefix(self) -> str:
        return self.trees.prefix_under(self.config.tftp_root)
