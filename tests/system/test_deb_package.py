"""The Debian package: built with Debian's tools only, lintian-clean, shipping what a server needs; the unit's
sandboxing checked by systemd-analyze. (Installing and running it in a real Debian VM: tests/system/test_deb_vm.py.)"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.harness.debvm.package import REPO, build_deb, missing_build_tools

UNIT = REPO / "contrib/isodrop.service"
MAX_EXPOSURE = 3.0  # systemd-analyze security's score for the unit (0 = locked down, 10 = exposed)


@pytest.fixture(scope="module")
def deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    missing = missing_build_tools()
    if missing:
        pytest.skip(f"Debian build tools missing: {', '.join(missing)} (tests/apt-packages.txt installs them)")
    return build_deb(tmp_path_factory.mktemp("deb"))


def dpkg_deb(*args: str) -> str:
    return subprocess.run(["dpkg-deb", *args], capture_output=True, text=True, check=True).stdout


def system_unit_dir() -> str:
    """Where this release's systemd reads packaged units: /lib/systemd/system on Debian 12, /usr/lib/... on 13."""
    result = subprocess.run(["systemd-path", "systemd-system-unit"], capture_output=True, text=True, check=True)
    return result.stdout.strip()


def test_lintian_reports_no_errors_or_warnings(deb: Path):
    result = subprocess.run(
        ["lintian", "--fail-on", "error,warning", "-EvIL", "+pedantic", str(deb)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    tags = [line for line in result.stdout.splitlines() if re.match(r"^[EWP]: ", line)]
    assert result.returncode == 0 and not tags, result.stdout + result.stderr


def test_package_contents(deb: Path):
    files = {line.split()[-1].lstrip(".") for line in dpkg_deb("-c", str(deb)).splitlines()}
    for wanted in (
        "/usr/bin/isodrop",
        "/etc/isodrop/isodrop.toml",
        "/etc/dnsmasq.d/isodrop.conf",
        "/etc/nginx/sites-available/isodrop",
        "/etc/nfs.conf.d/isodrop-nfsd.conf",
        f"{system_unit_dir()}/dnsmasq.service.d/isodrop.conf",
        "/usr/lib/python3/dist-packages/isodrop/templates/menu.ipxe.j2",
        f"{system_unit_dir()}/isodrop.service",
        "/usr/share/man/man1/isodrop.1.gz",
        "/usr/lib/python3/dist-packages/isodrop/journal.py",
        "/usr/lib/python3/dist-packages/isodrop/templates/pxelinux.cfg.j2",
    ):
        assert wanted in files, f"{wanted} not in the package"
    assert not any(f.startswith("/srv") for f in files), "Debian policy: no files in /srv (postinst creates it)"


def test_docs_named_by_messages_are_in_the_package_uncompressed(deb: Path):
    """isodrop's messages and config comments name user docs by path: each must be there, readable as is."""
    files = {line.split()[-1].lstrip(".") for line in dpkg_deb("-c", str(deb)).splitlines()}
    named = set()
    for source in [*REPO.joinpath("isodrop").rglob("*.py"), *REPO.joinpath("contrib").rglob("*.conf")]:
        named |= set(re.findall(r"/usr/share/doc/isodrop/[a-z-]+\.md", source.read_text()))
    named |= set(re.findall(r"/usr/share/doc/isodrop/[a-z-]+\.md", REPO.joinpath("contrib/isodrop.toml").read_text()))
    assert len(named) >= 2, named
    missing = sorted(named - files)
    assert not missing, f"named in messages but not in the package: {missing}"


def test_control_fields(deb: Path):
    info = dpkg_deb("-f", str(deb), "Depends", "Recommends")
    for dependency in ("python3-watchdog", "python3-pycdlib", "python3-jinja2", "python3-sdnotify", "pxelinux"):
        assert dependency in info
    for recommended in ("dnsmasq", "nfs-kernel-server", "syslinux-efi", "zstd", "nginx-light | nginx"):
        assert recommended in info
    # iPXE's binaries serve only bios_loader/uefi_loader = "ipxe", and its package adds an entry to the
    # server's own GRUB menu: suggested, not pulled in
    assert "ipxe" not in info and "ipxe" in dpkg_deb("-f", str(deb), "Suggests")
    listing = dpkg_deb("--info", str(deb), "conffiles").split()
    assert "/etc/isodrop/isodrop.toml" in listing and "/etc/dnsmasq.d/isodrop.conf" in listing
    assert "/etc/nginx/sites-available/isodrop" in listing


def test_man_page_renders_without_warnings():
    result = subprocess.run(
        ["man", "--warnings", "-l", str(REPO / "docs/isodrop.1")],
        capture_output=True,
        text=True,
        env={"MANWIDTH": "80", "LC_ALL": "C.UTF-8", "PATH": "/usr/bin:/bin"},
        check=False,
    )
    if result.returncode != 0 and "not found" in result.stderr:
        pytest.skip(f"man cannot run here: {result.stderr.strip()}")
    assert result.returncode == 0 and result.stderr == "", result.stderr
    for section in ("SYNOPSIS", "COMMANDS", "FILES", "EXIT STATUS", "EXAMPLES", "SEE ALSO"):
        assert section in result.stdout
    for command in ("serve", "scan", "status", "inspect", "check"):
        assert re.search(rf"^\s+{command}\b", result.stdout, re.M), f"command {command} not described"


def test_unit_is_a_sandboxed_notify_service():
    unit = UNIT.read_text()
    for line in (
        "Type=notify",
        "ExecStart=/usr/bin/isodrop serve",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "NotifyAccess=main",
        "RuntimeDirectory=isodrop",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "NoNewPrivileges=yes",
    ):
        assert re.search(rf"^{re.escape(line)}$", unit, re.M), f"unit lacks {line}"
    assert re.search(r"^WatchdogSec=\d+", unit, re.M)
    writable = re.search(r"^ReadWritePaths=(.*)$", unit, re.M).group(1).split()  # type: ignore[union-attr]
    assert "/srv/isodrop" not in writable, "the drop folder is only read"
    assert "CAP_KILL" in re.search(r"^CapabilityBoundingSet=(.*)$", unit, re.M).group(1)  # type: ignore[union-attr]


def test_unit_exposure_score():
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", "--no-pager", str(UNIT)],
        capture_output=True,
        text=True,
        check=False,
    )
    match = re.search(r"Overall exposure level for isodrop.service: ([0-9.]+)", result.stdout + result.stderr)
    if match is None and "--offline" in result.stderr:
        pytest.skip(f"this systemd-analyze has no --offline: {result.stderr.strip()}")
    assert match, result.stdout + result.stderr
    score = float(match.group(1))
    print(f"systemd-analyze security: isodrop.service exposure {score}")
    assert score <= MAX_EXPOSURE
