"""How long do kernel + initrd take to reach 1, 10 and 30 PCs at once over TFTP and over HTTP?

    sudo /usr/bin/python3 bench/bench_delivery.py [--full] [--clients 1,10,30] [--case-timeout 300]

An 8 MB kernel and a 70 MB initrd (random bytes, so nothing compresses) are fetched, kernel first as a
boot loader does, by N curl processes started together: over TFTP from dnsmasq (block size 1468, what
dnsmasq grants the loaders on a 1500-byte MTU, and 512, TFTP's default) and over HTTP from nginx. Two
links between a server and a client network namespace (created here, deleted at the end):

- "no delay": a veth pair (latency near zero);
- "1 ms RTT": this kernel has no sch_netem, so two TUN devices, one per namespace, joined by a relay
  (this process) that holds each packet 0.5 ms in each direction and drops beyond a 1000-packet queue
  per direction, as netem's default limit does. MTU 1500 on both ends, as on an Ethernet LAN.

Prints seconds and MB/s per case (MB/s = all bytes delivered / wall time), the HTTP/TFTP speed ratio,
and what limits each case. Without --full, 512-byte TFTP at 1 ms RTT runs for one client only (30 clients
would take about as long as one, ~3 min, each). Not a test; needs root, dnsmasq, nginx and curl.
"""

from __future__ import annotations

import argparse
import collections
import fcntl
import os
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.harness.e2e.netns import entered  # noqa: E402

KERNEL_MB = 8
INITRD_MB = 70
SERVER_IP = "10.214.0.1"
CLIENT_IP = "10.214.0.2"
DELAY_S = 0.0005  # each way: RTT 1 ms
QUEUE_LIMIT = 1000  # packets per direction, netem's default
MB = 1024 * 1024

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000


def run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


class Namespaces:
    """The server and client namespaces, joined by a veth pair or by two TUN devices and the relay."""

    def __init__(self, delayed: bool, work: Path) -> None:
        tag = f"{os.getpid()}-{'d' if delayed else 'v'}"
        self.server, self.client = f"isodrop-bench-srv-{tag}", f"isodrop-bench-cli-{tag}"
        self.relay: Relay | CRelay | None = None
        for ns in (self.server, self.client):
            run("ip", "netns", "add", ns)
            run("ip", "-n", ns, "link", "set", "lo", "up")
        if delayed:
            fd_server = open_tun(self.server, "tun0")
            fd_client = open_tun(self.client, "tun0")
            for ns, mine, peer in ((self.server, SERVER_IP, CLIENT_IP), (self.client, CLIENT_IP, SERVER_IP)):
                run("ip", "-n", ns, "addr", "add", mine, "peer", peer, "dev", "tun0")
                run("ip", "-n", ns, "link", "set", "tun0", "mtu", "1500", "up")
            if shutil.which("cc"):
                self.relay = CRelay(fd_server, fd_client, DELAY_S, QUEUE_LIMIT, work)
            else:
                print("  (no cc: the Python relay is used, and limits HTTP to about 70 MB/s)")
                self.relay = Relay(fd_server, fd_client, DELAY_S, QUEUE_LIMIT)
        else:
            run("ip", "-n", self.server, "link", "add", "veth0", "type", "veth", "peer", "name", "veth1",
                "netns", self.client)  # fmt: skip
            run("ip", "-n", self.server, "addr", "add", f"{SERVER_IP}/24", "dev", "veth0")
            run("ip", "-n", self.client, "addr", "add", f"{CLIENT_IP}/24", "dev", "veth1")
            run("ip", "-n", self.server, "link", "set", "veth0", "up")
            run("ip", "-n", self.client, "link", "set", "veth1", "up")

    def close(self) -> None:
        if self.relay is not None:
            self.relay.stop()
        for ns in (self.server, self.client):
            subprocess.run(["ip", "netns", "delete", ns], capture_output=True, check=False)


def open_tun(namespace: str, name: str) -> int:
    """A TUN device created inside `namespace` (this thread enters it briefly); returns its fd."""
    with entered(namespace):
        fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


