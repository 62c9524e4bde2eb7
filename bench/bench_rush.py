"""Rush hour: N PCs network-boot at the same moment against the servers as isodrop configures them.

    sudo /usr/bin/python3 bench/bench_rush.py [--clients 10,50,100,200] [--loaders pxelinux,ipxe]
        [--servers 1,2] [--link 1gbit] [--kernel-mb 8] [--initrd-mb 40] [--root-mb 1.04] [--dnsmasq-snippet FILE]

A server set, in a network namespace of its own made here (tests/harness/e2e: the harness the VM tests use):
- dnsmasq from contrib/dnsmasq/isodrop-proxy.conf (only interface, addresses and TFTP root replaced);
- nginx with the site in contrib/nginx/isodrop, inside Debian's nginx.conf settings;
- NFS: nfs-ganesha with the EXPORT block isodrop writes. The kernel here has no nfsd, so the kernel NFS
  server's thread count (8 by default) cannot be measured by this bench; `isodrop check` reports it.
Each server set has its own address (10.213.x.3, 10.213.x.4), its own TFTP root and tree (its menus name
it alone) and its own link: a veth to a bridge (the PCs' switch) with `tc tbf` on the server's side (server
to PCs). The PCs: one client namespace on that bridge, one address per PC (10.213.x.10 upwards); their
side is not limited, as a switch's backplane is not the bottleneck.
--servers 1,2 runs every N with one server set, then with two. With two, PC i boots from server i mod 2:
alternately, because these PCs do no DHCP (they start at the TFTP download), so no offer chooses for them;
and bench/bench_two_servers.py found no steady proportion to copy (its splits swung from about 1:1 to 4:1
between rounds). An even split is the best case for two servers; with an uneven one, the busier server's
share sets the time.

Each PC, all started together, replays a BIOS boot:
- pxelinux (the default): over TFTP (curl, block size 1468 as dnsmasq grants on a 1500-byte MTU) bios.0,
  ldlinux.c32, the config names pxelinux asks for (01-<mac>, the address in hex shortened digit by digit:
  all missing), pxelinux.cfg/default, menu.c32, libutil.c32, kernel, initrd;
- ipxe (bios_loader = "ipxe" with http_url): bios.0 and ipxe/menu.ipxe over TFTP, kernel and initrd
  over HTTP;
then the root: an NFSv3 mount of the tree and READs of live/filesystem.squashfs (1 MiB each, as the
kernel's client negotiates with this server). How much a live system reads of its squashfs while booting
(--root-mb) defaults to the one figure measured here (bench/root_reads.py: strace on ganesha's reads
during a real BIOS PXE boot of tests/system/test_e2e_boot.py's Debian-live ISO): 1.04 MB, all of that ISO's
1.04 MB squashfs, whose "live system" is busybox and a marker script. A desktop live system reads more of
a far larger squashfs; that was not measured: give --root-mb for it.
A file that fails is tried again (--attempts, like a PXE ROM's and pxelinux's retries); the run ends at
--deadline seconds, and PCs unfinished then count as failed. Processes started here are stopped by PID.

Prints, per loader, N and number of servers: the time until the last PC has everything, PCs that failed,
failed transfers and retries, the bytes that crossed the links to the PCs (their veth's counter, Ethernet
headers included, as tbf counts them) and the ratio of the time to the link limit (those bytes / (the tbf
rate x servers)); for kernel+initrd over HTTP the same ratio over the window from the first PC asking to
the last having them; beside the targets of issue 21; and, with --servers 1,2, the two times side by side.
Needs root, dnsmasq, nginx, curl, nfs-ganesha, rpcbind, tc. Not a test.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench import nfs3read  # noqa: E402
from isodrop.nfs.ganesha import Ganesha  # noqa: E402
from tests.harness.e2e.netns import PrivateNet, entered  # noqa: E402
from tests.harness.e2e.procs import Proc, run  # noqa: E402
from tests.harness.e2e.servers import NFS_MOUNT_PORT, PROXY_SNIPPET, start_dnsmasq, start_ganesha, start_shipped_site  # noqa: E402

MB = 1_000_000
MiB = 1024 * 1024
FIRST_HOST = 10  # PC addresses: 10.213.x.10 ...
MAX_CLIENTS = 230
TFTP_BLKSIZE = 1468
SLUG = "debian-live"
TARGET_CLIENTS = 100
# bench/root_reads.py, one BIOS PXE boot of tests/harness/e2e/liveiso.py's "e2e-one" ISO: ganesha read 1,040,384
# bytes of live/filesystem.squashfs (all of its 1,040,384: busybox + init) while the PC booted to its marker.
ROOT_MB_MEASURED = 1.04
TARGET_HTTP_RATIO = 1.5
TARGET_RUSH_RATIO = 2.0
SERVER_HOSTS = (3, 4)  # server sets' addresses: 10.213.x.3, 10.213.x.4 (.1 is the switch's own)
LOADER_FILES = {  # name in the TFTP root: where Debian has it
    "pxelinux.0": Path("/usr/lib/PXELINUX/pxelinux.0"),
    "ldlinux.c32": Path("/usr/lib/syslinux/modules/bios/ldlinux.c32"),
    "menu.c32": Path("/usr/lib/syslinux/modules/bios/menu.c32"),
    "libutil.c32": Path("/usr/lib/syslinux/modules/bios/libutil.c32"),
    "undionly.kpxe": Path("/usr/lib/ipxe/undionly.kpxe"),
}


@dataclass
class Pc:
    """One booting PC: its address and what happened to it."""

    index: int
    address: str
    server: ServerSet
    failed_transfers: int = 0
    retries: int = 0
    done_at: float | None = None
    problem: str = ""
    failures: list[str] = field(default_factory=list)  # each failed transfer, with its time
    http_window: tuple[float, float] | None = None

    @property
    def mac_name(self) -> str:
        return f"01-52-54-00-00-{self.index // 256:02x}-{self.index % 256:02x}"

    def hex_names(self) -> list[str]:
        """pxelinux's config names from the address: the full hex form, then one digit shorter each time."""
        full = "".join(f"{int(octet):02X}" for octet in self.address.split("."))
        return [full[:n] for n in range(8, 0, -1)]


