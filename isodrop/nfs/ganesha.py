"""nfs-ganesha: EXPORT blocks in a file that ganesha.conf `%include`s, re-read on SIGHUP."""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from pathlib import Path

from isodrop import effects
from isodrop.config import Config
from isodrop.findings import Finding
from isodrop.nfs.base import HEADER, NfsServer


class Ganesha(NfsServer):
    name = "ganesha"

    def exports_file(self, config: Config) -> Path:
        return config.ganesha_exports_file

    def render(self, trees: Iterable[Path], client_network: str) -> str:
        """One EXPORT block per tree. Export_Id is derived from the path, so it stays the same across
        restarts and other trees coming and going."""
        blocks = [HEADER]
        used: set[int] = set()
        for tree in sorted(trees):
            export_id = _export_id(str(tree), used)
            clients = (
                "" if client_network == "*" else f"\n    CLIENT {{ Clients = {client_network}; Access_Type = RO; }}"
            )
            access = "RO" if client_network == "*" else "None"
            blocks.append(
                "EXPORT {\n"
                f"    Export_Id = {export_id};\n"
                f'    Path = "{tree}";\n'
                f'    Pseudo = "{tree}";\n'
                f"    Access_Type = {access};\n"
                "    Squash = None;\n"
                "    Protocols = 3;\n"
                "    Transports = TCP;\n"
                "    SecType = sys;\n"
                f"    FSAL {{ Name = VFS; }}{clients}\n"
                "}\n"
            )
        return "\n".join(blocks)

    def reread(self, config: Config) -> Finding:
        return effects.signal_pidfile(config.ganesha_pid_file, "nfs-ganesha")

    def check(self, config: Config) -> list[tuple[str, str]]:
        result = effects.signal_pidfile(config.ganesha_pid_file, "nfs-ganesha", sig=0)
        return [("ok" if result.ok else "WARN", "nfs-ganesha is running" if result.ok else result.message)]


def _export_id(path: str, used: set[int]) -> int:
    export_id = 1000 + zlib.crc32(path.encode()) % 60000
    while export_id in used:
        export_id += 1
    used.add(export_id)
    return export_id
