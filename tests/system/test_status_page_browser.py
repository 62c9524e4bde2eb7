"""The status page end to end: `isodrop scan` over a drop folder with a good ISO, a broken one and a FIFO
(both with hostile names) writes the page; the shipped nginx site (contrib/nginx/isodrop, real nginx in a
network namespace) serves it at /isodrop-status/ with a CSP that allows no script; headless Chromium
(Debian's chromium) loads it from there, and its DOM and screenshots at phone and desktop width show it."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.e2e.netns import PrivateNet
from tests.harness.e2e.servers import fetch, start_shipped_site
from tests.harness.pageparse import Page, assert_inert
from tests.harness.servicekit import REPO, build_debian_live

BROKEN = '"><img src=x onerror=alert(1)><script>alert(2)<!--.iso'
FIFO = "fifo\u202egpj.iso"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[PrivateNet, Path]]:
    """A scanned drop folder whose status page the shipped site serves; yields the network and work dir."""
    for program in ("nginx", "chromium"):
        if shutil.which(program) is None:
            pytest.skip(f"{program} missing: install it (tests/apt-packages.txt)")
    work = Path(tempfile.mkdtemp(prefix="isodrop-page-"))
    work.chmod(0o755)  # nginx's workers run as nobody
    drop = work / "drop"
    drop.mkdir()
    build_debian_live(drop / "debian-live-12.8.0-amd64-gnome.iso")
    (drop / BROKEN).write_bytes(b"not an ISO at all" * 1000)
    os.mkfifo(drop / FIFO)
    config = work / "isodrop.toml"
    config.write_text(
        f'drop_dir = "{drop}"\ntftp_root = "{work}/tftp"\nstate_dir = "{work}/run"\n'
        f'exports_file = "{work}/exports"\nexports_reload_command = ["true"]\ndnsmasq_pid_file = ""\n'
        'server_address = "192.0.2.10"\nquiet_seconds = 1.0\n'
    )
    scan = subprocess.run(
        [sys.executable, "-m", "isodrop", "scan", "--config", str(config)],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120, check=False,
    )  # fmt: skip
    assert scan.returncode == 1 and (work / "run" / "www" / "index.html").exists(), scan.stderr
    net = PrivateNet.create()
    proc = None
    try:
        proc = start_shipped_site(net, work / "tftp" / "isodrop", work, page_dir=work / "run" / "www")
        yield net, work
    finally:
        if proc is not None:
            proc.stop()
        net.close()
        shutil.rmtree(work, ignore_errors=True)


def chromium(net: PrivateNet, work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Headless Chromium as root inside the namespace, with its profile in the work folder."""
    argv = [
        *net.ns_exec(), "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
        f"--user-data-dir={work / 'chromium-profile'}", *args,
    ]  # fmt: skip
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=120, check=False, env={**os.environ, "HOME": str(work)}
    )


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


@pytest.mark.network
def test_browser_shows_the_page_from_the_shipped_site(site: tuple[PrivateNet, Path], tmp_path: Path) -> None:
    net, work = site
    url = f"http://{net.server_ip}/isodrop-status/"
    status, headers, body = fetch(net, url)
    assert " 200" in status and headers["content-type"] == "text/html; charset=utf-8", (status, headers)
    csp = headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp and "style-src 'unsafe-inline'" in csp, csp
    assert headers["x-content-type-options"] == "nosniff"
    assert body == (work / "run" / "www" / "index.html").read_bytes()
    status, headers, _ = fetch(net, f"http://{net.server_ip}/isodrop-status")
    assert " 301" in status and headers["location"].endswith("/isodrop-status/"), (status, headers)
    for other in ("index.html", ".index.html.x.tmp", "../status.json"):
        status, _, body = fetch(net, f"{url}{other}")
        assert " 200" not in status, f"only the page itself is served: {other}"
    status, _, _ = fetch(net, "-X", "POST", url)
    assert " 403" in status or " 405" in status, status

    dumped = chromium(net, work, "--dump-dom", url)
    assert dumped.returncode == 0 and "</html>" in dumped.stdout, dumped.stderr[-2000:]
    page = assert_inert(dumped.stdout)
    text = page.all_text()
    assert "Debian GNU/Linux 12" in text or "d-live 12 one" in text, text[:2000]
    assert "debian-live-12.8.0-amd64-gnome.iso" in text and "isodrop on 192.0.2.10" in text
    assert BROKEN in text, "the hostile name is shown as text"
    assert "fifo\\u202egpj.iso" in text and "a FIFO, not a regular file" in text
    assert "1served" in "".join(text.split()) and "1not bootable" in " ".join(text.split()).replace("1 not", "1not")
    assert "&lt;script&gt;" in dumped.stdout and "<script" not in dumped.stdout.split("</title>")[1]

    for name, (width, height) in {"phone": (390, 844), "desktop": (1280, 800)}.items():
        shot = tmp_path / f"status-{name}.png"
        done = chromium(net, work, f"--window-size={width},{height}", f"--screenshot={shot}", url)
        assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
        assert png_size(shot) == (width, height)
        assert shot.stat().st_size > 15_000, f"{name} screenshot looks blank ({shot.stat().st_size} bytes)"
    assert Page(body.decode()).all_text() != ""