@dataclass
class Run:
    loader: str
    clients: int
    servers: int
    seconds: float = 0.0
    pcs: list[Pc] = field(default_factory=list)
    wire_bytes: int = 0
    samples: list[tuple[float, int]] = field(default_factory=list)

    def bytes_between(self, begin: float, end: float) -> int:
        """Bytes that crossed the link between two moments of the run (nearest samples outside them)."""
        before = [b for t, b in self.samples if t <= begin] or [self.samples[0][1]]
        after = [b for t, b in self.samples if t >= end] or [self.samples[-1][1]]
        return after[0] - before[-1]

    @property
    def failed_pcs(self) -> int:
        return sum(pc.done_at is None for pc in self.pcs)

    @property
    def failed_transfers(self) -> int:
        return sum(pc.failed_transfers for pc in self.pcs)

    @property
    def retries(self) -> int:
        return sum(pc.retries for pc in self.pcs)


@dataclass
class ServerSet:
    """One complete server (dnsmasq, nginx, nfs-ganesha) in its own namespace on the PCs' switch, with its
    own address, its own TFTP root and tree, and its own link: tbf on its side of its veth (to the PCs)."""

    net: PrivateNet
    work: Path
    procs: list[Proc] = field(default_factory=list)

    @property
    def tftp_root(self) -> Path:
        return self.work / "tftp"

    @property
    def tree(self) -> Path:
        return self.tftp_root / "isodrop" / SLUG

    @property
    def exports(self) -> Path:
        return self.work / "ganesha-exports.conf"

    def build_tree(self, args: argparse.Namespace) -> None:
        """The TFTP root as isodrop lays it out, with random bytes (nothing compresses) for the ISO's files."""
        (self.tftp_root / "pxelinux.cfg").mkdir(parents=True)
        (self.tftp_root / "ipxe").mkdir()
        (self.tree / "live").mkdir(parents=True)
        for name, source in LOADER_FILES.items():
            shutil.copyfile(source, self.tftp_root / name)
        kernel, initrd = f"isodrop/{SLUG}/live/vmlinuz", f"isodrop/{SLUG}/live/initrd.img"
        (self.tftp_root / "pxelinux.cfg/default").write_text(
            f"UI menu.c32\nTIMEOUT 100\nLABEL {SLUG}\n  KERNEL {kernel}\n  INITRD {initrd}\n"
            f"  APPEND boot=live netboot=nfs nfsroot={self.net.server_ip}:{self.tree}\n"
        )
        (self.tftp_root / "ipxe/menu.ipxe").write_text(
            f"#!ipxe\nkernel http://{self.net.server_ip}/isodrop/{SLUG}/live/vmlinuz\n"
            f"initrd http://{self.net.server_ip}/isodrop/{SLUG}/live/initrd.img\nboot\n"
        )
        for name, size in (("vmlinuz", args.kernel_mb), ("initrd.img", args.initrd_mb),
                           ("filesystem.squashfs", args.root_mb)):  # fmt: skip
            with open(self.tree / "live" / name, "wb") as out:
                left = int(size * MB)
                while left:
                    chunk = min(left, MiB)
                    out.write(os.urandom(chunk))
                    left -= chunk
        for path in (self.work, *self.work.rglob("*")):  # dnsmasq and nginx workers read as nobody
            path.chmod(0o755 if path.is_dir() else 0o644)
        self.exports.write_text(Ganesha(self.exports, "*", None).render([self.tree]))

    def use_loader(self, boot_file: str) -> None:
        """bios.0, the name the PCs ask for, becomes `boot_file`."""
        (self.tftp_root / "bios.0").unlink(missing_ok=True)
        shutil.copyfile(self.tftp_root / boot_file, self.tftp_root / "bios.0")
        (self.tftp_root / "bios.0").chmod(0o644)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()


