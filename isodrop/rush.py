"""Many PCs booting at once: the server limits that throttle a rush, for `isodrop check`.

dnsmasq serves at most `tftp-max` TFTP transfers at once (50 by default); a booting PC has one open at a
time, so the next PC's request waits unanswered in the socket and its firmware times out or asks again
(bench/bench_rush.py: of 100 PCs against the default, 79 had not booted after 240 s; with tftp-max=500
all 100 had everything after 110 s, README "Many PCs at once"). The kernel NFS server starts the
[nfsd] threads of nfs.conf (8 by default on Debian 12, 16 on Debian 13) and accepts (threads + 3) x 20
connections. Reading the files is pure; `SystemFiles` says where they are.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from isodrop.config import Config
from isodrop.findings import OK, WARN, Finding

DNSMASQ_DEFAULT_TFTP_MAX = 50
NFSD_DEFAULT_THREADS = 8  # rpc.nfsd(8) with no count and no [nfsd] threads (Debian 12)
NFSDCTL_DEFAULT_THREADS = 16  # nfsdctl(8) autostart without [nfsd] threads (Debian 13's nfs-server.service)
PCS_PER_NFSD_THREAD = 4  # rule of thumb (4-8 threads per core is the usual advice); not measured here
NFSD_CONNECTIONS_PER_THREAD = 20  # the kernel's limit: (threads + 3) x 20 connections
TFTP_KERNELS_WARN_FROM = 50  # PCs; bench_rush: a rush over TFTP took 1.5-1.8x the link's time, HTTP 1.03-1.07x
SHIPPED_TFTP_MAX = 500  # what contrib/dnsmasq/*.conf set
SHIPPED_DNSMASQ_SNIPPET = "/etc/dnsmasq.d/isodrop.conf"
SHIPPED_NFS_DROP_IN = "/etc/nfs.conf.d/isodrop-nfsd.conf"
# Debian's dnsmasq service reads the main file and then /etc/dnsmasq.d without these (/etc/default/dnsmasq).
DEBIAN_CONF_DIR_EXCLUDES = (".dpkg-dist", ".dpkg-old", ".dpkg-new")
_COMMENT = re.compile(r"(^|\s)#.*$")  # dnsmasq: "#" at the start of a line or after a blank


@dataclass(frozen=True)
class SystemFiles:
    dnsmasq_conf: Path = Path("/etc/dnsmasq.conf")
    dnsmasq_dir: Path | None = Path("/etc/dnsmasq.d")
    nfsd_threads: Path = Path("/proc/fs/nfsd/threads")
    nfs_conf: Path = Path("/etc/nfs.conf")
    nfs_conf_dir: Path = Path("/etc/nfs.conf.d")
    nfs_default: Path = Path("/etc/default/nfs-kernel-server")
    nfsdctl: Path = Path("/usr/sbin/nfsdctl")


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return None


def _conf_dir_files(spec: str) -> list[Path]:
    """The files a conf-dir option names: `dir[,*.ext or ,.excluded-suffix ...]`, in dnsmasq's order
    (sorted; no dot files, no editor backups)."""
    folder, *filters = spec.split(",")
    wanted = [f[1:] for f in filters if f.startswith("*")]
    excluded = [f for f in filters if f and not f.startswith("*")]
    try:
        names = sorted(p.name for p in Path(folder).iterdir() if p.is_file())
    except OSError:
        return []
    names = [n for n in names if not n.startswith(".") and not n.endswith("~") and not n.startswith("#")]
    if wanted:
        names = [n for n in names if n.endswith(tuple(wanted))]
    return [Path(folder) / n for n in names if not n.endswith(tuple(excluded))]


def dnsmasq_options(files: SystemFiles) -> list[tuple[str, str, Path]]:
    """(option, value, file) for every line dnsmasq reads, in its order: the main file (following
    conf-file= and conf-dir= where they stand), then Debian's /etc/dnsmasq.d."""
    options: list[tuple[str, str, Path]] = []
    seen: set[Path] = set()

    def read(path: Path) -> None:
        if path in seen:
            return
        seen.add(path)
        text = _read(path)
        for raw in (text or "").splitlines():
            line = _COMMENT.sub("", raw).strip()
            if not line:
                continue
            name, _, value = line.partition("=")
            name, value = name.strip(), value.strip()
            options.append((name, value, path))
            if name == "conf-file" and value:
                read(Path(value))
            elif name == "conf-dir" and value:
                for included in _conf_dir_files(value):
                    read(included)

    read(files.dnsmasq_conf)
    if files.dnsmasq_dir is not None:
        for included in _conf_dir_files(",".join((str(files.dnsmasq_dir), *DEBIAN_CONF_DIR_EXCLUDES))):
            read(included)
    return options


def tftp_max(options: Iterable[tuple[str, str, Path]]) -> tuple[int, str] | None:
    """dnsmasq's TFTP transfer limit and where it comes from (the last tftp-max read wins); None when
    no file enables TFTP."""
    options = list(options)
    if not any(name == "enable-tftp" for name, _, _ in options):
        return None
    limit, where = DNSMASQ_DEFAULT_TFTP_MAX, "dnsmasq's default"
    for name, value, path in options:
        if name == "tftp-max" and value.isdigit():
            limit, where = int(value), f"tftp-max in {path}"
    return limit, where


def _nfs_conf_threads(text: str) -> str | None:
    """The [nfsd] section's threads value of one nfs.conf(5) file, or None."""
    section, found = "", None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and "]" in line:
            section = line[1 : line.index("]")].strip().lower()
            continue
        name, sep, value = line.partition("=")
        if sep and section == "nfsd" and name.strip().lower() == "threads":
            value = value.strip().strip("'\"")
            found = value or found
    return found


