"""nfs-ganesha: EXPORT blocks in a file that ganesha.conf `%include`s, re-read on SIGHUP."""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from isodrop import effects
from isodrop.config import Config
from isodrop.findings import OK, WARN, Finding
from isodrop.nfs.base import HEADER, NfsServer


@dataclass(frozen=True)
class Ganesha(NfsServer):
    name = "ganesha"
    exports_file: Path
    client_network: str
    pid_file: Path | None  # None in local mode: written, not signalled

    @classmethod
    def for_config(cls, config: Config) -> Ganesha:
        return cls(config.ganesha_exports_file, config.client_network, config.ganesha_pid_file)

    def render(self, trees: Iterable[Path]) -> str:
        """One EXPORT block per tree. Export_Id is derived from the path, so it stays the same across
        restarts and other trees coming and going."""
        blocks = [HEADER]
        used: set[int] = set()
        for tree in sorted(trees):
            export_id = _export_id(str(tree), used)
            network = self.client_network
            clients = "" if network == "*" else f"\n    CLIENT {{ Clients = {network}; Access_Type = RO; }}"
            access = "RO" if network == "*" else "None"
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

    def reread(self) -> Finding:
        return effects.signal_pidfile(self.pid_file, "nfs-ganesha")

    def check(self) -> list[Finding]:
        result = effects.signal_pidfile(self.pid_file, "nfs-ganesha", sig=0)
        return [Finding(OK, "nfs-ganesha is running") if result.ok else Finding(WARN, result.message)]


def _export_id(path: str, used: set[int]) -> int:
    export_id = 1000 + zlib.crc32(path.encode()) % 60000
    while export_id in used:
        export_id += 1
    used.add(export_id)
    return export_id
