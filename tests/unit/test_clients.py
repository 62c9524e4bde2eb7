"""`isodrop clients`: which PC booted what and where it stopped, from the servers' own logs.

The log lines are made by the real servers, in a network namespace this module creates: dnsmasq run from
the shipped DHCP snippet (log-dhcp, log-facility) answers a real DHCP exchange (busybox udhcpc sending a
PXE vendor class and client architecture 7 from a second namespace) and serves files over TFTP to curl;
nginx with the shipped site logs curl's HTTP fetches in the shipped isodrop_clients format. The parsers and
the incremental reader are then tested on those captured lines, not on a format written from memory.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from isodrop import clients
from isodrop.cli import EXIT_NOT_RUNNING, main
from isodrop.config import local_defaults
from isodrop.units import resolve
from tests.harness.e2e.netns import PrivateNet
from tests.harness.e2e.procs import wait_for
from tests.harness.e2e.servers import (
    DHCP_SNIPPET,
    nfs_mount_request,
    start_dnsmasq,
    start_ganesha,
    start_shipped_site,
)
from tests.harness.servicekit import ServiceRun

UEFI_MAC = "52:54:00:c1:00:07"
BIOS_MAC = "52:54:00:c1:00:00"
HOSTNAME = "pc-uefi"
UNDI = "UNDI:003016\x1b[31m\u202e"  # client-provided text with a terminal escape and a bidi override
SLUG = "debian-live-12"
KERNEL, INITRD, SQUASHFS = "live/vmlinuz", "live/initrd.img", "live/filesystem.squashfs"


@dataclasses.dataclass
class Captured:
    work: Path
    dnsmasq_log: Path
    http_log: Path
    tftp_root: Path
    uefi_ip: str
    bios_ip: str


def _needs() -> str:
    if os.geteuid() != 0:
        return "needs root to create network namespaces"
    for tool in ("dnsmasq", "nginx", "curl", "busybox"):
        if shutil.which(tool) is None:
            return f"needs {tool} (tests/apt-packages.txt)"
    return ""


def _add_pc(net: PrivateNet, name: str, mac: str) -> str:
    """A namespace on the test bridge with one interface of MAC `mac`: one PC."""
    namespace = f"{net.name}-{name}"
    subprocess.run(["ip", "netns", "add", namespace], check=True)
    net.namespaces.append(namespace)
    net.ip("link", "set", "lo", "up", namespace=namespace)
    net.ip("link", "add", f"v{name}", "type", "veth", "peer", "name", "eth0", "netns", namespace)
    net.ip("link", "set", f"v{name}", "master", net.bridge)
    net.ip("link", "set", f"v{name}", "up")
    net.ip("link", "set", "eth0", "address", mac, namespace=namespace)
    net.ip("link", "set", "eth0", "up", namespace=namespace)
    return namespace


def _dhcp(net: PrivateNet, namespace: str, arch: str, hostname: str) -> str:
    """A real DHCP exchange (DISCOVER, OFFER, REQUEST, ACK) like a PXE ROM's: the address leased."""
    argv = [
        *net.ns_exec(namespace),
        *("busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "3", "-T", "5", "-s", "/bin/true"),
        *("-V", f"PXEClient:Arch:{arch}:{UNDI}", "-x", f"0x5d:{int(arch):04x}", "-x", f"hostname:{hostname}"),
    ]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    leased = re.search(r"lease of (\d+\.\d+\.\d+\.\d+) obtained", result.stderr)
    assert leased, result.stderr
    address = leased[1]
    net.ip("addr", "add", f"{address}/24", "dev", "eth0", namespace=namespace)
    return address


def _fetch(net: PrivateNet, namespace: str, url: str) -> None:
    result = subprocess.run([*net.ns_exec(namespace), "curl", "-sf", "-o", "/dev/null", url], check=False, timeout=30)
    assert result.returncode == 0, url


@pytest.fixture(scope="module")
def captured() -> Iterator[Captured]:
    if _needs():
        pytest.skip(_needs())
    work = Path(tempfile.mkdtemp(prefix="isodrop-clients-"))
    work.chmod(0o755)
    tftp = work / "tftp"
    tree = tftp / "isodrop" / SLUG
    (tree / "live").mkdir(parents=True)
    (tftp / "efi64" / "pxelinux.cfg").mkdir(parents=True)
    (tftp / "bios.0").write_bytes(b"l" * 4096)
    (tftp / "efi64" / "bootx64.efi").write_bytes(b"e" * 4096)
    (tftp / "efi64" / "pxelinux.cfg" / "default").write_text("DEFAULT x\n")
    (tree / KERNEL).write_bytes(b"k" * 200_000)
    (tree / INITRD).write_bytes(b"i" * 300_000)
    (tree / SQUASHFS).write_bytes(b"s" * 500_000)
    subprocess.run(["chmod", "-R", "a+rX", str(work)], check=True)
    (work / "log").mkdir()
    net = PrivateNet.create()
    procs = []
    try:
        procs.append(start_dnsmasq(net, DHCP_SNIPPET, tftp, work, log_file=str(work / "log" / "dnsmasq.log")))
        nginx_work = work / "nginx"
        nginx_work.mkdir()
        procs.append(start_shipped_site(net, tftp / "isodrop", nginx_work))
        uefi_pc, bios_pc = _add_pc(net, "pc1", UEFI_MAC), _add_pc(net, "pc2", BIOS_MAC)
        uefi_ip = _dhcp(net, uefi_pc, "00007", HOSTNAME)
        bios_ip = _dhcp(net, bios_pc, "00000", "plain")
        tftp_url, http_url = f"tftp://{net.server_ip}", f"http://{net.server_ip}/isodrop"
        # The UEFI PC boots to its root (squashfs over HTTP); the BIOS PC stops after its initrd.
        for url in ("efi64/bootx64.efi", "efi64/pxelinux.cfg/default"):
            _fetch(net, uefi_pc, f"{tftp_url}/{url}")
        _fetch(net, uefi_pc, f"{http_url}/{SLUG}/{KERNEL}")
        _fetch(net, uefi_pc, f"{http_url}/{SLUG}/{INITRD}")
        _fetch(net, uefi_pc, f"{http_url}/{SLUG}/{SQUASHFS}")
        for url in ("bios.0", f"isodrop/{SLUG}/{KERNEL}", f"isodrop/{SLUG}/{INITRD}"):
            _fetch(net, bios_pc, f"{tftp_url}/{url}")
        dnsmasq_log, http_log = work / "log" / "dnsmasq.log", nginx_work / "isodrop-access.log"
        wait_for(lambda: INITRD in dnsmasq_log.read_text() and SQUASHFS in http_log.read_text(), 10, "log lines")
        yield Captured(work, dnsmasq_log, http_log, tftp, uefi_ip, bios_ip)
    finally:
        for proc in procs:
            proc.stop()
        net.close()
        shutil.rmtree(work, ignore_errors=True)


def _config(captured: Captured, root: Path):  # type: ignore[no-untyped-def]
    """A kernel NFS server's view (not local mode); ClientWatch.rmtab points at the test's own rmtab."""
    return dataclasses.replace(
        local_defaults(root),
        local_mode=False,
        tftp_root=captured.tftp_root,
        trees_dir=captured.tftp_root / "isodrop",
        dnsmasq_log=captured.dnsmasq_log,
        http_access_log=captured.http_log,
        http_url="http://10.0.0.1/isodrop",
    )


@pytest.mark.network
def test_dnsmasq_lines_parse_into_dhcp_answers_and_tftp_fetches(captured: Captured) -> None:
    parser, now = clients.DnsmasqParser(), time.time()
    events = [e for line in captured.dnsmasq_log.read_text().splitlines() if (e := parser.parse(line, now))]
    acks = [e for e in events if e.message == "DHCPACK"]
    assert {(e.mac, e.ip) for e in acks} == {(UEFI_MAC, captured.uefi_ip), (BIOS_MAC, captured.bios_ip)}
    uefi_ack = next(e for e in acks if e.mac == UEFI_MAC)
    assert uefi_ack.attributes["vendor_class"].startswith("PXEClient:Arch:00007:UNDI:003016")
    assert uefi_ack.attributes["hostname"] == HOSTNAME
    assert all(abs(e.when - now) < 120 for e in events)  # the syslog time stamp, in this year
    sent = {(e.ip, e.path) for e in events if e.kind == "tftp"}
    assert (captured.bios_ip, str(captured.tftp_root / "isodrop" / SLUG / INITRD)) in sent
    assert (captured.uefi_ip, str(captured.tftp_root / "efi64" / "bootx64.efi")) in sent


@pytest.mark.network
def test_nginx_lines_parse_with_duration(captured: Captured) -> None:
    events = [clients.parse_nginx(line) for line in captured.http_log.read_text().splitlines()]
    assert all(events), captured.http_log.read_text()
    squashfs = next(e for e in events if e and e.path.endswith(SQUASHFS))
    assert squashfs.ip == captured.uefi_ip and squashfs.status == 200
    assert squashfs.path == f"/isodrop/{SLUG}/{SQUASHFS}"
    assert squashfs.seconds is not None and 0 <= squashfs.seconds < 10
    assert abs(squashfs.when - time.time()) < 120


@pytest.mark.network
def test_each_pc_shows_its_firmware_entry_and_furthest_stage(captured: Captured, tmp_path: Path) -> None:
    config = _config(captured, tmp_path)
    watch = clients.ClientWatch(config)
    watch.rmtab, watch.nfsd_clients = tmp_path / "rmtab", tmp_path / "no-nfsd"
    watch.rmtab.write_text("")  # a kernel NFS server nobody mounted from
    entries = {SLUG: (KERNEL, (INITRD,), "Debian Live 12")}
    watch.refresh(entries)
    doc = watch.document({SLUG: "Debian Live 12"}, now=time.time() + 600)
    by_mac = {row["mac"]: row for row in doc["clients"]}
    uefi, bios = by_mac[UEFI_MAC], by_mac[BIOS_MAC]
    assert (uefi["ip"], uefi["firmware"], uefi["entry"]) == (captured.uefi_ip, "UEFI x86-64", SLUG)
    assert uefi["furthest"] == "root" and not uefi["stopped"]
    assert set(uefi["stages"]) == {"dhcp", "loader", "menu", "kernel", "initrd", "root"}
    assert uefi["stages"]["root"]["via"] == "http" and "seconds" in uefi["stages"]["root"]
    assert (bios["firmware"], bios["furthest"], bios["stopped_after"]) == ("BIOS", "initrd", "initrd")
    assert "never mounted its root" in bios["hint"]
    assert uefi["hostname"] == HOSTNAME or "\x1b" not in json.dumps(doc)  # JSON keeps the real string
    assert (
        doc["entries"]
        == [
            {"slug": SLUG, "label": "Debian Live 12", "pcs": 2, "today": 2, "reached_root": 1},
        ]
        or time.localtime().tm_hour == 0
    )  # just after midnight "today" may split
    text = clients.format_clients(doc, now=time.time() + 600)
    assert "\x1b" not in text
    assert "Debian Live 12: 2 PCs fetched its kernel" in text
    assert f"{BIOS_MAC}  {captured.bios_ip}" in text and "stopped after this" in text
    watch.save()
    again = clients.ClientWatch(config)  # persisted: the same PCs, and nothing read twice
    again.rmtab, again.nfsd_clients = watch.rmtab, watch.nfsd_clients
    again.refresh(entries)
    assert {c.key: c.stages for c in again.book.clients.values()} == {
        c.key: c.stages for c in watch.book.clients.values()
    }
    assert again.dnsmasq.offset == watch.dnsmasq.offset > 0


def _copy_in_pieces(lines: list[str], log: Path, pieces: int) -> Iterator[None]:
    size = len(lines) // pieces + 1
    for start in range(0, len(lines), size):
        with open(log, "a") as handle:
            handle.write("".join(f"{line}\n" for line in lines[start : start + size]))
        yield


@pytest.mark.network
def test_incremental_reading_survives_rotation_and_truncation(captured: Captured, tmp_path: Path) -> None:
    lines = captured.dnsmasq_log.read_text().splitlines()
    log = tmp_path / "dnsmasq.log"
    log.write_text("")
    follower, read = clients.LogFollower(log), []
    for _ in _copy_in_pieces(lines, log, 4):
        read += follower.read_lines()
    assert read == lines  # every line once, in order
    with open(log, "a") as handle:
        handle.write("half a li")  # dnsmasq is in the middle of writing a line
    assert follower.read_lines() == []
    with open(log, "a") as handle:
        handle.write("ne\n")
    assert follower.read_lines() == ["half a line"]
    log.rename(tmp_path / "dnsmasq.log.1")  # logrotate: a new file
    log.write_text(lines[0] + "\n")
    assert follower.read_lines() == [lines[0]]
    log.write_text("")  # copytruncate
    log.write_text(lines[1] + "\n")
    assert follower.read_lines() == [lines[1]]


def test_first_read_of_a_big_log_takes_only_its_tail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clients, "FIRST_TAIL", 100)
    log = tmp_path / "big.log"
    log.write_text("".join(f"line {n:04d}\n" for n in range(1000)))
    read = clients.LogFollower(log).read_lines()
    assert read and read[-1] == "line 0999" and len(read) <= 10 and all(len(line) == 9 for line in read)