def nfsd_threads(files: SystemFiles) -> tuple[int, str]:
    """The kernel NFS server's thread count and its source: the running server's, else what it would
    start with: [nfsd] threads of nfs.conf, then of nfs.conf.d/*.conf in order, else the default of the
    program Debian's nfs-server.service runs (Debian 12: `rpc.nfsd`, 8; Debian 13: `nfsdctl autostart ||
    rpc.nfsd`, 16). Neither unit reads /etc/default/nfs-kernel-server (see `ignored_rpcnfsdcount`)."""
    running = _read(files.nfsd_threads)
    if running is not None and running.strip().isdigit() and int(running) > 0:
        return int(running), f"running nfsd ({files.nfsd_threads})"
    if files.nfsdctl.exists():
        threads, where = NFSDCTL_DEFAULT_THREADS, "nfsdctl's default"
    else:
        threads, where = NFSD_DEFAULT_THREADS, "rpc.nfsd's default"
    candidates = [files.nfs_conf]
    with contextlib.suppress(OSError):
        candidates += sorted(p for p in files.nfs_conf_dir.iterdir() if p.suffix == ".conf")
    for path in candidates:
        value = _nfs_conf_threads(_read(path) or "")
        if value is not None and value.isdigit():
            threads, where = int(value), f"threads in {path}"
    return threads, where


def ignored_rpcnfsdcount(files: SystemFiles) -> int | None:
    """RPCNFSDCOUNT set in /etc/default/nfs-kernel-server, which nothing reads under systemd: Debian 12's
    and 13's nfs-server.service (nfs-kernel-server.service is an alias) run rpc.nfsd / nfsdctl without it;
    only the SysV init script passed it (Debian 12), and Debian 13 dropped it there too."""
    match = re.search(r"^\s*RPCNFSDCOUNT\s*=\s*[\"']?(\d+)", _read(files.nfs_default) or "", re.M)
    return int(match.group(1)) if match else None


def nfsd_threads_needed(clients: int) -> int:
    return max(NFSD_DEFAULT_THREADS, math.ceil(clients / PCS_PER_NFSD_THREAD))


def tftp_kernel_firmwares(config: Config) -> list[str]:
    """Firmwares whose kernels and initrds come over TFTP: all but iPXE with http_url (and GRUB with
    http_url when Secure Boot is off, which this server cannot know)."""
    over_tftp = []
    for firmware, loader in (("BIOS", config.bios_loader), ("UEFI", config.uefi_loader)):
        if config.http_url and loader == "ipxe":
            continue
        secure_boot = " with Secure Boot on" if config.http_url and loader == "grub" else ""
        over_tftp.append(f"{firmware} ({loader}{secure_boot})")
    return over_tftp


def report(config: Config, files: SystemFiles | None = None) -> list[Finding]:
    """(level, message) lines for `isodrop check`: each limit against expected_clients, with the fix."""
    files = files or SystemFiles()
    pcs = config.expected_clients
    lines: list[Finding] = []
    limit = tftp_max(dnsmasq_options(files))
    if limit is None:
        where = f"{files.dnsmasq_conf}, {files.dnsmasq_dir} or their includes"
        lines.append(Finding(OK, f"many PCs at once: dnsmasq's TFTP limit not checked: no enable-tftp in {where}"))
    else:
        value, where = limit
        if value < pcs:
            fix = f"tftp-max={max(pcs, SHIPPED_TFTP_MAX)} in {SHIPPED_DNSMASQ_SNIPPET}"
            lines.append(
                Finding(
                    WARN,
                    f"dnsmasq serves {value} TFTP transfers at once ({where}), fewer than expected_clients = {pcs}: "
                    f"PCs beyond {value} time out or retry; set {fix} and restart dnsmasq",
                )
            )
        else:
            lines.append(Finding(OK, f"dnsmasq serves {value} TFTP transfers at once ({where}), enough for {pcs} PCs"))
    if config.nfs_server == "kernel":
        threads, where = nfsd_threads(files)
        ignored = ignored_rpcnfsdcount(files)
        if ignored is not None and ignored != threads:
            where += f"; RPCNFSDCOUNT={ignored} in {files.nfs_default} is not read by nfs-server.service"
        needed = nfsd_threads_needed(pcs)
        connections = (threads + 3) * NFSD_CONNECTIONS_PER_THREAD
        if threads < needed or connections < pcs:
            lines.append(
                Finding(
                    WARN,
                    f"kernel NFS server: {threads} threads ({where}) for expected_clients = {pcs}: {needed} or more "
                    f"serve a rush (one per {PCS_PER_NFSD_THREAD} PCs); it accepts {connections} connections. Set "
                    f"[nfsd] threads in {SHIPPED_NFS_DROP_IN}, then systemctl restart nfs-server",
                )
            )
        else:
            lines.append(Finding(OK, f"kernel NFS server: {threads} threads ({where}), enough for {pcs} PCs"))
    over_tftp = tftp_kernel_firmwares(config)
    if not over_tftp:
        lines.append(Finding(OK, "kernels and initrds go over HTTP (http_url) for BIOS and UEFI clients"))
    elif pcs >= TFTP_KERNELS_WARN_FROM:
        lines.append(
            Finding(
                WARN,
                f"kernels and initrds go over TFTP for {', '.join(over_tftp)}: with {pcs} PCs at once TFTP takes about "
                '1.7 times as long as HTTP; set http_url and bios_loader = "ipxe" '
                '(/usr/share/doc/isodrop/booting.md "Many PCs at once")',
            )
        )
    else:
        lines.append(Finding(OK, f"kernels and initrds go over TFTP for {', '.join(over_tftp)} (fine for {pcs} PCs)"))
    return lines