RELAY_C = r"""
#define _GNU_SOURCE
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <errno.h>
#include <stdio.h>
/* relay FD_A FD_B DELAY_NS LIMIT: packets read from one fd leave by the other after DELAY_NS;
   more than LIMIT queued in one direction are dropped. Exits when stdin closes. */
enum { SLOT = 2048 };
struct q { char *buf; int *len; long long *due; int head, n, limit; long dropped; };
static long long now(void) {
    struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1000000000LL + t.tv_nsec;
}
int main(int argc, char **argv) {
    int fd[2] = { atoi(argv[1]), atoi(argv[2]) };
    long long delay = atoll(argv[3]);
    int limit = atoi(argv[4]);
    struct q q[2];
    for (int i = 0; i < 2; i++) {
        q[i].buf = malloc((size_t)limit * SLOT); q[i].len = calloc(limit, sizeof(int));
        q[i].due = calloc(limit, sizeof(long long)); q[i].head = q[i].n = 0; q[i].limit = limit; q[i].dropped = 0;
    }
    struct pollfd p[3] = { { fd[0], POLLIN, 0 }, { fd[1], POLLIN, 0 }, { 0, POLLIN, 0 } };
    for (;;) {
        long long t = now(), wait = -1;
        for (int i = 0; i < 2; i++)
            if (q[i].n) { long long w = q[i].due[q[i].head] - t; if (w < 0) w = 0; if (wait < 0 || w < wait) wait = w; }
        struct timespec ts = { wait / 1000000000LL, wait % 1000000000LL };
        if (ppoll(p, 3, wait < 0 ? NULL : &ts, NULL) < 0 && errno != EINTR) return 1;
        if (p[2].revents) break;
        t = now();
        for (int i = 0; i < 2; i++) {
            if (!(p[i].revents & POLLIN)) continue;
            struct q *o = &q[1 - i];  /* read from fd[i], leaves by fd[1-i] */
            for (int k = 0; k < 256; k++) {
                char tmp[SLOT];
                int slot = (o->head + o->n) % o->limit;
                char *dst = o->n < o->limit ? o->buf + (size_t)slot * SLOT : tmp;
                ssize_t r = read(fd[i], dst, SLOT);
                if (r <= 0) break;
                if (o->n >= o->limit) { o->dropped++; continue; }
                o->len[slot] = (int)r; o->due[slot] = t + delay; o->n++;
            }
        }
        t = now();
        for (int i = 0; i < 2; i++) {
            struct q *o = &q[i];
            while (o->n && o->due[o->head] <= t) {
                if (write(fd[i], o->buf + (size_t)o->head * SLOT, o->len[o->head]) < 0) o->dropped++;
                o->head = (o->head + 1) % o->limit; o->n--;
            }
        }
    }
    printf("%ld\n", q[0].dropped + q[1].dropped);
    return 0;
}
"""


class CRelay:
    """The relay as a small C program (compiled here with cc): a Python loop tops out near 70 MB/s,
    less than a gigabit LAN, and would be the limit of every HTTP case."""

    def __init__(self, fd_a: int, fd_b: int, delay: float, limit: int, work: Path) -> None:
        source, binary = work / "relay.c", work / "relay"
        source.write_text(RELAY_C)
        subprocess.run(["cc", "-O2", "-o", str(binary), str(source)], check=True, capture_output=True)
        for fd in (fd_a, fd_b):
            os.set_blocking(fd, False)
        self.fds = (fd_a, fd_b)
        self.proc = subprocess.Popen(
            [str(binary), str(fd_a), str(fd_b), str(int(delay * 1e9)), str(limit)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            pass_fds=(fd_a, fd_b),
        )
        self.dropped = 0

    def stop(self) -> None:
        out, _ = self.proc.communicate("", timeout=10)  # closing stdin ends it
        self.dropped = int(out.strip() or 0)
        for fd in self.fds:
            os.close(fd)


class Relay:
    """Moves packets between two TUN fds, each held `delay` seconds; a full queue drops (tail drop).
    The fallback when no C compiler is installed."""

    def __init__(self, fd_a: int, fd_b: int, delay: float, limit: int) -> None:
        self.fds = (fd_a, fd_b)
        self.delay, self.limit = delay, limit
        self.queues: dict[int, collections.deque[tuple[float, bytes]]] = {
            fd_a: collections.deque(),
            fd_b: collections.deque(),
        }
        self.peer = {fd_a: fd_b, fd_b: fd_a}
        self.dropped = 0
        self.stop_r, self.stop_w = os.pipe()
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self) -> None:
        readable = [*self.fds, self.stop_r]
        while True:
            now = time.monotonic()
            due = [q[0][0] for q in self.queues.values() if q]
            timeout = max(0.0, min(due) - now) if due else None
            ready, _, _ = select.select(readable, [], [], timeout)
            if self.stop_r in ready:
                return
            now = time.monotonic()
            for fd in ready:
                queue = self.queues[self.peer[fd]]  # packets read from fd go out of its peer
                for _ in range(256):
                    try:
                        packet = os.read(fd, 65536)
                    except BlockingIOError:
                        break
                    if len(queue) >= self.limit:
                        self.dropped += 1
                    else:
                        queue.append((now + self.delay, packet))
            now = time.monotonic()
            for fd, queue in self.queues.items():
                while queue and queue[0][0] <= now:
                    try:
                        os.write(fd, queue.popleft()[1])
                    except BlockingIOError:
                        self.dropped += 1

    def stop(self) -> None:
        os.write(self.stop_w, b"x")
        self.thread.join(5)
        for fd in (*self.fds, self.stop_r, self.stop_w):
            os.close(fd)