def test_a_missing_or_unreadable_log_is_no_client_data_not_a_failure(tmp_path: Path) -> None:
    config = dataclasses.replace(
        local_defaults(tmp_path), dnsmasq_log=tmp_path / "absent.log", http_access_log=tmp_path / "dir"
    )
    (tmp_path / "dir").mkdir()
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "clients.json").write_text("{not json")
    part = clients.status_part(clients.ClientWatch(config), {}, save=True)
    assert part["clients"] == []
    assert any(p.startswith("dnsmasq log: no client data (cannot read") for p in part["problems"])
    assert json.loads((tmp_path / "run" / "clients.json").read_text())["version"] == clients.STATE_VERSION


def test_clients_are_bounded_and_the_longest_unseen_goes_first() -> None:
    book = clients.ClientBook(limit=3)
    layout = clients.Layout(tftp_root="/srv/tftp", trees="isodrop", http_prefix="", nfs_trees="/srv/tftp/isodrop")
    for n in range(5):
        mac = f"52:54:00:00:00:0{n}"
        book.apply(clients.Event(1000.0 + n, "dhcp", ip=f"10.0.0.{n}", mac=mac, message="DHCPACK"), layout)
    assert sorted(book.clients) == ["52:54:00:00:00:02", "52:54:00:00:00:03", "52:54:00:00:00:04"]
    assert set(book.macs_by_ip) == {"10.0.0.2", "10.0.0.3", "10.0.0.4"}
    for n in range(100):  # one PC claiming address after address (a PXE request's client-chosen ciaddr)
        book.apply(clients.Event(2000.0 + n, "dhcp", ip=f"10.1.0.{n}", mac="52:54:00:00:00:03", message="PXE"), layout)
    assert len(book.macs_by_ip) == 3 and book.macs_by_ip["10.1.0.99"] == "52:54:00:00:00:03"
    book.apply(clients.Event(3000.0, "dhcp", ip="10.0.0.9", mac="52:54:00:00:00:09", message="DHCPACK"), layout)
    assert sorted(book.clients) == ["52:54:00:00:00:03", "52:54:00:00:00:04", "52:54:00:00:00:09"]


