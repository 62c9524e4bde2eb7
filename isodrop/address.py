"""Which IPv4 address clients reach this server on, when the config does not say.

The address of the interface that holds the default route is what a PXE client on the same LAN
sees; archiso needs an IPv4 address (not a name) in its command line, so we never fall back to a
host name. No packet is sent: the kernel's routing table and interface list are read.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import subprocess
from pathlib import Path

log = logging.getLogger(__name__)


def default_route_interface(route_table: Path = Path("/proc/net/route")) -> str | None:
    try:
        lines = route_table.read_text().splitlines()[1:]
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) > 2 and fields[1] == "00000000":
            return fields[0]
    return None


def interface_networks() -> dict[str, list[ipaddress.IPv4Interface]]:
    """IPv4 addresses with their prefix by interface, from `ip -j -4 addr` (iproute2)."""
    try:
        out = subprocess.run(["ip", "-j", "-4", "addr"], capture_output=True, text=True, timeout=10, check=True)
        data = json.loads(out.stdout)
    except (OSError, subprocess.SubprocessError, ValueError):
        return {}
    return {
        link["ifname"]: [
            ipaddress.IPv4Interface(f"{a['local']}/{a.get('prefixlen', 32)}")
            for a in link.get("addr_info", [])
            if a.get("family") == "inet"
        ]
        for link in data
    }


def interface_addresses() -> dict[str, list[str]]:
    """IPv4 addresses by interface."""
    return {name: [str(net.ip) for net in nets] for name, nets in interface_networks().items()}


def detect_server_address() -> tuple[str, str]:
    """(address, how it was found). Falls back to 127.0.0.1 with a reason, never raises."""
    addresses = interface_addresses()
    iface = default_route_interface()
    if iface and addresses.get(iface):
        return addresses[iface][0], f"address of {iface}, the default-route interface"
    for name, addrs in sorted(addresses.items()):
        for addr in addrs:
            if not addr.startswith("127."):
                return addr, f"first non-loopback address (on {name}); no default route"
    return "127.0.0.1", "no network address found; set server_address in the config"


def server_address(configured: str) -> tuple[str, str]:
    """(address, how it was found): `configured` (server_address in the config), else detected."""
    if configured:
        return configured, "server_address in the config"
    return detect_server_address()
