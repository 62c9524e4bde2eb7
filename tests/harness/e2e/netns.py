"""A private test network: a namespace with a bridge, a tap for the VM, optionally a "home router".

Nothing leaves the namespace: the bridge has no uplink, the tap is only for our QEMU, and the router
stand-in is a second namespace joined by a veth pair. `close()` deletes both namespaces, which takes every
interface in them along; it is safe to call more than once and after a failed setup.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import count

from tests.harness.e2e.procs import run

_serial = count(1)
CLONE_NEWNET = 0x40000000


@contextlib.contextmanager
def entered(namespace: str) -> Iterator[None]:
    """The calling thread (and the threads, sockets and processes it makes) in network namespace
    `namespace` for the block; back in its own afterwards. setns(2) is per thread: others stay put."""
    libc = ctypes.CDLL(None, use_errno=True)
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{namespace}", os.O_RDONLY)
    try:
        if libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {namespace}")
        yield
    finally:
        libc.setns(home, CLONE_NEWNET)
        os.close(home)
        os.close(target)


@dataclass
class PrivateNet:
    name: str
    subnet: int  # third octet of 10.213.<subnet>.0/24
    bridge: str = "br0"
    tap: str = "tap0"
    namespaces: list[str] = field(default_factory=list)
    host: int = 1  # last octet of the server address; another server on the same bridge has its own

    @property
    def server_ip(self) -> str:
        return f"10.213.{self.subnet}.{self.host}"

    @property
    def router_ip(self) -> str:
        return f"10.213.{self.subnet}.2"

    @property
    def network(self) -> str:
        return f"10.213.{self.subnet}.0"

    @property
    def cidr(self) -> str:
        return f"10.213.{self.subnet}.0/24"

    @property
    def router_ns(self) -> str:
        return f"{self.name}-rt"

    def ns_exec(self, namespace: str | None = None) -> list[str]:
        """Prefix that runs a command inside the test (or the router) namespace."""
        return ["ip", "netns", "exec", namespace or self.name]

    def ip(self, *args: str, namespace: str | None = None) -> None:
        run(["ip", "-n", namespace or self.name, *args])

    @classmethod
    def create(cls) -> PrivateNet:
        serial = next(_serial)
        net = cls(name=f"isodrop-e2e-{os.getpid()}-{serial}", subnet=(os.getpid() + serial) % 200 + 20)
        try:
            run(["ip", "netns", "add", net.name])
            net.namespaces.append(net.name)
            net.ip("link", "set", "lo", "up")
            net.ip("link", "add", net.bridge, "type", "bridge", "forward_delay", "0")
            net.ip("addr", "add", f"{net.server_ip}/24", "dev", net.bridge)
            # An IPv6 ULA lets dnsmasq send router advertisements, sparing iPXE its ~13 s wait for one.
            net.ip("addr", "add", "fd00:213::1/64", "dev", net.bridge, "nodad")
            net.ip("link", "set", net.bridge, "up")
            net.ip("tuntap", "add", net.tap, "mode", "tap")
            net.ip("link", "set", net.tap, "master", net.bridge)
            net.ip("link", "set", net.tap, "up")
        except BaseException:
            net.close()
            raise
        return net

    def add_router(self) -> str:
        """A second namespace on the bridge (veth) for a DHCP-only server; returns its interface name."""
        run(["ip", "netns", "add", self.router_ns])
        self.namespaces.append(self.router_ns)
        self.ip("link", "set", "lo", "up", namespace=self.router_ns)
        self.ip("link", "add", "vbr", "type", "veth", "peer", "name", "vrt", "netns", self.router_ns)
        self.ip("link", "set", "vbr", "master", self.bridge)
        self.ip("link", "set", "vbr", "up")
        self.ip("addr", "add", f"{self.router_ip}/24", "dev", "vrt", namespace=self.router_ns)
        self.ip("link", "set", "vrt", "up", namespace=self.router_ns)
        return "vrt"

    def add_server(self, host: int) -> PrivateNet:
        """Another server's namespace on the bridge (veth), address 10.213.<subnet>.<host>, and what its
        servers need: the same network seen from there (`bridge` is its veth end, `server_ip` its address).
        The namespace is deleted with this network's; the returned view owns nothing."""
        namespace = f"{self.name}-s{host}"
        run(["ip", "netns", "add", namespace])
        self.namespaces.append(namespace)
        self.ip("link", "set", "lo", "up", namespace=namespace)
        self.ip("link", "add", f"vbr{host}", "type", "veth", "peer", "name", "vsrv", "netns", namespace)
        self.ip("link", "set", f"vbr{host}", "master", self.bridge)
        self.ip("link", "set", f"vbr{host}", "up")
        view = PrivateNet(name=namespace, subnet=self.subnet, bridge="vsrv", tap="", host=host)
        view.ip("addr", "add", f"{view.server_ip}/24", "dev", view.bridge)
        view.ip("addr", "add", f"fd00:213::{host}/64", "dev", view.bridge, "nodad")  # for its RAs, as above
        view.ip("link", "set", view.bridge, "up")
        return view

    def close(self) -> None:
        for namespace in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "delete", namespace], capture_output=True, check=False)
        self.namespaces.clear()
