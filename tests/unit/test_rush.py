"""`isodrop check` on many PCs at once (isodrop/rush.py): dnsmasq's tftp-max and the kernel NFS server's
threads read from config files written here, each limit against expected_clients, and the shipped fixes
(contrib/dnsmasq, contrib/nfs) passing the check they are for."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from isodrop import rush
from isodrop.config import Config, load, system_defaults

REPO = Path(__file__).resolve().parents[2]


def system(tmp_path: Path) -> rush.SystemFiles:
    """An empty /etc and /proc under tmp_path."""
    (tmp_path / "dnsmasq.d").mkdir()
    (tmp_path / "nfs.conf.d").mkdir()
    return rush.SystemFiles(
        dnsmasq_conf=tmp_path / "dnsmasq.conf",
        dnsmasq_dir=tmp_path / "dnsmasq.d",
        nfsd_threads=tmp_path / "proc-nfsd-threads",
        nfs_conf=tmp_path / "nfs.conf",
        nfs_conf_dir=tmp_path / "nfs.conf.d",
        nfs_default=tmp_path / "default-nfs-kernel-server",
        nfsdctl=tmp_path / "nfsdctl",
    )


def config(**changes: object) -> Config:
    return dataclasses.replace(system_defaults(), **changes)  # type: ignore[arg-type]


def levels(lines: list[tuple[str, str]], word: str) -> list[tuple[str, str]]:
    return [(level, message) for level, message in lines if word in message]


def test_tftp_max_is_dnsmasqs_default_without_the_option(tmp_path: Path) -> None:
    files = system(tmp_path)
    (files.dnsmasq_dir / "tftp.conf").write_text("enable-tftp\ntftp-root=/srv/tftp\n")
    assert rush.tftp_max(rush.dnsmasq_options(files)) == (50, "dnsmasq's default")


def test_no_tftp_enabled_is_not_checked(tmp_path: Path) -> None:
    files = system(tmp_path)
    files.dnsmasq_conf.write_text("tftp-max=5\n# enable-tftp\n")
    assert rush.tftp_max(rush.dnsmasq_options(files)) is None
    ((level, _),) = levels(rush.report(config(), files), "no enable-tftp")
    assert level == "ok"


def test_last_tftp_max_read_wins_in_dnsmasqs_order(tmp_path: Path) -> None:
    files = system(tmp_path)
    extra = tmp_path / "extra.conf"
    extra.write_text("tftp-max=70\n")
    files.dnsmasq_conf.write_text(f"enable-tftp\ntftp-max=60  # a comment\nconf-file={extra}\n")
    (files.dnsmasq_dir / "a.conf").write_text("tftp-max=80\n")
    (files.dnsmasq_dir / "b.conf").write_text("#tftp-max=1\n  # tftp-max=2\ntftp-max = 90\n")
    (files.dnsmasq_dir / "c.conf.dpkg-old").write_text("tftp-max=3\n")  # Debian's service skips these
    (files.dnsmasq_dir / ".hidden").write_text("tftp-max=4\n")
    (files.dnsmasq_dir / "d.conf~").write_text("tftp-max=5\n")
    assert rush.tftp_max(rush.dnsmasq_options(files)) == (90, f"tftp-max in {files.dnsmasq_dir / 'b.conf'}")
    (files.dnsmasq_dir / "b.conf").unlink()
    assert rush.tftp_max(rush.dnsmasq_options(files)) == (80, f"tftp-max in {files.dnsmasq_dir / 'a.conf'}")
    (files.dnsmasq_dir / "a.conf").unlink()
    assert rush.tftp_max(rush.dnsmasq_options(files))[0] == 70, "conf-file= is read where it stands"


def test_conf_dir_option_with_a_pattern(tmp_path: Path) -> None:
    files = dataclasses.replace(system(tmp_path), dnsmasq_dir=None)
    folder = tmp_path / "more"
    folder.mkdir()
    (folder / "one.conf").write_text("tftp-max=120\n")
    (folder / "two.txt").write_text("tftp-max=7\n")
    files.dnsmasq_conf.write_text(f"enable-tftp\nconf-dir={folder},*.conf\nconf-dir={tmp_path / 'absent'}\n")
    assert rush.tftp_max(rush.dnsmasq_options(files))[0] == 120


@pytest.mark.parametrize("snippet", ["isodrop-proxy.conf", "isodrop-dhcp.conf"])
def test_shipped_dnsmasq_snippet_passes_a_rush_of_200(tmp_path: Path, snippet: str) -> None:
    files = system(tmp_path)
    files.dnsmasq_conf.write_text("# Debian's default file: everything commented out\n#tftp-max=50\n")
    shutil.copyfile(REPO / "contrib/dnsmasq" / snippet, files.dnsmasq_dir / "isodrop.conf")
    limit = rush.tftp_max(rush.dnsmasq_options(files))
    assert limit is not None and limit[0] >= 200
    assert levels(rush.report(config(expected_clients=200), files), "TFTP transfers")[0][0] == "ok"


def test_tftp_max_below_expected_clients_warns_with_the_fix(tmp_path: Path) -> None:
    files = system(tmp_path)
    files.dnsmasq_conf.write_text("enable-tftp\n")
    ((level, message),) = levels(rush.report(config(expected_clients=51), files), "TFTP transfers")
    assert level == "WARN"
    assert "50 TFTP transfers" in message and "expected_clients = 51" in message
    assert "tftp-max=500 in /etc/dnsmasq.d/isodrop.conf" in message
    ((level, _),) = levels(rush.report(config(expected_clients=50), files), "TFTP transfers")
    assert level == "ok"


def test_nfsd_threads_sources_in_order(tmp_path: Path) -> None:
    files = system(tmp_path)
    assert rush.nfsd_threads(files) == (8, "rpc.nfsd's default")
    files.nfs_conf.write_text("[mountd]\nthreads = 99\n[nfsd]\n# threads=1\n threads = '16' \n[exportd]\nthreads=3\n")
    assert rush.nfsd_threads(files) == (16, f"threads in {files.nfs_conf}")
    (files.nfs_conf_dir / "b.conf").write_text("[NFSD]\nthreads=48\n")
    (files.nfs_conf_dir / "a.conf").write_text("[nfsd]\nthreads=24\n")
    (files.nfs_conf_dir / "z.conf.bak").write_text("[nfsd]\nthreads=2\n")
    assert rush.nfsd_threads(files) == (48, f"threads in {files.nfs_conf_dir / 'b.conf'}")
    files.nfsd_threads.write_text("0\n")  # nfsd module loaded, server stopped: not what will run
    assert rush.nfsd_threads(files)[0] == 48
    files.nfsd_threads.write_text("64\n")
    assert rush.nfsd_threads(files) == (64, f"running nfsd ({files.nfsd_threads})")


def test_debian_13_default_is_nfsdctls_16(tmp_path: Path) -> None:
    """Debian 13's nfs-server.service runs `nfsdctl autostart || rpc.nfsd`: 16 threads when nfs.conf
    sets none; nfs.conf still wins."""
    files = system(tmp_path)
    files.nfsdctl.write_text("")
    assert rush.nfsd_threads(files) == (16, "nfsdctl's default")
    files.nfs_conf.write_text("[nfsd]\nthreads=40\n")
    assert rush.nfsd_threads(files) == (40, f"threads in {files.nfs_conf}")


def test_rpcnfsdcount_is_not_the_count_and_check_says_so(tmp_path: Path) -> None:
    """Debian 12's and 13's nfs-server.service run rpc.nfsd / nfsdctl without /etc/default/nfs-kernel-server:
    RPCNFSDCOUNT there (Debian 12's file sets 8) changes nothing, and check names it when it differs."""
    files = system(tmp_path)
    files.nfs_default.write_text('# Number of servers to start up\nRPCNFSDCOUNT="32"\n')
    assert rush.nfsd_threads(files) == (8, "rpc.nfsd's default")
    assert rush.ignored_rpcnfsdcount(files) == 32
    ((level, message),) = levels(rush.report(config(expected_clients=100), files), "kernel NFS server")
    assert level == "WARN" and "8 threads (rpc.nfsd's default; RPCNFSDCOUNT=32 in" in message
    assert "is not read by nfs-server.service" in message and "RPCNFSDCOUNT in" not in message
    files.nfs_default.write_text("RPCNFSDCOUNT=8\n")  # Debian 12's shipped value, equal to what runs
    ((_, message),) = levels(rush.report(config(expected_clients=8), files), "kernel NFS server")
    assert "RPCNFSDCOUNT" not in message


def test_few_nfsd_threads_warn_with_the_drop_in(tmp_path: Path) -> None:
    files = system(tmp_path)
    ((level, message),) = levels(rush.report(config(expected_clients=100), files), "kernel NFS server")
    assert level == "WARN" and "8 threads (rpc.nfsd's default)" in message and "25 or more" in message
    assert "/etc/nfs.conf.d/isodrop-nfsd.conf" in message and "220 connections" in message
    assert levels(rush.report(config(expected_clients=32), files), "kernel NFS server")[0][0] == "ok"
    shutil.copyfile(REPO / "contrib/nfs/isodrop-nfsd.conf", files.nfs_conf_dir / "isodrop-nfsd.conf")
    ((level, message),) = levels(rush.report(config(expected_clients=128), files), "kernel NFS server")
    assert level == "ok" and "32 threads" in message, "the shipped drop-in serves 128 PCs"
    assert levels(rush.report(config(expected_clients=129), files), "kernel NFS server")[0][0] == "WARN"


def test_ganesha_has_no_thread_line(tmp_path: Path) -> None:
    lines = rush.report(config(nfs_server="ganesha", expected_clients=500), system(tmp_path))
    assert levels(lines, "NFS server") == []


def test_kernels_over_tftp_warn_for_a_rush_and_http_passes(tmp_path: Path) -> None:
    files = system(tmp_path)
    ((level, message),) = levels(rush.report(config(expected_clients=50), files), "kernels and initrds")
    assert level == "WARN" and "BIOS (pxelinux), UEFI (grub)" in message and 'bios_loader = "ipxe"' in message
    assert levels(rush.report(config(expected_clients=49), files), "kernels and initrds")[0][0] == "ok"
    over_http = config(expected_clients=200, http_url="http://10.0.0.1/isodrop", bios_loader="ipxe", uefi_loader="ipxe")
    ((level, message),) = levels(rush.report(over_http, files), "kernels and initrds")
    assert level == "ok" and "over HTTP" in message
    grub = dataclasses.replace(over_http, uefi_loader="grub")
    ((level, message),) = levels(rush.report(grub, files), "kernels and initrds")
    assert level == "WARN" and "UEFI (grub with Secure Boot on)" in message and "BIOS" not in message


def test_expected_clients_is_read_from_the_config(tmp_path: Path) -> None:
    path = tmp_path / "isodrop.toml"
    path.write_text("expected_clients = 120\n")
    assert load(path).expected_clients == 120
    assert system_defaults().expected_clients == 30
