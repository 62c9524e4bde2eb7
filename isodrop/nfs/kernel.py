"""The kernel NFS server: an exports(5) file in /etc/exports.d, re-read with `exportfs -ra`."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterable
from pathlib import Path

from isodrop import effects
from isodrop.config import Config
from isodrop.findings import Finding
from isodrop.nfs.base import HEADER, NfsServer

_BLANK = re.compile(r"\s")


class KernelNfs(NfsServer):
    name = "kernel"

    def exports_file(self, config: Config) -> Path:
        return config.exports_file

    def render(self, trees: Iterable[Path], client_network: str) -> str:
        """One read-only line per tree. `insecure`: some initramfs NFS clients use unprivileged ports."""
        lines = [HEADER]
        for tree in sorted(trees):
            lines.append(f"{_quote(str(tree))} {client_network}(ro,no_subtree_check,insecure,all_squash)\n")
        return "".join(lines)

    def reread(self, config: Config) -> Finding:
        return effects.run_command(config.exports_reload_command, "exports re-read")

    def check(self, config: Config) -> list[tuple[str, str]]:
        tool = config.exports_reload_command[0] if config.exports_reload_command else ""
        found = bool(tool) and shutil.which(tool) is not None
        return [
            ("ok" if found else "FAIL", f"exports re-read command {tool or '(none)'} {'found' if found else 'missing'}")
        ]


def _quote(path: str) -> str:
    """exports(5) paths with spaces must be quoted (slugs never have them, but trees_dir might)."""
    return f'"{path}"' if _BLANK.search(path) else path
