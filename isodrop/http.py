"""HTTP delivery of kernels and initrds: which path clients get, and whether http_url really serves.

Only iPXE fetches over HTTP here (pxelinux.0 and syslinux.efi speak TFTP only). iPXE's script tries
the HTTP URL first and falls back to TFTP per file, so a stopped web server slows boots down instead of
breaking them; `isodrop check` reports it as a failure so that it gets fixed.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

from isodrop.config import Config
from isodrop.findings import FAIL, OK, WARN, Finding
from isodrop.model import Outcome
from isodrop.trees import Trees

PROBE_TIMEOUT = 3.0  # seconds: a LAN web server answers at once


def delivery(config: Config) -> list[Finding]:
    """(level, message) lines: per firmware, HTTP or TFTP and why."""
    lines = []
    for firmware, loader in (("BIOS", config.bios_loader), ("UEFI", config.uefi_loader)):
        if loader not in ("ipxe", "grub"):
            lines.append(
                Finding(
                    OK,
                    f"{firmware} clients ({loader}) get kernel and initrd over TFTP: only iPXE and GRUB use HTTP",
                )
            )
        elif not config.http_url:
            lines.append(
                Finding(OK, f"{firmware} clients ({loader}) get kernel and initrd over TFTP: http_url is not set")
            )
        elif loader == "grub":
            lines.append(
                Finding(
                    OK,
                    f"{firmware} clients (grub) get kernel and initrd over HTTP from {config.http_url} with Secure Boot"
                    " off (GRUB's http.mod), over TFTP with Secure Boot on (a signed GRUB loads no extra module)",
                )
            )
        else:
            lines.append(
                Finding(
                    OK,
                    f"{firmware} clients (ipxe) get kernel and initrd over HTTP from {config.http_url}"
                    ", TFTP if that fails",
                )
            )
    return lines


def probe(config: Config, trees: Trees, timeout: float = PROBE_TIMEOUT) -> Finding:
    """Fetch one served tree's kernel from http_url; its size must match the file in trees_dir."""
    if not config.http_url:
        return Finding(OK, "http_url is not set: nothing to check over HTTP")
    target = _served_kernel(trees)
    if target is None:
        return Finding(WARN, f"http_url {config.http_url}: no served ISO yet, so no kernel to fetch and compare")
    rel, path = target
    url = f"{config.http_url.rstrip('/')}/{urllib.request.pathname2url(rel)}"
    request = urllib.request.Request(url, method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
    except urllib.error.HTTPError as exc:
        return Finding(FAIL, f"http_url: {url} answers {exc.code} {exc.reason}: {_hint(config)}")
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return Finding(
            FAIL, f"http_url: {url} cannot be fetched ({reason}): is the web server running? {_hint(config)}"
        )
    size = path.stat().st_size
    if length is None or int(length) != size:
        return Finding(FAIL, f"http_url: {url} has {length or 'unknown'} bytes, {path} has {size}: {_hint(config)}")
    return Finding(OK, f"http_url serves {rel} ({size} bytes, same as in trees_dir)")


def _hint(config: Config) -> str:
    return (
        f"http_url must serve trees_dir ({config.trees_dir}), e.g. nginx with /etc/nginx/sites-available/isodrop; "
        "clients fall back to TFTP meanwhile"
    )


def _served_kernel(trees: Trees) -> tuple[str, Path] | None:
    """(path relative to trees_dir, file) of the first served entry's kernel."""
    for slug, state in sorted(trees.records().items()):
        entry = state.entry
        if state.outcome is Outcome.SERVED and entry is not None:
            path = trees.tree(slug) / entry.kernel
            if path.is_file():
                return f"{slug}/{entry.kernel}", path
    return None