def test_a_new_pxe_request_after_the_menu_starts_a_new_attempt_and_keeps_a_bounded_history() -> None:
    book = clients.ClientBook(limit=10)
    layout = clients.Layout(tftp_root="/srv/tftp", trees="isodrop", http_prefix="", nfs_trees="/srv/tftp/isodrop")
    pxe = {"vendor_class": "PXEClient:Arch:00000:UNDI:002001"}
    for boot in range(clients.HISTORY_MAX + 3):
        t = 1000.0 * boot
        book.apply(
            clients.Event(t, "dhcp", ip="10.0.0.9", mac="aa:bb:cc:dd:ee:ff", message="DHCPACK", attributes=pxe), layout
        )
        book.apply(clients.Event(t + 1, "tftp", ip="10.0.0.9", path="/srv/tftp/pxelinux.cfg/default"), layout)
        book.apply(clients.Event(t + 2, "tftp", ip="10.0.0.9", path=f"/srv/tftp/isodrop/s{boot}/live/vmlinuz"), layout)
    pc = book.clients["aa:bb:cc:dd:ee:ff"]
    assert pc.entry == f"s{clients.HISTORY_MAX + 2}" and pc.furthest() == "kernel"
    assert len(pc.history) == clients.HISTORY_MAX and pc.history[-1]["entry"] == f"s{clients.HISTORY_MAX + 1}"


