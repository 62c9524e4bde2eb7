"""The nginx site isodrop ships (contrib/nginx/isodrop -> /etc/nginx/sites-available/isodrop): real nginx,
in a network namespace, serves a tree read-only, hides isodrop's dot-folders, and `isodrop check` sees it.

Only the listen address, the alias folder and the work paths are substituted; the server block is the
shipped one, included from an nginx.conf with Debian's settings (tests/harness/e2e/servers.py) as Debian's
nginx.conf includes sites-enabled/*.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.e2e.netns import PrivateNet
from tests.harness.e2e.servers import REPO, fetch, start_shipped_site


@pytest.fixture
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PrivateNet, Path, Path]]:
    if shutil.which("nginx") is None:
        pytest.skip("nginx missing: install nginx-light (tests/apt-packages.txt)")
    work = Path(tempfile.mkdtemp(prefix="isodrop-nginx-"))
    work.chmod(0o755)
    trees = work / "tftp" / "isodrop"
    (trees / "one" / "live").mkdir(parents=True)
    (trees / "one" / "live" / "vmlinuz").write_bytes(b"k" * 123_457)
    (trees / "one" / "x.html").write_text("<html><script>alert(document.cookie)</script></html>")
    (trees / "one" / "x.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>')
    (trees / "one" / "live" / "filesystem.squashfs").write_bytes(bytes(range(256)) * 64)
    (trees / ".state").mkdir()
    (trees / ".state" / "one.json").write_text("{}")
    net = PrivateNet.create()
    proc = None
    try:
        proc = start_shipped_site(net, trees, work)
        yield net, work, trees
    finally:
        if proc is not None:
            proc.stop()
        net.close()
        shutil.rmtree(work, ignore_errors=True)


def curl(net: PrivateNet, *args: str) -> str:
    """HTTP status code of one request from inside the namespace."""
    argv = [*net.ns_exec(), "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5", *args]
    return subprocess.run(argv, capture_output=True, text=True, check=False).stdout


@pytest.mark.network
def test_shipped_site_serves_trees_read_only(served: tuple[PrivateNet, Path, Path]) -> None:
    net, _, _ = served
    base = f"http://{net.server_ip}/isodrop"
    assert curl(net, f"{base}/one/live/vmlinuz") == "200"
    assert curl(net, "-I", f"{base}/one/live/vmlinuz") == "200"
    assert curl(net, "-X", "PUT", "--data", "x", f"{base}/one/live/vmlinuz") == "403"
    assert curl(net, "-X", "DELETE", f"{base}/one/live/vmlinuz") == "403"
    assert curl(net, f"{base}/.state/one.json") == "403", "isodrop's records are not served"
    assert curl(net, f"{base}/one/") in ("403", "404"), "no directory listings"
    assert curl(net, f"http://{net.server_ip}/etc/passwd") == "404"


@pytest.mark.network
def test_iso_content_is_served_as_downloads_never_as_pages(served: tuple[PrivateNet, Path, Path]) -> None:
    """An HTML or SVG file inside an ISO comes back as application/octet-stream, not sniffed, sandboxed,
    as an attachment: it cannot run script on the server's origin. Ranges still work (live systems
    fetching a squashfs), a folder has no listing, isodrop's .state/ is not served."""
    net, _, trees = served
    base = f"http://{net.server_ip}/isodrop"
    for name in ("x.html", "x.svg", "live/vmlinuz"):
        status, headers, body = fetch(net, f"{base}/one/{name}")
        assert " 200" in status, status
        assert headers["content-type"] == "application/octet-stream", (name, headers)
        assert headers["x-content-type-options"] == "nosniff"
        csp = headers["content-security-policy"]
        assert "sandbox" in csp and "default-src 'none'" in csp, csp
        assert headers["content-disposition"] == "attachment"
        assert body == (trees / "one" / name).read_bytes()
    status, headers, body = fetch(net, "-r", "1000-1999", f"{base}/one/live/filesystem.squashfs")
    assert " 206" in status and headers["content-range"] == "bytes 1000-1999/16384", (status, headers)
    assert body == (bytes(range(256)) * 64)[1000:2000]
    status, _headers, body = fetch(net, f"{base}/one/")
    assert " 200" not in status and b"x.html" not in body, "no directory listing"
    status, _headers, body = fetch(net, f"{base}/.state/one.json")
    assert " 403" in status and b"{}" not in body, "isodrop's records are not served"


@pytest.mark.network
def test_check_reports_http_url_serving_and_stopped(served: tuple[PrivateNet, Path, Path]) -> None:
    """`isodrop check` finds a served kernel, fetches it from http_url and compares sizes; a URL that
    serves the wrong folder is a FAIL naming both sizes or the status."""
    net, work, trees = served
    sys.path.insert(0, str(REPO))
    from isodrop.model import BootEntry, Outcome
    from isodrop.state import EntryState
    from isodrop.trees import Trees

    entry = BootEntry(family="debian-live", label="One", kernel="live/vmlinuz", initrds=(), params=())
    Trees(trees).save(EntryState(slug="one", source="one.iso", size=1, mtime_ns=1, outcome=Outcome.SERVED,
                          entry=entry.to_dict()))  # fmt: skip
    for url, expected in (
        (f"http://{net.server_ip}/isodrop", "ok    http_url serves one/live/vmlinuz (123457 bytes"),
        (f"http://{net.server_ip}/elsewhere", "FAIL  http_url: http://"),
    ):
        config = work / "isodrop.toml"
        config.write_text(
            f'drop_dir = "{work}/drop"\ntftp_root = "{trees.parent}"\nstate_dir = "{work}/run"\n'
            f'http_url = "{url}"\nbios_loader = "ipxe"\n'
        )
        argv = [*net.ns_exec(), sys.executable, "-m", "isodrop", "check", "--config", str(config)]
        result = subprocess.run(argv, capture_output=True, text=True, env={"PYTHONPATH": str(REPO)}, check=False)
        assert expected in result.stdout, result.stdout + result.stderr
        assert "BIOS clients (ipxe) get kernel and initrd over HTTP" in result.stdout
