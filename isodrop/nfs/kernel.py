"""The kernel NFS server: an exports(5) file in /etc/exports.d, re-read with `exportfs -ra`."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from isodrop import effects
from isodrop.config import Config
from isodrop.findings import FAIL, OK, Finding
from isodrop.nfs.base import HEADER, NfsServer

_BLANK = re.compile(r"\s")


@dataclass(frozen=True)
class KernelNfs(NfsServer):
    name = "kernel"
    exports_file: Path
    client_network: str
    reload_command: tuple[str, ...]  # () in local mode: written, not re-read

    @classmethod
    def for_config(cls, config: Config) -> KernelNfs:
        return cls(config.exports_file, config.client_network, config.exports_reload_command)

    def render(self, trees: Iterable[Path]) -> str:
        """One read-only line per tree. `insecure`: some initramfs NFS clients use unprivileged ports."""
        lines = [HEADER]
        for tree in sorted(trees):
            lines.append(f"{_quote(str(tree))} {self.client_network}(ro,no_subtree_check,insecure,all_squash)\n")
        return "".join(lines)

    def reread(self) -> Finding:
        return effects.run_command(self.reload_command, "exports re-read")

    def check(self) -> list[Finding]:
        tool = self.reload_command[0] if self.reload_command else ""
        found = bool(tool) and shutil.which(tool) is not None
        return [
            Finding(
                OK if found else FAIL, f"exports re-read command {tool or '(none)'} {'found' if found else 'missing'}"
            )
        ]


def _quote(path: str) -> str:
    """exports(5) paths with spaces must be quoted (slugs never have them, but trees_dir might)."""
    return f'"{path}"' if _BLANK.search(path) else path