def test_kernel_nfs_server_mounts_are_read_from_rmtab_and_nfsd_clients(tmp_path: Path) -> None:
    rmtab = tmp_path / "rmtab"
    rmtab.write_text("10.0.0.5:/srv/tftp/isodrop/deb:0x00000001\n10.0.0.6:/srv/tftp/isodrop/old:0x00000000\n")
    info = tmp_path / "clients" / "7"
    info.mkdir(parents=True)
    (info / "info").write_text('clientid: 0x1\naddress: "10.0.0.7:816"\nname: "Linux NFSv4.2 pc"\n')
    mounts, problem = clients.read_nfs_mounts(rmtab, tmp_path / "clients")
    assert (mounts, problem) == ([("10.0.0.5", "/srv/tftp/isodrop/deb"), ("10.0.0.7", "")], "")
    assert clients.read_nfs_mounts(tmp_path / "none", tmp_path / "none")[1].startswith("neither")


@pytest.mark.network
def test_isodrop_clients_command_prints_the_table_and_json(
    captured: Captured, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "isodrop.toml"
    config.write_text(
        f'drop_dir = "{tmp_path}/drop"\ntftp_root = "{captured.tftp_root}"\nstate_dir = "{tmp_path}/run"\n'
        f'dnsmasq_log = "{captured.dnsmasq_log}"\nhttp_access_log = "{captured.http_log}"\n'
        f'http_url = "http://10.0.0.1/isodrop"\nnfs_server = "ganesha"\n'
    )
    assert main(["clients", "--config", str(config)]) == EXIT_NOT_RUNNING
    text = capsys.readouterr().out
    assert UEFI_MAC in text and BIOS_MAC in text and "\x1b" not in text
    assert "NFS mounts not visible: nfs-ganesha's log (ganesha_log): cannot read" in text
    assert main(["clients", "--json", "--config", str(config)]) == EXIT_NOT_RUNNING
    part = json.loads(capsys.readouterr().out)
    assert {row["mac"] for row in part["clients"]} == {UEFI_MAC, BIOS_MAC}
    assert not (tmp_path / "run" / "clients.json").exists()  # the command writes nothing
    config.write_text(config.read_text().replace(str(captured.dnsmasq_log), str(tmp_path / "gone.log")))
    assert main(["clients", "--config", str(config)]) == EXIT_NOT_RUNNING  # not running wins, as in status
    assert "dnsmasq log: no client data" in capsys.readouterr().out


def test_client_strings_are_shown_escaped_and_kept_real_in_json() -> None:
    hostile = "pc\x1b[2J\u202egnp.exe\nforged line"
    pc = clients.Client(key="aa:bb:cc:dd:ee:01", mac="aa:bb:cc:dd:ee:01", ip="10.0.0.3", hostname=hostile)
    pc.stages["dhcp"] = {"time": 100.0, "via": "dhcp", "path": "DHCPACK"}
    doc = clients.document([pc], [], {}, now=200.0)
    assert doc["clients"][0]["hostname"] == hostile
    text = clients.format_clients(doc, now=200.0)
    assert "\x1b" not in text and "\u202e" not in text and "forged line" in text
    assert "pc\\x1b[2J\\u202egnp.exe\\nforged line" in text
    assert all(not line.startswith("forged") for line in text.splitlines())


def test_an_nfs_mount_is_the_root_stage_and_without_a_view_of_mounts_nobody_is_called_stopped(tmp_path: Path) -> None:
    config = dataclasses.replace(local_defaults(tmp_path), local_mode=False, dnsmasq_log=None, http_access_log=None)
    trees = config.trees_dir
    watch = clients.ClientWatch(config)
    watch.rmtab, watch.nfsd_clients = tmp_path / "rmtab", tmp_path / "no-nfsd"
    watch.rmtab.write_text("")
    layout = clients.Layout.of(config)
    for when, path in ((100.0, f"{config.tftp_root}/bios.0"), (101.0, f"{trees}/deb/live/initrd.img")):
        watch.book.apply(clients.Event(when, "tftp", ip="10.0.0.5", path=path), layout)
    watch.refresh(now=150.0)
    assert watch.document(now=1000.0)["clients"][0]["stopped_after"] == "initrd"
    watch.rmtab.write_text(f"10.0.0.5:{trees}/deb:0x00000001\n")
    watch.refresh(now=160.0)
    row = watch.document(now=1000.0)["clients"][0]
    assert (row["furthest"], row["stages"]["root"]["via"], row["stopped"]) == ("root", "nfs", False)
    watch.book.clients["ip 10.0.0.5"].stages.pop("root")
    blind = clients.document(watch.book.clients.values(), [], {}, now=1000.0, nfs_visible=False)
    assert (blind["clients"][0]["stopped"], blind["clients"][0]["root_unknown"]) == (False, True)


def ganesha_lines(trees: Path) -> list[str]:
    """What nfs-ganesha 4.3 logged (NFSPROTO at DEBUG) for a granted and a refused MNT call, as seen with
    tests/harness/e2e/servers.py's ganesha and a real MOUNT v3 request, in its default format and with
    FORMAT { CLIENTIP = true; }; the export path made `trees`'s."""
    plain = "02/12/2026 06:51:52 : epoch 6b0fc005 : vm : nfs-ganesha-11739[svc_2] mnt_Mnt :NFS3"
    client = "02/12/2026 06:51:52 : epoch 6b0fc005 : vm : nfs-ganesha-11739[::ffff:10.0.0.5] [svc_12] ./src/Prot"
    return [
        f"{plain} :DEBUG :REQUEST PROCESSING: Calling MNT_MNT path={trees}/deb",
        f"{client}ocols/NFS/mnt_Mnt.c:68 :mnt_Mnt :NFS3 :DEBUG :REQUEST PROCESSING: Calling MNT_MNT path=/nope",
        f"{plain} :DEBUG :MOUNT: Entry supports 2 different flavours"
        " handle=0x4300000712445aee006da8025ead0182602100ea7006b100 for client ::ffff:10.0.0.5",
        f"{client}ocols/NFS/mnt_Mnt.c:132 :mnt_Mnt :NFS3 :INFO :MOUNT: Export entry / does not support NFS v3"
        " for client ::ffff:10.0.0.5",
        "02/12/2026 06:51:52 : epoch 6b0fc005 : vm : nfs-ganesha-11739[svc_3] nfs3_read :NFS3 :DEBUG :x",
        f"{client}ocols/NFS/mnt_Mnt.c:68 :mnt_Mnt :NFS3 :DEBUG :REQUEST PROCESSING: Calling MNT_MNT path={trees}/b",
        f"{client}ocols/NFS/mnt_Mnt.c:216 :mnt_Mnt :NFS3 :DEBUG :MOUNT: Entry supports 2 different flavours"
        " handle=0x43 for client ::ffff:10.0.0.6",
    ]


def test_ganesha_mount_lines_are_the_root_stage_once_its_log_shows_mount_requests(tmp_path: Path) -> None:
    config = dataclasses.replace(
        local_defaults(tmp_path), local_mode=False, nfs_server="ganesha", dnsmasq_log=None, http_access_log=None
    )
    assert config.ganesha_log is not None
    trees = config.trees_dir
    watch = clients.ClientWatch(config)
    layout = clients.Layout.of(config)
    for when, path in ((100.0, f"{config.tftp_root}/bios.0"), (101.0, f"{trees}/deb/live/initrd.img")):
        watch.book.apply(clients.Event(when, "tftp", ip="10.0.0.5", path=path), layout)
    watch.refresh(now=150.0)  # no log: not visible, so nobody is called stopped
    assert "nfs-ganesha's log (ganesha_log): cannot read" in watch.nfs_problem
    assert watch.document(now=1000.0)["clients"][0]["stopped"] is False
    config.ganesha_log.parent.mkdir(parents=True, exist_ok=True)
    config.ganesha_log.write_text("02/12/2026 06:50:00 : epoch 1 : vm : nfs-ganesha-1[main] x :MAIN :EVENT :start\n")
    watch.refresh(now=160.0)  # a log without mount requests: maybe no debug lines, still not visible
    assert "no mount request in" in watch.nfs_problem and "NFSPROTO = DEBUG" in watch.nfs_problem
    with config.ganesha_log.open("a") as log:
        log.write("\n".join(ganesha_lines(trees)) + "\n")
    watch.refresh(now=170.0)
    assert watch.nfs_problem == ""
    row = watch.document(now=1000.0)["clients"][0]
    assert (row["furthest"], row["stages"]["root"]["via"], row["entry"]) == ("root", "nfs", "deb")
    assert row["stages"]["root"]["time"] == time.mktime(time.strptime("02/12/2026 06:51:52", "%d/%m/%Y %H:%M:%S"))
    watch.save()
    again = clients.ClientWatch(config)  # the evidence of debug lines is kept across restarts
    again.refresh(now=180.0)
    assert again.nfs_problem == ""


def test_ganesha_parser_pairs_request_and_grant_by_thread_and_stays_bounded() -> None:
    parser = clients.GaneshaParser()
    events = [e for line in ganesha_lines(Path("/srv/tftp/isodrop")) if (e := parser.parse(line, 5.0))]
    assert [(e.kind, e.ip, e.path) for e in events] == [
        ("nfs", "10.0.0.5", "/srv/tftp/isodrop/deb"),
        ("nfs", "10.0.0.6", "/srv/tftp/isodrop/b"),
    ]
    assert parser.requests_seen
    head = "02/12/2026 06:51:52 : epoch 1 : vm : nfs-ganesha-1[10.0.0.9]"
    for n in range(clients.PENDING_MAX * 3):
        parser.parse(f"{head} [svc_{n}] m.c:68 :mnt_Mnt :NFS3 :DEBUG :REQUEST PROCESSING: Calling MNT_MNT path=/x", 5.0)
    assert len(parser.asked) <= clients.PENDING_MAX
    grant = (
        f"{head} [svc_1] m.c:1 :mnt_Mnt :NFS3 :DEBUG :MOUNT: Entry supports 1 different flavours for client 10.0.0.9"
    )
    evicted = parser.parse(grant, 5.0)  # its request went with the oldest: a mount of no known path
    assert evicted is not None and (evicted.ip, evicted.path) == ("10.0.0.9", "")


@pytest.mark.parametrize(
    ("http_url", "fetched"),
    [
        ("http://10.0.0.1/isodrop", "/isodrop/deb/live/vmlinuz"),
        ("http://10.0.0.1/", "/deb/live/vmlinuz"),
        ("", "/isodrop/deb/live/vmlinuz"),
    ],
)
def test_http_fetches_are_placed_under_the_url_the_trees_are_served_at(
    tmp_path: Path, http_url: str, fetched: str
) -> None:
    layout = clients.Layout.of(dataclasses.replace(local_defaults(tmp_path), http_url=http_url))
    event = clients.Event(1.0, "http", ip="10.0.0.5", path=fetched, status=200, seconds=0.5)
    assert layout.stage_of(event) == ("kernel", "deb")
    assert layout.stage_of(dataclasses.replace(event, path="/other/thing")) is None


@pytest.mark.network
def test_the_service_reads_the_logs_between_passes_into_its_status_document(captured: Captured, tmp_path: Path) -> None:
    log = tmp_path / "dnsmasq.log"
    run = ServiceRun(tmp_path / "srv", dnsmasq_log=str(log), http_access_log="", rescan_seconds=600.0)
    run.start()
    try:
        first = run.status()
        assert first["clients"]["clients"] == []
        assert any("dnsmasq log: no client data" in p for p in first["clients"]["problems"])
        log.write_text(captured.dnsmasq_log.read_text())  # no drop-folder event, no pass due for 10 minutes

        def seen() -> set[str]:
            return {row["mac"] for row in run.status()["clients"]["clients"]}

        assert run.wait_for(lambda: seen() == {UEFI_MAC, BIOS_MAC}, 10, "the PCs in status.json (woken by the log)")
        status = run.command("status")
        assert "PCs seen: 2" in status.stdout
        saved = json.loads((run.state / "clients.json").read_text())
        assert saved["logs"]["dnsmasq"]["offset"] == log.stat().st_size
    finally:
        run.stop()


def _restamped(lines: list[str], when: float) -> list[str]:
    """Captured dnsmasq lines as if logged at `when`: only the syslog time stamp (15 characters) changes."""
    stamp = time.strftime("%b %e %H:%M:%S", time.localtime(when))
    return [stamp + line[15:] for line in lines]


@pytest.mark.network
def test_a_log_line_wakes_the_service_for_the_status_alone_and_a_booting_pc_stops_on_time(
    captured: Captured, tmp_path: Path
) -> None:
    """Event-driven clients: appending captured dnsmasq lines wakes an idle service (rescan 10 minutes
    away) through the watch on the log's folder; status.json shows the PCs within a few seconds without
    a reconcile pass, a burst of lines rewrites it at most every STATUS_MIN_SECONDS, and a PC with no
    further progress becomes "stopped" at the one wake-up scheduled for that moment (the threshold
    lowered to 8 s through the Service's constructor). Then no PC is booting and no timer is left."""
    import signal
    import threading

    from isodrop import service as service_module
    from isodrop.service import STATUS_MIN_SECONDS

    log = tmp_path / "log" / "dnsmasq.log"
    log.parent.mkdir()
    config = dataclasses.replace(
        local_defaults(tmp_path), dnsmasq_log=log, server_address="192.0.2.10", rescan_seconds=600.0
    )
    config.drop_dir.mkdir(parents=True)
    service = service_module.Service(config, stopped_after=8.0)
    lines = captured.dnsmasq_log.read_text().splitlines()
    seen: dict[str, object] = {}

    def status() -> dict:  # type: ignore[type-arg]
        return json.loads((config.state_dir / "status.json").read_text())["clients"]

    def append(stamped: list[str], pause: float = 0.0) -> None:
        with log.open("a") as handle:
            for line in stamped:
                handle.write(line + "\n")
                handle.flush()
                time.sleep(pause)

    def drive() -> None:
        try:
            wait_for(lambda: service.passes == 1 and (config.state_dir / "status.json").exists(), 30, "first pass")
            time.sleep(1)
            seen["timer before"] = service.stop_due
            started = time.monotonic()
            append(_restamped(lines, time.time()))
            wait_for(lambda: {UEFI_MAC, BIOS_MAC} <= {r["mac"] for r in status()["clients"]}, 10, "PCs shown")
            seen["shown after"] = time.monotonic() - started
            seen["booting"] = [r["mac"] for r in status()["clients"] if not r["stopped"] and r["furthest"] != "root"]
            writes = service.status_writes
            append(_restamped(lines, time.time()), pause=3.0 / len(lines))  # a burst: the same PCs again, for 3 s
            seen["writes in burst"] = service.status_writes - writes
            time.sleep(STATUS_MIN_SECONDS + 0.5)  # the burst's last lines are in
            seen["timer while booting"] = service.stop_due
            writes = service.status_writes
            rows = [r for r in status()["clients"] if not r["root_unknown"] and r["furthest"] != "root"]
            waiting = seen["waiting"] = [r["mac"] for r in rows]
            due = max(r["furthest_time"] for r in rows) + 8.0  # the last of them stops then
            wait_for(lambda: all(r["stopped"] for r in status()["clients"] if r["mac"] in waiting), 15, "stopped")
            seen["stopped late by"] = time.time() - due
            time.sleep(1)
            seen["writes to stop"] = service.status_writes - writes
            seen["timer after"] = service.stop_due
            seen["passes"] = service.passes
        except Exception as exc:  # told to the test's thread below
            seen["error"] = exc
        finally:
            service.request_stop()

    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    driver = threading.Thread(target=drive)
    driver.start()
    try:
        service.run()  # signal handlers need the main thread
    finally:
        driver.join()
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert "error" not in seen, seen
    assert seen["timer before"] is None, "no PC booting: no timer"
    assert seen["shown after"] < STATUS_MIN_SECONDS + 2.0, seen
    assert seen["booting"], "the PCs are shown booting before they are called stopped"
    assert 1 <= seen["writes in burst"] <= 2, f"3 s of lines rewrite the status at most every 2 s: {seen}"
    assert seen["timer while booting"] is not None
    assert seen["waiting"], seen
    assert 0.0 <= seen["stopped late by"] < 1.0, f"stopped 8 s after their last stage, not later: {seen}"
    assert seen["writes to stop"] == 1, f"one wake-up, at the moment the PCs stopped: {seen}"
    assert seen["timer after"] is None, "every PC stopped or booted: no timer is left"
    assert seen["passes"] == 1, "the logs and the stopped moment rewrote the status without a reconcile pass"


def test_check_warns_when_a_log_cannot_be_read(tmp_path: Path) -> None:
    (tmp_path / "dnsmasq.log").write_text("")
    config = dataclasses.replace(
        local_defaults(tmp_path), dnsmasq_log=tmp_path / "dnsmasq.log", http_url="http://10.0.0.1/isodrop"
    )
    assert clients.check(config) == [
        ("ok", f"isodrop clients reads {tmp_path / 'dnsmasq.log'}"),
        (
            "WARN",
            f"{config.http_access_log} (http_access_log) cannot be read: isodrop clients has no data from it"
            " (the shipped nginx site's access_log)",
        ),
    ]


def test_a_follower_stopped_by_the_read_limit_says_it_is_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No event comes for bytes already written: the service reads again soon while `behind` is true."""
    log = tmp_path / "dnsmasq.log"
    log.write_text("".join(f"line {i:03d}\n" for i in range(10)))  # 9 bytes a line
    monkeypatch.setattr(clients, "READ_LIMIT", 40)
    follower = clients.LogFollower(log)
    batches = [follower.read_lines()]
    while follower.behind and len(batches) < 10:
        batches.append(follower.read_lines())
    assert [len(batch) for batch in batches] == [4, 4, 2], "40 bytes a read: 4 lines, 4 lines, the last 2"
    assert sum(batches, []) == [f"line {i:03d}" for i in range(10)]
    assert follower.read_lines() == [] and not follower.behind


@pytest.mark.network
@pytest.mark.nochroot("NFS served by nfs-ganesha")
def test_a_real_ganesha_log_shows_which_pc_mounted_its_root(tmp_path: Path) -> None:
    """nfs-ganesha serving isodrop's own EXPORT block, its NFSPROTO debug lines on (as
    tests/harness/e2e/servers.py starts it); a PC on the bridge asks to mount the tree, as its initramfs
    would, and another path it may not: the granted one is that PC's root stage."""
    if os.geteuid() != 0 or shutil.which("ganesha.nfsd") is None or shutil.which("rpcbind") is None:
        pytest.skip("needs root, nfs-ganesha and rpcbind (tests/apt-packages.txt)")
    net = PrivateNet.create()
    procs = []
    try:
        work = tmp_path / "work"
        work.mkdir()
        config = dataclasses.replace(
            local_defaults(tmp_path),
            local_mode=False,
            nfs_server="ganesha",
            client_network=net.cidr,
            ganesha_log=work / "ganesha.nfsd.log",
            dnsmasq_log=None,
            http_access_log=None,
        )
        tree = config.trees_dir / "deb"
        (tree / "live").mkdir(parents=True)
        exports = work / "isodrop-ganesha.conf"
        exports.write_text(resolve(config).nfs_server.render([tree]))
        procs.append(start_ganesha(net, exports, work))
        pc = _add_pc(net, "nfs", "52:54:00:00:00:77")
        address = net.server_ip.rsplit(".", 1)[0] + ".77"
        net.ip("addr", "add", f"{address}/24", "dev", "eth0", namespace=pc)
        assert nfs_mount_request(net, pc, str(tree)) == 0
        assert nfs_mount_request(net, pc, "/srv/no-such-export") != 0
        watch = clients.ClientWatch(config)
        initrd = clients.Event(100.0, "tftp", ip=address, path=f"{tree}/live/initrd.img")
        watch.book.apply(initrd, clients.Layout.of(config))
        watch.refresh(now=time.time())
        assert watch.nfs_problem == ""
        row = watch.document(now=time.time() + 600)["clients"][0]
        assert (row["ip"], row["furthest"], row["entry"], row["stopped"]) == (address, "root", "deb", False)
        assert row["stages"]["root"] | {"time": 0} == {"time": 0, "via": "nfs", "path": str(tree)}
    finally:
        for proc in procs:
            proc.stop()
        net.close()


