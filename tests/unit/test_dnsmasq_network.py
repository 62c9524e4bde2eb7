"""dnsmasq's network lines derived by isodrop (isodrop/dnsmasq_network.py, `isodrop setup-dnsmasq`),
`isodrop check`'s findings on dnsmasq's effective configuration, http_url = "auto", and a real dnsmasq
from the shipped proxy snippet + the generated file answering a PXE client's DHCPDISCOVER in a network
namespace this test creates (never on a real interface)."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from isodrop import dnsmasq_network, rush
from isodrop.address import interface_networks
from isodrop.config import ConfigError, from_mapping, served_by, system_defaults
from isodrop.dnsmasq_network import ServerNetwork, findings, is_generated, render, server_network, write
from tests.harness.e2e.netns import entered

REPO = Path(__file__).resolve().parents[2]
PROXY_SNIPPET = REPO / "contrib/dnsmasq/isodrop-proxy.conf"
NET = ServerNetwork("enp3s0", ipaddress.IPv4Interface("10.9.8.7/23"))


def settings(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_generated_file_names_interface_and_proxy_network_of_the_address() -> None:
    text = render(NET)
    assert settings(text) == ["interface=enp3s0", "dhcp-range=10.9.8.0,proxy,255.255.254.0"]
    assert "10.9.8.7" in text and is_generated(text)
    assert render(ServerNetwork("eth1", ipaddress.IPv4Interface("172.16.5.1/16"))).count("172.16.0.0,proxy,255.255.0.0")


def test_edited_or_foreign_file_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "isodrop-network.conf"
    result, changed = write(path, NET)
    assert result.ok and changed and path.read_text() == render(NET)
    assert write(path, NET)[1] is False, "unchanged: not rewritten"
    moved = ServerNetwork("enp3s0", ipaddress.IPv4Interface("10.1.2.3/24"))
    assert write(path, moved)[1] is True and "10.1.2.0,proxy" in path.read_text(), "the address moved"
    edited = path.read_text().replace("interface=enp3s0", "interface=br0")
    path.write_text(edited)
    result, changed = write(path, NET)
    assert result.ok and not changed and "by hand" in result.message
    assert path.read_text() == edited
    path.write_text("interface=wlan0\ndhcp-range=10.9.8.0,proxy\n")  # no header: a person's file
    assert write(path, NET)[1] is False and path.read_text().startswith("interface=wlan0")


def test_server_network_is_the_interface_holding_the_address_never_loopback() -> None:
    networks = {
        "lo": [ipaddress.IPv4Interface("127.0.0.1/8")],
        "br0": [ipaddress.IPv4Interface("192.168.7.2/24"), ipaddress.IPv4Interface("10.0.0.2/8")],
    }
    assert server_network("10.0.0.2", networks) == ServerNetwork("br0", ipaddress.IPv4Interface("10.0.0.2/8"))
    assert server_network("127.0.0.1", networks) is None
    assert server_network("192.168.9.9", networks) is None


def test_http_url_auto_is_this_servers_nginx_path() -> None:
    config = from_mapping({"http_url": "auto"}, system_defaults(), "test")
    assert served_by(config, "192.168.1.2").http_url == "http://192.168.1.2/isodrop/"
    nginx = (REPO / "contrib/nginx/isodrop").read_text()
    assert "location /isodrop/ {" in nginx, "auto names the path the shipped nginx site serves"
    explicit = from_mapping({"http_url": "http://boot.lan/trees"}, system_defaults(), "test")
    assert served_by(explicit, "192.168.1.2") is explicit
    with pytest.raises(ConfigError, match="http_url"):
        from_mapping({"http_url": "automatic"}, system_defaults(), "test")


# --- isodrop check against config files and interfaces -------------------------------------------


def dnsmasq_files(tmp_path: Path, *snippets: str) -> rush.SystemFiles:
    folder = tmp_path / "dnsmasq.d"
    folder.mkdir(parents=True, exist_ok=True)
    (tmp_path / "dnsmasq.conf").write_text("# Debian's default: everything commented out\n#interface=\n")
    for number, text in enumerate(snippets):
        (folder / f"{number}.conf").write_text(text)
    return rush.SystemFiles(dnsmasq_conf=tmp_path / "dnsmasq.conf", dnsmasq_dir=folder)


def check(tmp_path: Path, address: str, networks, *snippets: str, **config: object) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    files = dnsmasq_files(tmp_path, *snippets)
    cfg = dataclasses.replace(system_defaults(), **config)  # type: ignore[arg-type]
    return findings(cfg, rush.dnsmasq_options(files), address, networks)


def failing(lines: list[tuple[str, str]]) -> list[str]:
    return [message for level, message in lines if level == "FAIL"]


@pytest.fixture
def dummy_namespace() -> Iterator[str]:
    """A namespace with interface lan0 (10.77.3.2/24): the only network this 'server' has. A veth pair, not a
    dummy interface: the test machines' kernels may lack the dummy module and cannot load it."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2 to create a network namespace")
    name = f"isodrop-net-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        for args in (
            ["link", "set", "lo", "up"],
            ["link", "add", "lan0", "type", "veth", "peer", "name", "lan1"],
            ["addr", "add", "10.77.3.2/24", "dev", "lan0"],
            ["link", "set", "lan0", "up"],
        ):
            subprocess.run(["ip", "-n", name, *args], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def test_check_fails_with_the_fix_on_the_unedited_old_snippet(dummy_namespace: str, tmp_path: Path) -> None:
    """The problem from issue 18: interface=eth0 and 192.168.1.0 on a server whose network is elsewhere."""
    with entered(dummy_namespace):
        networks = interface_networks()
    assert networks["lan0"] == [ipaddress.IPv4Interface("10.77.3.2/24")]
    old = "interface=eth0\nbind-dynamic\ndhcp-range=192.168.1.0,proxy,255.255.255.0\nenable-tftp\n"
    problems = failing(check(tmp_path, "10.77.3.2", networks, old))
    assert any("interface=eth0" in p and "does not exist" in p and "isodrop setup-dnsmasq" in p for p in problems)
    assert any("answers only on eth0, not on lan0" in p for p in problems)
    assert any("does not contain this server's address 10.77.3.2" in p and "setup-dnsmasq" in p for p in problems)


def test_check_passes_the_shipped_snippet_with_the_generated_file(dummy_namespace: str, tmp_path: Path) -> None:
    with entered(dummy_namespace):
        networks = interface_networks()
    net = server_network("10.77.3.2", networks)
    assert net is not None
    # a GRUB image without the proxy patch (Debian 12's) and one with it (Debian 13's), whatever is installed here
    grub_206, grub_212 = tmp_path / "grub-2.06.efi", tmp_path / "grub-2.12.efi"
    grub_206.write_bytes(b"MZ" + bytes(4096))
    grub_212.write_bytes(b"MZ" + bytes(4096) + dnsmasq_network.PROXY_PATCH_STRING + bytes(64))
    snippets = (PROXY_SNIPPET.read_text(), render(net))
    lines = check(tmp_path, "10.77.3.2", networks, *snippets, grub_efi_file=grub_206)
    assert failing(lines) == []
    assert any("answers PXE clients on 10.77.3.0/24 as proxy-DHCP" in m for level, m in lines if level == "ok")
    uefi = [m for level, m in lines if level == "WARN" and "next-server" in m]
    assert uefi and "10.77.3.2" in uefi[0] and "Proxy-DHCP and UEFI" in uefi[0]
    assert any("Secure Boot verdict" in m for _, m in lines)
    patched = check(tmp_path / "patched", "10.77.3.2", networks, *snippets, grub_efi_file=grub_212)
    assert not any("next-server" in m for level, m in patched if level == "WARN")
    assert any(level == "ok" and "GRUB reads proxy-DHCP offers" in m for level, m in patched)
    alone = check(tmp_path / "alone", "10.77.3.2", networks, PROXY_SNIPPET.read_text())
    assert failing(alone) and "no IPv4 dhcp-range" in failing(alone)[0], "without the network file no PC boots"
    assert any(level == "WARN" and "names no interface=" in m and "lan0" in m for level, m in alone)


def test_check_reads_dhcp_ranges_with_and_without_proxy_or_netmask(tmp_path: Path) -> None:
    networks = {"br0": [ipaddress.IPv4Interface("192.168.50.10/24")]}
    leasing = "interface=br*\ndhcp-range=set:lan,192.168.50.100,192.168.50.199,12h\n"
    lines = check(tmp_path, "192.168.50.10", networks, leasing)
    assert failing(lines) == [] and any("as the DHCP server" in m for _, m in lines)
    assert not any("next-server" in m for _, m in lines), "not proxy mode: GRUB gets next-server from dnsmasq"
    elsewhere = "dhcp-range=192.168.51.0,proxy,255.255.255.0\ndhcp-range=fd00::,proxy\n"
    assert failing(check(tmp_path / "b", "192.168.50.10", networks, elsewhere))
    unsigned = check(tmp_path / "c", "192.168.50.10", networks, leasing, uefi_loader="syslinux-efi")
    assert any(level == "WARN" and "Secure Boot on they do not boot" in m for level, m in unsigned)
    gone = failing(check(tmp_path / "d", "192.168.9.9", networks, leasing))
    assert gone and "on no interface" in gone[0]


def test_check_fails_when_dnsmasq_is_not_running(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    (proc / "4242").mkdir(parents=True)
    (proc / "4242" / "comm").write_text("nginx\n")
    cfg = dataclasses.replace(system_defaults(), dnsmasq_pid_file=tmp_path / "dnsmasq.pid")
    level, message = dnsmasq_network.dnsmasq_running(cfg, proc)
    assert level == "FAIL" and "systemctl start dnsmasq" in message
    (proc / "4242" / "comm").write_text("dnsmasq\n")
    (proc / "4242" / "cmdline").write_bytes(b"/usr/sbin/dnsmasq\0--conf-file=/var/lib/libvirt/dnsmasq/default.conf\0")
    assert dnsmasq_network.dnsmasq_running(cfg, proc)[0] == "FAIL", "libvirt's dnsmasq serves no PXE client"
    (proc / "4242" / "cmdline").write_bytes(b"/usr/sbin/dnsmasq\0-x\0/run/dnsmasq/dnsmasq.pid\0-u\0dnsmasq\0")
    level, message = dnsmasq_network.dnsmasq_running(cfg, proc)
    assert level == "WARN" and "pid 4242" in message and "dnsmasq_pid_file" in message


def run_isodrop(namespace: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        ["ip", "netns", "exec", namespace, sys.executable, "-m", "isodrop", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )


def test_setup_dnsmasq_writes_the_file_for_the_detected_network(dummy_namespace: str, tmp_path: Path) -> None:
    """In the namespace, with a default route on lan0 and no server_address: the file names lan0 and
    10.77.3.0/24; run again it changes nothing; edited, it is kept."""
    subprocess.run(["ip", "-n", dummy_namespace, "route", "add", "default", "dev", "lan0"], check=True)
    target = tmp_path / "isodrop-network.conf"
    config = tmp_path / "isodrop.toml"
    config.write_text(f'dnsmasq_network_file = "{target}"\n')
    done = run_isodrop(dummy_namespace, "--config", str(config), "setup-dnsmasq")
    assert done.returncode == 0, done.stderr
    assert "systemctl restart dnsmasq" in done.stdout
    assert settings(target.read_text()) == ["interface=lan0", "dhcp-range=10.77.3.0,proxy,255.255.255.0"]
    again = run_isodrop(dummy_namespace, "--config", str(config), "setup-dnsmasq")
    assert again.returncode == 0 and "up to date" in again.stdout
    target.write_text(target.read_text() + "log-dhcp\n")
    kept = run_isodrop(dummy_namespace, "--config", str(config), "setup-dnsmasq")
    assert kept.returncode == 0 and "by hand" in kept.stdout and target.read_text().endswith("log-dhcp\n")
    config.write_text(f'dnsmasq_network_file = "{tmp_path / "other.conf"}"\nserver_address = "10.99.0.1"\n')
    absent = run_isodrop(dummy_namespace, "--config", str(config), "setup-dnsmasq")
    assert absent.returncode == 1 and "on no interface" in absent.stderr
    assert not (tmp_path / "other.conf").exists()


# --- a real dnsmasq answering a PXE client ---------------------------------------------------------

SERVER = "10.124.9.1"


def dhcp_discover(mac: bytes, xid: int) -> bytes:
    """A BIOS PXE ROM's DHCPDISCOVER: vendor class PXEClient, client architecture 0 (x86 BIOS)."""
    header = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", 1, 1, 6, 0, xid, 0, 0x8000, b"", b"", b"", b"", mac, b"", b"")
    vendor = b"PXEClient:Arch:00000:UNDI:002001"
    options = (
        b"\x63\x82\x53\x63"
        + bytes([53, 1, 1])
        + bytes([60, len(vendor)])
        + vendor
        + bytes([93, 2, 0, 0])
        + bytes([94, 3, 1, 2, 1])
        + bytes([97, 17, 0])
        + bytes(range(16))
        + bytes([55, 4, 1, 3, 43, 60])
        + b"\xff"
    )
    return header + options


def dhcp_options(packet: bytes) -> dict[int, bytes]:
    options, pos = {}, 240
    while pos < len(packet) and packet[pos] != 255:
        if packet[pos] == 0:
            pos += 1
            continue
        code, length = packet[pos], packet[pos + 1]
        options[code] = packet[pos + 2 : pos + 2 + length]
        pos += 2 + length
    return options


def pxe_offer(namespace: str, interface: str, timeout: float = 8.0) -> bytes | None:
    """Broadcast a PXE DHCPDISCOVER from `interface` inside `namespace`; the first answer, or None."""
    with entered(namespace):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, interface.encode())
        sock.bind(("0.0.0.0", 68))
        mac, xid = bytes.fromhex("525400123456"), 0x1D0C0DE
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            sock.sendto(dhcp_discover(mac, xid), ("255.255.255.255", 67))
            sock.settimeout(1.0)
            try:
                packet = sock.recv(2048)
            except TimeoutError:
                continue
            if len(packet) > 240 and struct.unpack("!I", packet[4:8])[0] == xid:
                return packet
        return None


@pytest.fixture
def veth_namespace() -> Iterator[str]:
    """A namespace with srv0 (the server, 10.124.9.1/24), joined by a veth pair to pc0 in namespace
    `<name>-pc` (a PC with no address yet: in a namespace of its own, or the kernel would drop the server's
    answers to a source address that is its own)."""
    if os.geteuid() != 0 or shutil.which("dnsmasq") is None:
        pytest.skip("needs root and dnsmasq (tests/apt-packages.txt)")
    name = f"isodrop-pxe-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    subprocess.run(["ip", "netns", "add", f"{name}-pc"], check=True)
    try:
        for namespace, args in (
            (name, ["link", "set", "lo", "up"]),
            (name, ["link", "add", "srv0", "type", "veth", "peer", "name", "pc0", "netns", f"{name}-pc"]),
            (name, ["addr", "add", f"{SERVER}/24", "dev", "srv0"]),
            (name, ["link", "set", "srv0", "up"]),
            (f"{name}-pc", ["link", "set", "pc0", "up"]),
        ):
            subprocess.run(["ip", "-n", namespace, *args], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", f"{name}-pc"], check=False)
        subprocess.run(["ip", "netns", "del", name], check=False)


def start_dnsmasq(namespace: str, snippet: Path, network_file: Path, work: Path) -> subprocess.Popen[bytes]:
    pid, log = work / "dnsmasq.pid", work / "dnsmasq.log"
    process = subprocess.Popen(
        [
            *("ip", "netns", "exec", namespace, "dnsmasq"),
            f"--conf-file={snippet}",
            f"--conf-file={network_file}",
            *("--keep-in-foreground", "--port=0", f"--pid-file={pid}"),  # logs: the snippet's, to work/dnsmasq.log
            "--user=root",  # the test's TFTP folder is private to root
        ]
    )
    deadline = time.monotonic() + 10
    while not pid.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.3)
    assert pid.exists() and process.poll() is None, (
        f"dnsmasq did not start: {log.read_text() if log.exists() else process.returncode}"
    )
    return process


def test_shipped_snippet_and_generated_file_answer_a_pxe_client(veth_namespace: str, tmp_path: Path) -> None:
    """dnsmasq from the shipped proxy snippet (only tftp-root moved to a folder of this test) and the file
    `isodrop setup-dnsmasq` writes for srv0 sends a PC a proxy offer: the boot server is this server, no
    address is leased. The old unedited default (192.168.1.0) answers nothing: that is what check catches."""
    tftp = tmp_path / "tftp"
    tftp.mkdir()
    snippet = tmp_path / "isodrop.conf"
    shipped = re.sub(r"^tftp-root=.*$", f"tftp-root={tftp}", PROXY_SNIPPET.read_text(), flags=re.M)
    snippet.write_text(re.sub(r"^log-facility=.*$", f"log-facility={tmp_path / 'dnsmasq.log'}", shipped, flags=re.M))
    network_file = tmp_path / "isodrop-network.conf"
    config = tmp_path / "isodrop.toml"
    config.write_text(f'dnsmasq_network_file = "{network_file}"\nserver_address = "{SERVER}"\n')
    done = run_isodrop(veth_namespace, "--config", str(config), "setup-dnsmasq")
    assert done.returncode == 0, done.stderr
    dnsmasq = start_dnsmasq(veth_namespace, snippet, network_file, tmp_path)
    try:
        packet = pxe_offer(f"{veth_namespace}-pc", "pc0")
        # What `isodrop check` says after setup-dnsmasq without a restart: dnsmasq has not read the file.
        running = dataclasses.replace(system_defaults(), dnsmasq_pid_file=tmp_path / "dnsmasq.pid")
        read = [("conf-file", str(path), path) for path in (snippet, network_file)]
        assert dnsmasq_network.unread_changes(running, read) == []
        later = time.time() + 5
        os.utime(network_file, (later, later))
        assert dnsmasq_network.unread_changes(running, read) == [str(network_file)]
    finally:
        dnsmasq.terminate()
        dnsmasq.wait(timeout=10)
    assert packet is not None, (tmp_path / "dnsmasq.log").read_text()
    options = dhcp_options(packet)
    assert options[53] == b"\x02", "a DHCPOFFER"
    assert packet[16:20] == bytes(4), "proxy mode: no address offered (yiaddr 0.0.0.0)"
    assert options[54] == socket.inet_aton(SERVER), "the boot server is this server"
    assert options[60] == b"PXEClient" and 43 in options, "a PXE boot menu (vendor options)"
    assert b"isodrop network boot (BIOS)" in options[43]
    log = (tmp_path / "dnsmasq.log").read_text()
    assert "proxy" in log.lower() and "DHCPACK" not in log

    old = tmp_path / "old-network.conf"
    old.write_text("interface=srv0\ndhcp-range=192.168.1.0,proxy,255.255.255.0\n")
    (tmp_path / "dnsmasq.pid").unlink(missing_ok=True)
    dnsmasq = start_dnsmasq(veth_namespace, snippet, old, tmp_path)
    try:
        assert pxe_offer(f"{veth_namespace}-pc", "pc0", timeout=4.0) is None
    finally:
        dnsmasq.terminate()
        dnsmasq.wait(timeout=10)


def test_outdated_names_a_generated_file_for_another_address_only(tmp_path: Path) -> None:
    path = tmp_path / "isodrop-network.conf"
    assert dnsmasq_network.outdated(path, NET) is None, "no file: isodrop check says what to do"
    write(path, dataclasses.replace(NET, how="address of enp3s0, the default-route interface"))
    assert dnsmasq_network.outdated(path, NET) is None, "the same lines, however the address was found"
    moved = ServerNetwork("enp3s0", ipaddress.IPv4Interface("10.1.2.3/24"))
    problem = dnsmasq_network.outdated(path, moved)
    assert problem is not None and "10.1.2.3/24 on enp3s0" in problem and "setup-dnsmasq" in problem
    path.write_text(path.read_text().replace("proxy", "proxy ") + "# mine\n")
    assert dnsmasq_network.outdated(path, moved) is None, "a person's file is theirs"


def test_dnsmasq_drop_in_runs_setup_dnsmasq_with_the_system_config() -> None:
    """contrib/dnsmasq/dnsmasq-service-isodrop.conf: a failing isodrop never stops dnsmasq ("-"), and it names
    the config (without one, isodrop would fall back to a local layout under dnsmasq's working folder)."""
    from isodrop.cli import build_parser

    lines = (REPO / "contrib/dnsmasq/dnsmasq-service-isodrop.conf").read_text().splitlines()
    assert "[Service]" in lines
    (command,) = [line.partition("=")[2] for line in lines if line.startswith("ExecStartPre=")]
    assert command.startswith("-/usr/bin/isodrop ")
    args = build_parser().parse_args(command.split()[1:])
    assert args.command == "setup-dnsmasq" and str(args.config) == "/etc/isodrop/isodrop.toml"


def test_service_makes_http_url_auto_concrete_and_follows_a_new_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reconciler (menus, loaders) never sees "auto"; a reload that finds another address rebuilds it."""
    from isodrop import address, service
    from isodrop.config import local_defaults

    config = dataclasses.replace(local_defaults(tmp_path), http_url="auto")
    found = ["192.0.2.10"]
    monkeypatch.setattr(address, "detect_server_address", lambda: (found[0], "test"))
    svc = service.Service(config, reload_config=lambda: config)
    try:
        svc._start()
        first = svc.reconciler
        assert first.config.http_url == "http://192.0.2.10/isodrop/" and svc.site.server == "192.0.2.10"
        svc._reload()
        assert svc.reconciler is first, "same address: the same reconciler"
        found[0] = "192.0.2.20"
        svc._reload()
        assert svc.reconciler is not first
        assert svc.reconciler.config.http_url == "http://192.0.2.20/isodrop/" and svc.site.server == "192.0.2.20"
        assert svc.config.http_url == "auto", "the configuration as written stays what reloads compare"

        # The network file isodrop wrote for the old address: the journal and `isodrop status` say so.
        network_file = tmp_path / "isodrop-network.conf"
        write(network_file, ServerNetwork("eth0", ipaddress.IPv4Interface("192.0.2.10/24")))
        networks = {"eth0": [ipaddress.IPv4Interface("198.51.100.20/24")]}
        system_config = dataclasses.replace(config, local_mode=False, dnsmasq_network_file=network_file)
        dnsmasq_network.say_if_outdated(system_config, "198.51.100.20", svc.running, networks)
        assert "describes another network" in svc.running.said("dnsmasq network")
        write(network_file, ServerNetwork("eth0", networks["eth0"][0]))
        dnsmasq_network.say_if_outdated(system_config, "198.51.100.20", svc.running, networks)
        assert "dnsmasq network" not in svc.running.parts()
    finally:
        svc._stop_watching()
        svc.reconciler.shutdown()


def test_proxy_warning_only_when_the_served_grub_cannot_read_proxy_offers(tmp_path: Path) -> None:
    """The served GRUB image is read for the proxy patch's strings: with them check says UEFI PCs need
    nothing from the router; without them (Debian 12's GRUB 2.06) the next-server warning stays."""
    networks = {"br0": [ipaddress.IPv4Interface("192.168.50.10/24")]}
    proxy = "interface=br0\ndhcp-range=192.168.50.0,proxy,255.255.255.0\n"
    patched, plain = tmp_path / "grub-2.12.efi", tmp_path / "grub-2.06.efi"
    patched.write_bytes(b"MZ" + b"\0" * 5000 + dnsmasq_network.PROXY_PATCH_STRING + b"\0" * 100)
    plain.write_bytes(b"MZ" + b"\0" * 5000 + b"proxy offer" + b"\0" * 100)
    reads = check(tmp_path / "a", "192.168.50.10", networks, proxy, grub_efi_file=patched)
    assert ("ok", f"GRUB reads proxy-DHCP offers ({patched}): UEFI PCs need nothing from the router") in reads
    assert not any("next-server" in m for _, m in reads)
    ignores = check(tmp_path / "b", "192.168.50.10", networks, proxy, grub_efi_file=plain)
    (warning,) = [m for level, m in ignores if level == "WARN" and "next-server" in m]
    assert f"the served GRUB ({plain}, grub_efi_file) ignores proxy offers" in warning and "Debian 13" in warning
    assert not any("reads proxy-DHCP offers" in m for _, m in ignores)
    leasing = "interface=br0\ndhcp-range=192.168.50.100,192.168.50.199,12h\n"
    assert not any("proxy offers" in m for _, m in check(tmp_path / "c", "192.168.50.10", networks, leasing))


def test_the_proxy_patch_is_found_across_read_chunks_and_in_no_unreadable_file(tmp_path: Path) -> None:
    wanted = dnsmasq_network.PROXY_PATCH_STRING
    image = tmp_path / "grub.efi"
    for start in range(dnsmasq_network.READ_CHUNK - len(wanted), dnsmasq_network.READ_CHUNK + 1, 7):
        image.write_bytes(b"\0" * start + wanted + b"\0" * 10)
        assert dnsmasq_network.reads_proxy_offers(image) is True, start
    image.write_bytes(b"\0" * dnsmasq_network.READ_CHUNK + wanted[:-1])
    assert dnsmasq_network.reads_proxy_offers(image) is False
    assert dnsmasq_network.reads_proxy_offers(tmp_path / "missing.efi") is None
    os.mkfifo(tmp_path / "fifo.efi")
    assert dnsmasq_network.reads_proxy_offers(tmp_path / "fifo.efi") is None, "a FIFO is not read (no hang)"


def test_debian_12_grub_ignores_proxy_offers_and_debian_13s_reads_them() -> None:
    """The real images: the installed grubnetx64 (2.06 on Debian 12, 2.12 on Debian 13) and Debian 13's
    from the VM tests' cache (tests/harness/e2e/trixie_debs.py), where present."""
    debian12 = Path("/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed")
    debian13 = sorted(Path("/var/cache/isodrop-tests").glob("trixie-loaders-*/root" + str(debian12)))
    if not debian12.is_file() and not debian13:
        pytest.skip("no signed GRUB image here (grub-efi-amd64-signed, or the trixie loaders' cache)")
    if debian12.is_file():  # the installed one is Debian 12's or, on a Debian 13 host, Debian 13's
        release = (
            dict(line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if "=" in line)
            .get("VERSION_ID", "")
            .strip('"')
        )
        assert dnsmasq_network.reads_proxy_offers(debian12) is (release not in ("11", "12")), release
    for image in debian13:
        assert dnsmasq_network.reads_proxy_offers(image) is True