def start_servers(net: Namespaces, root: Path, work: Path) -> list[subprocess.Popen[bytes]]:
    dnsmasq = [
        "ip", "netns", "exec", net.server, "dnsmasq", "--keep-in-foreground", "--port=0", "--no-resolv",
        "--no-hosts", "--conf-file=/dev/null", f"--listen-address={SERVER_IP}", "--bind-interfaces",
        "--enable-tftp", f"--tftp-root={root}", "--tftp-max=100", "--user=root", f"--pid-file={work}/dnsmasq.pid",
        "--log-facility=/dev/null",
    ]  # fmt: skip
    (work / "nginx-tmp").mkdir(exist_ok=True)
    (work / "nginx.conf").write_text(
        f"daemon off; worker_processes 2; pid {work}/nginx.pid; error_log {work}/nginx-error.log;\n"
        "events { worker_connections 512; }\n"
        f"http {{ access_log off; client_body_temp_path {work}/nginx-tmp; proxy_temp_path {work}/nginx-tmp;\n"
        f" fastcgi_temp_path {work}/nginx-tmp; uwsgi_temp_path {work}/nginx-tmp; scgi_temp_path {work}/nginx-tmp;\n"
        " sendfile on; tcp_nopush on;\n"
        f" server {{ listen {SERVER_IP}:80; location / {{ root {root}; }} }} }}\n"
    )
    nginx = ["ip", "netns", "exec", net.server, "nginx", "-c", f"{work}/nginx.conf", "-e", f"{work}/nginx-error.log"]
    procs = [subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for argv in (dnsmasq, nginx)]
    deadline = time.monotonic() + 10
    while not ((work / "dnsmasq.pid").exists() and (work / "nginx.pid").exists()):
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
            raise RuntimeError(f"dnsmasq or nginx did not start (see {work})")
        time.sleep(0.1)
    return procs


@dataclass
class Case:
    link: str
    protocol: str  # "http", "tftp-1468", "tftp-512"
    clients: int
    seconds: float | None = None  # None: not run; inf: timed out
    note: str = ""


def fetch_all(net: Namespaces, protocol: str, clients: int, timeout: float) -> float:
    """Wall time until all `clients` curl processes have fetched kernel then initrd, sizes checked."""
    if protocol == "http":
        urls, extra = [f"http://{SERVER_IP}/{f}" for f in ("vmlinuz", "initrd.img")], []
    else:
        urls = [f"tftp://{SERVER_IP}/{f}" for f in ("vmlinuz", "initrd.img")]
        extra = ["--tftp-blksize", protocol.split("-")[1]]
    argv = ["ip", "netns", "exec", net.client, "curl", "-sS", "--max-time", str(int(timeout)), *extra,
            "-o", "/dev/null", "-w", "%{size_download}\\n", urls[0], "-o", "/dev/null", urls[1]]  # fmt: skip
    start = time.monotonic()
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(clients)]
    outputs = [p.communicate(timeout=timeout + 30) for p in procs]
    seconds = time.monotonic() - start
    want = [str(KERNEL_MB * MB), str(INITRD_MB * MB)]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        if proc.returncode == 28:
            return float("inf")
        if proc.returncode != 0 or out.split() != want:
            raise RuntimeError(f"curl {protocol}: exit {proc.returncode}, sizes {out.split()}, {err.strip()}")
    return seconds