def start_server_set(switch: PrivateNet, host: int, args: argparse.Namespace, work: Path, pcs_ns: str) -> ServerSet:
    """A server at 10.213.x.<host> on the switch, its link limited to --link, its tree built and its three
    servers started; returns once its NFS server serves a READ to the PCs' first address."""
    server = ServerSet(switch.add_server(host), work)
    work.mkdir(mode=0o755)
    run(["tc", "-n", server.net.name, "qdisc", "add", "dev", server.net.bridge, "root", "tbf", "rate", args.link,
         "burst", "256kb", "latency", "20ms"])  # fmt: skip
    try:
        server.build_tree(args)
        server.procs.append(start_dnsmasq(server.net, args.dnsmasq_snippet, server.tftp_root, work))
        nginx_work = work / "nginx"
        nginx_work.mkdir(mode=0o755)
        server.procs.append(start_shipped_site(server.net, server.tftp_root / "isodrop", nginx_work))
        server.procs.append(start_ganesha(server.net, server.exports, work))
        # ganesha takes a few seconds to serve (grace period off, but exports load after the pid file)
        deadline = time.monotonic() + 30
        prefix = server.net.server_ip.rsplit(".", 1)[0]
        with entered(pcs_ns):
            while True:
                try:
                    nfs3read.read_file(server.net.server_ip, f"{prefix}.{FIRST_HOST}", str(server.tree),
                                       "live/vmlinuz", 1, MiB, 5, mount_port=NFS_MOUNT_PORT)  # fmt: skip
                    break
                except (OSError, nfs3read.NfsError):
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.5)
    except BaseException:
        server.stop()
        raise
    return server