def test_a_missing_file_is_no_boot_step_and_files_from_a_pcs_own_folder_count_as_the_shared_ones() -> None:
    parser = clients.DnsmasqParser()
    now = time.mktime((2026, 12, 2, 10, 0, 0, 0, 0, -1))
    line = "Dec  2 09:59:58 dnsmasq-tftp[812]: file /srv/tftp/efi64/handover/f/52:54:00:12:34:56 not found for 10.0.0.9"
    event = parser.parse(line, now)
    assert event is not None and (event.path, event.ip, event.message) == (
        "/srv/tftp/efi64/handover/f/52:54:00:12:34:56",
        "10.0.0.9",
        clients.MISSING,
    )
    book = clients.ClientBook(limit=10)
    layout = clients.Layout(
        tftp_root="/srv/tftp",
        trees="isodrop",
        http_prefix="",
        nfs_trees="/srv/tftp/isodrop",
        entries={"f": ("vmlinuz", ("initrd.img",), "F")},
    )
    book.apply(clients.Event(now - 9, "dhcp", ip="10.0.0.9", mac="52:54:00:12:34:56", message="DHCPACK"), layout)
    book.apply(event, layout)
    assert book.clients["52:54:00:12:34:56"].furthest() == "dhcp"
    folder = "/srv/tftp/" + clients.mac_folder("52:54:00:12:34:56")
    assert folder == "/srv/tftp/52-54-00-12-34-56"
    book.apply(clients.Event(now, "tftp", ip="10.0.0.9", path=f"{folder}/isodrop/f/initrd.img"), layout)
    pc = book.clients["52:54:00:12:34:56"]
    assert (pc.furthest(), pc.entry) == ("initrd", "f")
