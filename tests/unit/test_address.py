"""isodrop.address: the server's IPv4 address when the config does not name one, read from the routing
table and the interface list, never a host name and never an exception."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from isodrop import address

ROUTE_HEADER = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"


def test_the_default_route_interface_is_the_one_with_destination_zero(tmp_path: Path) -> None:
    table = tmp_path / "route"
    table.write_text(
        ROUTE_HEADER
        + "br0\t0032A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
        + "wlan0\t00000000\t0132A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n"
    )
    assert address.default_route_interface(table) == "wlan0"
    table.write_text(ROUTE_HEADER + "br0\t0032A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n")
    assert address.default_route_interface(table) is None
    assert address.default_route_interface(tmp_path / "missing") is None


def test_loopback_is_listed_with_its_prefix() -> None:
    networks = address.interface_networks()
    if not networks:
        pytest.skip("no `ip -j` here (iproute2)")
    assert ipaddress.IPv4Interface("127.0.0.1/8") in networks["lo"]
    assert "127.0.0.1" in address.interface_addresses()["lo"]


def test_detection_prefers_the_default_route_then_any_non_loopback_then_says_what_to_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    found = {"lo": ["127.0.0.1"], "eth0": ["10.0.0.5"], "wlan0": ["192.168.50.7"]}
    monkeypatch.setattr(address, "interface_addresses", lambda: found)
    monkeypatch.setattr(address, "default_route_interface", lambda: "wlan0")
    assert address.detect_server_address() == ("192.168.50.7", "address of wlan0, the default-route interface")
    monkeypatch.setattr(address, "default_route_interface", lambda: None)
    ip, how = address.detect_server_address()
    assert ip == "10.0.0.5" and "no default route" in how
    monkeypatch.setattr(address, "interface_addresses", lambda: {"lo": ["127.0.0.1"]})
    ip, how = address.detect_server_address()
    assert ip == "127.0.0.1" and "set server_address" in how