class Rush:
    """The PCs' switch (a bridge), the PCs' namespace on it with one address per PC, and up to
    max(--servers) server sets on it, each with its own link to the switch."""

    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args, self.work = args, work
        work.chmod(0o755)  # dnsmasq and nginx workers (nobody) pass through to each server's tree
        self.servers: list[ServerSet] = []
        self.net = PrivateNet.create()
        try:
            self.connect_pcs()
        except BaseException:
            self.net.close()
            raise

    def connect_pcs(self) -> None:
        """The PCs' namespace on the switch, one address per PC; their side is not limited (a switch's
        backplane): each server's own link is."""
        args = self.args
        self.pcs_ns = f"{self.net.name}-pcs"
        self.prefix = self.net.server_ip.rsplit(".", 1)[0]
        run(["ip", "netns", "add", self.pcs_ns])
        self.net.namespaces.append(self.pcs_ns)
        run(["ip", "-n", self.net.name, "link", "add", "vpcs", "type", "veth", "peer", "name", "vsrv", "netns",
             self.pcs_ns])  # fmt: skip
        run(["ip", "-n", self.net.name, "link", "set", "vpcs", "master", self.net.bridge, "up"])
        batch = [f"addr add {self.prefix}.{FIRST_HOST + i}/24 dev vsrv" for i in range(max(args.clients))]
        subprocess.run(["ip", "-n", self.pcs_ns, "-batch", "-"], input="\n".join(batch) + "\n", text=True, check=True)
        run(["ip", "-n", self.pcs_ns, "link", "set", "lo", "up"])
        run(["ip", "-n", self.pcs_ns, "link", "set", "vsrv", "up"])

    def start_servers(self) -> None:
        for number in range(max(self.args.servers)):
            host = SERVER_HOSTS[number]
            self.servers.append(start_server_set(self.net, host, self.args, self.work / f"server-{host}", self.pcs_ns))

    @staticmethod
    def received_bytes() -> int:
        """Bytes that crossed the link to the PCs: the PCs' veth counter, read by a thread inside their
        namespace (/proc/thread-self/net is the calling thread's namespace)."""
        for line in Path("/proc/thread-self/net/dev").read_text().splitlines():
            name, _, counters = line.partition(":")
            if name.strip() == "vsrv":
                return int(counters.split()[0])
        raise RuntimeError("vsrv not found: the calling thread is not in the PCs' namespace")

    def close(self) -> None:
        for server in reversed(self.servers):
            server.stop()
        self.net.close()

    def rush(self, loader: str, clients: int, servers: int) -> Run:
        """All PCs at once; PC i boots from server i mod `servers` (alternately: these PCs do no DHCP)."""
        pcs = [Pc(i, f"{self.prefix}.{FIRST_HOST + i}", self.servers[i % servers]) for i in range(clients)]
        result = Run(loader, clients, servers, pcs=pcs)
        children: set[subprocess.Popen[bytes]] = set()
        lock = threading.Lock()
        with entered(self.pcs_ns):
            before = self.received_bytes()
            start = time.monotonic()
            deadline = start + self.args.deadline
            sampling = threading.Event()
            sampler = threading.Thread(target=self.sample, args=(result, start, sampling))
            sampler.start()
            threads = [
                threading.Thread(target=self.boot, args=(pc, loader, start, deadline, children, lock))
                for pc in result.pcs
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(max(0.0, deadline - time.monotonic()) + 30)
            sampling.set()
            sampler.join()
            result.wire_bytes = self.received_bytes() - before
        with lock:
            for child in children:  # only those still running after the deadline: ours, by PID
                child.kill()
        result.seconds = max((pc.done_at or self.args.deadline) for pc in result.pcs)
        return result

    def sample(self, result: Run, start: float, stop: threading.Event) -> None:
        """(seconds, bytes received so far) every 50 ms, for the bytes of a part of the run."""
        while not stop.wait(0.05):
            result.samples.append((time.monotonic() - start, self.received_bytes()))

    def boot(
        self,
        pc: Pc,
        loader: str,
        start: float,
        deadline: float,
        children: set[subprocess.Popen[bytes]],
        lock: threading.Lock,
    ) -> None:
        """One PC's boot; records its finish time (seconds after `start`) or its problem."""
        server = pc.server.net.server_ip
        live = f"isodrop/{SLUG}/live"
        if loader == "pxelinux":
            configs = [pc.mac_name, *pc.hex_names()]
            steps = [("tftp", "bios.0"), ("tftp", "ldlinux.c32")]
            steps += [("tftp-missing", f"pxelinux.cfg/{name}") for name in configs]
            steps += [("tftp", "pxelinux.cfg/default"), ("tftp", "menu.c32"), ("tftp", "libutil.c32")]
            steps += [("tftp", f"{live}/vmlinuz"), ("tftp", f"{live}/initrd.img")]
        else:
            steps = [("tftp", "bios.0"), ("tftp", "ipxe/menu.ipxe"), ("http", f"{live}/vmlinuz"),
                     ("http", f"{live}/initrd.img")]  # fmt: skip
        for kind, path in steps:
            scheme = "http" if kind == "http" else "tftp"
            url = f"{scheme}://{server}/{path}" if scheme == "tftp" else f"http://{server}/{path}"
            began = time.monotonic() - start
            if not self.fetch(pc, url, kind == "tftp-missing", start, deadline, children, lock):
                return
            if kind == "http":
                first = pc.http_window[0] if pc.http_window else began
                pc.http_window = (first, time.monotonic() - start)
        for attempt in range(self.args.attempts):
            timeout = deadline - time.monotonic()
            if timeout <= 0:
                pc.problem = "deadline reached reading the root"
                return
            try:
                root_bytes = int(self.args.root_mb * MB)
                squashfs = "live/filesystem.squashfs"
                nfs3read.read_file(
                    server,
                    pc.address,
                    str(pc.server.tree),
                    squashfs,
                    root_bytes,
                    MiB,
                    min(timeout, 60),
                    mount_port=NFS_MOUNT_PORT,
                )
                break
            except (OSError, nfs3read.NfsError) as exc:
                pc.failed_transfers += 1
                pc.problem = f"NFS: {exc}"
                pc.failures.append(f"{time.monotonic() - start:.1f} s {pc.problem}")
                if attempt + 1 == self.args.attempts:
                    return
                pc.retries += 1
        pc.done_at = time.monotonic() - start
        pc.problem = ""

    def fetch(
        self,
        pc: Pc,
        url: str,
        missing: bool,
        start: float,
        deadline: float,
        children: set[subprocess.Popen[bytes]],
        lock: threading.Lock,
    ) -> bool:
        """One file with curl from the PC's address; a missing config name is expected to be missing."""
        tftp = ["--tftp-blksize", str(TFTP_BLKSIZE)] if url.startswith("tftp") else []
        for attempt in range(self.args.attempts):
            left = deadline - time.monotonic()
            if left <= 1:
                pc.problem = f"deadline reached before {url}"
                return False
            argv = ["curl", "-sS", "-f", "--interface", pc.address, *tftp, "--connect-timeout", "20",
                    "--max-time", str(int(left)), "-o", "/dev/null", url]  # fmt: skip
            with lock:
                child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                children.add(child)
            _, err = child.communicate()
            with lock:
                children.discard(child)
            if child.returncode == 0 or (missing and child.returncode == 68):  # 68: TFTP file not found
                return True
            pc.failed_transfers += 1
            pc.problem = f"{url}: curl exit {child.returncode}: {err.decode(errors='replace').strip()}"
            pc.failures.append(f"{time.monotonic() - start:.1f} s {pc.problem}")
            if attempt + 1 < self.args.attempts:
                pc.retries += 1
        return False


def link_bytes_per_second(rate: str) -> float:
    """tc's rate syntax (bit/s with k/m/g suffix) in bytes per second."""
    units = {"kbit": 1e3, "mbit": 1e6, "gbit": 1e9, "bit": 1.0}
    for suffix, factor in units.items():
        if rate.lower().endswith(suffix):
            return float(rate[: -len(suffix)]) * factor / 8
    raise ValueError(f"--link {rate!r}: give bits per second like 1gbit or 100mbit")


def report(runs: list[Run], args: argparse.Namespace) -> None:
    rate = link_bytes_per_second(args.link)
    per_pc = args.kernel_mb + args.initrd_mb + args.root_mb
    print(f"\nlink: tc tbf {args.link} ({rate / MB:.0f} MB/s) on each server's own veth to the PCs' switch; link"
          " limit = bytes that crossed to the PCs (Ethernet headers included) / (that rate x servers);"
          " with 2 servers PC i boots from server i mod 2")  # fmt: skip
    print(f"per PC: kernel {args.kernel_mb} MB + initrd {args.initrd_mb} MB + root reads {args.root_mb} MB "
          f"= {per_pc:g} MB (root: --root-mb; {ROOT_MB_MEASURED} MB were measured, all of the test ISO's busybox "
          "squashfs: bench/root_reads.py; a desktop's reads were not measured)\n")  # fmt: skip
    header = (f"{'loader':8} {'PCs':>4} {'srv':>3} {'last PC s':>9} {'failed PCs':>10} {'failed xfers':>12} "
              f"{'retries':>7} {'MB moved':>8} {'limit s':>7} {'ratio':>6} {'k+i HTTP ratio':>14}")  # fmt: skip
    print(header)
    runs = sorted(runs, key=lambda r: (r.loader, r.clients, r.servers))  # 1 and 2 servers side by side
    for r in runs:
        ratio = r.seconds / link_limit(r, rate)
        http = http_ratio(r, rate)
        print(f"{r.loader:8} {r.clients:4} {r.servers:3} {r.seconds:9.1f} {r.failed_pcs:10} {r.failed_transfers:12} "
              f"{r.retries:7} {r.wire_bytes / MB:8.0f} {link_limit(r, rate):7.1f} {ratio:6.2f} {http:>14}")  # fmt: skip
    print("\ntargets (issue 21) vs measured:")
    for r in runs:
        ratio = r.seconds / link_limit(r, rate)
        marks = []
        if r.clients >= TARGET_CLIENTS:
            marks.append(f"zero failed transfers: {'yes' if r.failed_transfers == 0 else f'NO ({r.failed_transfers})'}")
        marks.append(f"rush within {TARGET_RUSH_RATIO}x of the link limit: "
                     f"{'yes' if ratio <= TARGET_RUSH_RATIO else 'NO'} ({ratio:.2f}x)")  # fmt: skip
        if r.loader == "ipxe":
            http = http_ratio(r, rate)
            ok = http != "-" and float(http.rstrip("x")) <= TARGET_HTTP_RATIO
            marks.append(f"kernel+initrd over HTTP within {TARGET_HTTP_RATIO}x: {'yes' if ok else 'NO'} ({http})")
        print(f"  {r.loader:8} {r.clients:4} PCs {r.servers} srv: " + "; ".join(marks))
    for r in runs:
        failures = [f"PC {pc.address} at {f}" for pc in r.pcs for f in pc.failures]
        unfinished = [f"PC {pc.address}: {pc.problem}" for pc in r.pcs if pc.done_at is None]
        for line in [*failures[: args.show], *unfinished[: args.show]]:
            print(f"  {r.loader} {r.clients} PCs {r.servers} srv: {line}")
    one = {(r.loader, r.clients): r for r in runs if r.servers == 1}
    pairs = [(one[r.loader, r.clients], r) for r in runs if r.servers == 2 and (r.loader, r.clients) in one]
    if pairs:
        print("\n2 servers against 1 (time until the last PC has everything):")
    for single, double in pairs:
        print(f"  {single.loader:8} {single.clients:4} PCs: {single.seconds:.1f} s -> {double.seconds:.1f} s"
              f" ({double.seconds / single.seconds:.2f}x)")  # fmt: skip


def link_limit(r: Run, rate: float) -> float:
    """Seconds the bytes that reached the PCs take at the links' rate: each server in the run has its own."""
    return r.wire_bytes / (rate * r.servers) if r.wire_bytes else float("nan")


def http_ratio(r: Run, rate: float) -> str:
    """Kernel+initrd over HTTP: from the first PC starting them to the last having them, against the link
    limit of the bytes that crossed the link meanwhile (HTTP and the other PCs' TFTP and NFS alike)."""
    windows = [pc.http_window for pc in r.pcs if pc.http_window]
    if not windows or not r.samples:
        return "-"
    begin, end = min(b for b, _ in windows), max(e for _, e in windows)
    moved = r.bytes_between(begin, end)
    return f"{(end - begin) / (moved / (rate * r.servers)):.2f}x" if moved else "-"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="10,50,100,200", help=f"PCs per run, comma-separated, up to {MAX_CLIENTS}")
    parser.add_argument("--loaders", default="pxelinux,ipxe", help="pxelinux (all TFTP), ipxe (kernel+initrd HTTP)")
    parser.add_argument("--link", default="1gbit", help="tc tbf rate of each server's link (default 1gbit)")
    parser.add_argument("--servers", default="1", help="server sets per run, comma-separated: 1, 2 or 1,2")
    parser.add_argument("--kernel-mb", type=float, default=8)
    parser.add_argument("--initrd-mb", type=float, default=40)
    parser.add_argument("--root-mb", type=float, default=ROOT_MB_MEASURED, help="MB of its squashfs a PC reads booting")
    parser.add_argument("--attempts", type=int, default=3, help="tries per file before the PC gives up")
    parser.add_argument("--deadline", type=float, default=600, help="seconds a run may take; unfinished PCs fail")
    parser.add_argument("--show", type=int, default=5, help="failed transfers and unfinished PCs to list per run")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (server logs) and say where")
    parser.add_argument("--dnsmasq-snippet", type=Path, default=PROXY_SNIPPET, help="the dnsmasq config to measure")
    args = parser.parse_args()
    args.clients = [int(n) for n in args.clients.split(",")]
    args.servers = [int(n) for n in args.servers.split(",")]
    loaders = args.loaders.split(",")
    if not all(1 <= n <= MAX_CLIENTS for n in args.clients) or not set(loaders) <= {"pxelinux", "ipxe"}:
        parser.error(f"--clients: 1 to {MAX_CLIENTS} each; --loaders: pxelinux and/or ipxe")
    if not all(1 <= n <= len(SERVER_HOSTS) for n in args.servers):
        parser.error(f"--servers: 1 to {len(SERVER_HOSTS)} each")
    if os.geteuid() != 0:
        print("needs root (network namespaces, tc)", file=sys.stderr)
        return 2
    missing = [t for t in ("dnsmasq", "nginx", "curl", "ganesha.nfsd", "rpcbind", "tc") if shutil.which(t) is None]
    missing += [str(p) for p in LOADER_FILES.values() if not p.is_file()]
    if missing:
        print(f"missing: {', '.join(missing)} (tests/apt-packages.txt lists the packages)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="isodrop-bench-rush-"))
    runs: list[Run] = []
    rush: Rush | None = None
    try:
        rush = Rush(args, work)
        rush.start_servers()
        print(f"dnsmasq config: {args.dnsmasq_snippet}; NFS: nfs-ganesha (no kernel nfsd here)", flush=True)
        for loader in loaders:
            for server in rush.servers:
                server.use_loader("pxelinux.0" if loader == "pxelinux" else "undionly.kpxe")
            for n in args.clients:
                for servers in args.servers:
                    result = rush.rush(loader, n, servers)
                    runs.append(result)
                    print(f"  {loader:8} {n:4} PCs, {servers} server(s): last done after {result.seconds:.1f} s, "
                          f"{result.failed_pcs} failed, {result.retries} retries", flush=True)  # fmt: skip
    finally:
        if rush is not None:
            rush.close()
        if args.keep:
            print(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    report(runs, args)
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}"
          f" ({os.cpu_count()} CPUs)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
