"""How PCs spread over two isodrop servers answering proxy-DHCP side by side (README "A second server").

    sudo /usr/bin/python3 bench/bench_two_servers.py [--pcs 200] [--rounds 3]

One bridge (tests/harness/e2e, the harness the VM tests use) joins a stand-in home router (dnsmasq, DHCP only, its
own namespace), server A (the bridge's namespace) and server B (its own), A and B each running dnsmasq
with contrib/dnsmasq/isodrop-proxy.conf (only interface, addresses and TFTP root replaced). Another
namespace plays the PCs: each sends the
DHCPDISCOVER a BIOS PXE ROM sends (vendor class PXEClient, client architecture 0, its own MAC and
transaction id), broadcast, and every answer is recorded in arrival order.

Per round, for PCs one after another and for all of them at once (a rush), it counts which server's proxy
offer arrived first, and which one iPXE (QEMU's and many NICs' boot ROM) would keep: iPXE leaves discovery
as soon as it holds the router's offer and a proxy offer, keeping the latest proxy offer received by then
(a later one of equal priority replaces an earlier one). Other firmware may choose differently. A PC here
sends its DISCOVER once and waits (a real PXE ROM asks again after a few seconds): "none" counts PCs that
got no proxy offer within the wait. The router has 236 addresses for at most 200 PCs. Only the
DHCP exchange is measured: no TFTP, HTTP or NFS load, both servers idle on the same (shared) CPUs. Not a
test; processes started here are stopped by PID.
"""

from __future__ import annotations

import argparse
import os
import random
import select
import socket
import struct
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.harness.e2e.netns import PrivateNet, entered  # noqa: E402
from tests.harness.e2e.procs import Proc  # noqa: E402
from tests.harness.e2e.servers import PROXY_SNIPPET, start_dnsmasq, start_router  # noqa: E402

COOKIE = b"\x63\x82\x53\x63"
PC_HOST = 9  # the PCs' namespace address on the bridge (they use it only to reach the broadcast)
SO_RCVBUFFORCE = 33  # <asm-generic/socket.h>: a receive buffer past rmem_max (root); Python lacks the name


def discover(mac: bytes, xid: int) -> bytes:
    """A BIOS PXE ROM's DHCPDISCOVER: broadcast flag, PXEClient vendor class, architecture 0, UNDI 2.1."""
    header = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", 1, 1, 6, 0, xid, 0, 0x8000, *[b"\0" * 4] * 4, mac, b"", b"")
    options = [
        (53, b"\x01"),
        (60, b"PXEClient:Arch:00000:UNDI:002001"),
        (93, b"\x00\x00"),
        (94, b"\x01\x02\x01"),
        (97, b"\x00" + mac * 2 + mac[:4]),
        (55, bytes([1, 3, 6, 43, 60, 66, 67])),
    ]
    body = b"".join(bytes([code, len(value)]) + value for code, value in options)
    return header + COOKIE + body + b"\xff"


def answer(packet: bytes) -> tuple[int, str, bool] | None:
    """(xid, the server's address from option 54, whether it is a proxy offer) of a DHCP reply."""
    if len(packet) < 240 or packet[0] != 2 or packet[236:240] != COOKIE:
        return None
    xid = struct.unpack("!I", packet[4:8])[0]
    yiaddr = packet[16:20]
    options, i = {}, 240
    while i < len(packet) and packet[i] != 255:
        if packet[i] == 0:
            i += 1
            continue
        options[packet[i]] = packet[i + 2 : i + 2 + packet[i + 1]]
        i += 2 + packet[i + 1]
    server = socket.inet_ntoa(options.get(54, b"\0\0\0\0"))
    proxy = yiaddr == b"\0\0\0\0" and options.get(60, b"").startswith(b"PXEClient")
    return xid, server, proxy


def chosen(replies: list[tuple[str, bool]]) -> tuple[str, str]:
    """(first proxy offer to arrive, the proxy offer iPXE keeps) from one PC's replies in arrival order."""
    first = next((server for server, proxy in replies if proxy), "none")
    kept, router = "none", False
    for server, proxy in replies:
        router = router or not proxy
        if proxy:
            kept = server
        if router and kept != "none":
            break
    return first, kept


def exchange(sock: socket.socket, pcs: int, rush: bool, wait: float = 5.0) -> list[list[tuple[str, bool]]]:
    """Send each PC's DISCOVER (all at once when `rush`, else one by one) and gather the replies."""
    base = random.randrange(1 << 31)
    replies: dict[int, list[tuple[str, bool]]] = {base + n: [] for n in range(pcs)}

    def gather(until: float) -> None:
        while (left := until - time.monotonic()) > 0:
            if not select.select([sock], [], [], left)[0]:
                return
            got = answer(sock.recv(2048))
            if got and got[0] in replies:
                replies[got[0]].append(got[1:])

    for n in range(pcs):
        mac = bytes([0x52, 0x54, 0x01, n >> 16 & 255, n >> 8 & 255, n & 255])
        sock.sendto(discover(mac, base + n), ("255.255.255.255", 67))
        if not rush:
            gather(time.monotonic() + 0.3)
    gather(time.monotonic() + wait)
    return list(replies.values())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pcs", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not 1 <= args.pcs <= 230:
        parser.error("--pcs: 1 to 230 (the router's addresses, and a byte of each MAC, must go round)")
    if os.geteuid() != 0:
        sys.exit("needs root (network namespaces)")
    work = Path(tempfile.mkdtemp(prefix="isodrop-bench-two-"))
    work.chmod(0o755)
    net = PrivateNet.create()
    procs: list[Proc] = []
    try:
        b_net = net.add_server(3)
        pcs_net = net.add_server(PC_HOST)
        prefix = net.network.rsplit(".", 1)[0]
        more = [f"--dhcp-range={prefix}.{lo},{prefix}.{hi},255.255.255.0,1h" for lo, hi in ((10, 49), (100, 254))]
        procs.append(start_router(net, work, (*more, "--dhcp-lease-max=1000")))  # 236 addresses in all
        for name, server in (("a", net), ("b", b_net)):
            (work / name / "tftp").mkdir(parents=True)
            procs.append(start_dnsmasq(server, PROXY_SNIPPET, work / name / "tftp", work / name))
        names = {net.server_ip: "A", b_net.server_ip: "B", "none": "none"}
        with entered(pcs_net.name):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 16 * 1024 * 1024)  # no reply lost here
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, pcs_net.bridge.encode())
            sock.bind(("0.0.0.0", 68))
        time.sleep(1)
        print(f"{args.pcs} PCs per round, servers A {net.server_ip} and B {b_net.server_ip}, router {net.router_ip}")
        print("round  how           offers seen: router    A    B  first proxy offer A/B/none  iPXE keeps A/B/none")
        for number in range(1, args.rounds + 1):
            for rush in (False, True):
                results = exchange(sock, args.pcs, rush)
                seen = Counter(names.get(s, s) if proxy else "router" for r in results for s, proxy in r)
                first = Counter(names.get(chosen(r)[0], "?") for r in results)
                kept = Counter(names.get(chosen(r)[1], "?") for r in results)
                how = "all at once" if rush else "one by one"
                print(
                    f"{number:5}  {how:12}  {seen['router']:18} {seen['A']:4} {seen['B']:4}  "
                    f"{first['A']:13} {first['B']:4} {first['none']:4}  "
                    f"{kept['A']:10} {kept['B']:4} {kept['none']:4}",
                    flush=True,
                )
        sock.close()
    finally:
        for proc in reversed(procs):
            proc.stop()
        net.close()
    print(f"logs: {work}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