def limit(case: Case, rtt: float, one_client: Case | None = None) -> str:
    """What bounds this case, from its figures (`one_client`: the same link and protocol, 1 client)."""
    total = (KERNEL_MB + INITRD_MB) * MB
    if case.seconds is None or case.seconds == float("inf"):
        return ""
    if case.protocol.startswith("tftp"):
        blocks = total / int(case.protocol.split("-")[1])
        if rtt and case.clients == 1:
            per_block = case.seconds / blocks * 1000
            return f"round trips: one block per RTT, {blocks:,.0f} blocks x {per_block:.2f} ms (1 ms + relay, dnsmasq)"
        if rtt and one_client and one_client.seconds and case.seconds < one_client.seconds * 1.5:
            return "round trips: each client still waits one RTT per block; the clients overlap"
        return "CPU per block (2 cores shared with the other work here): dnsmasq answers each ack, one at a time"
    rate = case.clients * total / case.seconds / MB
    if rtt:
        return f"the relay's packet rate ({rate:.0f} MB/s in all; a 1 Gbit/s LAN would stop at ~117 MB/s)"
    return f"memory copies on the veth pair ({rate:.0f} MB/s in all)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="1,10,30", help="comma-separated client counts (default 1,10,30)")
    parser.add_argument("--full", action="store_true", help="also 512-byte TFTP at 1 ms RTT for every client count")
    parser.add_argument(
        "--case-timeout", type=float, default=300, help="seconds each transfer (curl --max-time) may take"
    )
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("needs root (network namespaces, TUN devices)", file=sys.stderr)
        return 2
    for tool in ("dnsmasq", "nginx", "curl"):
        if shutil.which(tool) is None:
            print(f"{tool} missing (apt-get install dnsmasq-base nginx-light curl)", file=sys.stderr)
            return 2
    counts = [int(n) for n in args.clients.split(",")]
    work = Path(tempfile.mkdtemp(prefix="isodrop-bench-delivery-"))
    work.chmod(0o755)
    root = work / "root"
    root.mkdir()
    for name, size in (("vmlinuz", KERNEL_MB), ("initrd.img", INITRD_MB)):
        with open(root / name, "wb") as out:
            for _ in range(size):
                out.write(os.urandom(MB))
    os.chmod(root, 0o755)
    cases: list[Case] = []
    try:
        for link, delayed in (("no delay", False), ("1 ms RTT", True)):
            net = Namespaces(delayed, work)
            procs: list[subprocess.Popen[bytes]] = []
            try:
                procs = start_servers(net, root, work)
                for protocol in ("http", "tftp-1468", "tftp-512"):
                    for n in counts:
                        case = Case(link, protocol, n)
                        cases.append(case)
                        if delayed and protocol == "tftp-512" and n > 1 and not args.full:
                            case.note = "not run (about as long as 1 client; --full runs it)"
                            continue
                        case.seconds = fetch_all(net, protocol, n, args.case_timeout)
                        print(f"  {link:9} {protocol:9} {n:3} clients: {case.seconds:8.2f} s", flush=True)
            finally:
                for proc in procs:
                    proc.terminate()
                    proc.wait(10)
                for pid_file in ("dnsmasq.pid", "nginx.pid"):
                    (work / pid_file).unlink(missing_ok=True)
                net.close()
                if net.relay is not None:
                    print(f"  relay dropped {net.relay.dropped} packets (queue full)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(cases)
    return 0


def report(cases: list[Case]) -> None:
    total = (KERNEL_MB + INITRD_MB) * MB
    print(f"\n{KERNEL_MB} MB kernel + {INITRD_MB} MB initrd per client; MB/s = all clients' bytes / wall time\n")
    print(f"{'link':9} {'clients':>7} {'protocol':9} {'seconds':>9} {'MB/s':>8} {'HTTP/TFTP':>9}  limited by")
    by_key = {(c.link, c.protocol, c.clients): c for c in cases}
    for c in cases:
        rtt = 0.001 if c.link == "1 ms RTT" else 0.0
        if c.seconds is None:
            print(f"{c.link:9} {c.clients:7} {c.protocol:9} {'-':>9} {'-':>8} {'':9}  {c.note}")
            continue
        if c.seconds == float("inf"):
            print(f"{c.link:9} {c.clients:7} {c.protocol:9} {'timeout':>9}")
            continue
        rate = c.clients * total / c.seconds / MB
        http = by_key.get((c.link, "http", c.clients))
        ratio = f"{c.seconds / http.seconds:8.1f}x" if c.protocol != "http" and http and http.seconds else ""
        why = limit(c, rtt, by_key.get((c.link, c.protocol, 1)))
        print(f"{c.link:9} {c.clients:7} {c.protocol:9} {c.seconds:9.2f} {rate:8.1f} {ratio:>9}  {why}")


if __name__ == "__main__":
    sys.exit(main())
