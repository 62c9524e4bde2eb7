"""Two isodrop servers fed from one drop folder, side by side on one network (README "A second server").

Server A lives in the test namespace (10.213.x.1), server B in its own namespace on the same bridge
(10.213.x.3, PrivateNet.add_server); a stand-in home router (DHCP only) leases the addresses. Each server
is complete on its own: its own `isodrop serve` with its own state_dir, TFTP root and trees, its own
dnsmasq running contrib/dnsmasq/isodrop-proxy.conf, its own rpcbind + ganesha and nginx. Only the drop
folder is shared, and each isodrop sees it as a read-only bind mount (as a NAS share mounted ro), so any
write there would fail. PCs are BIOS machines with QEMU's iPXE ROM and `bios_loader = "ipxe"`: the whole
chain (menu over TFTP, kernel and initrd over HTTP, root over NFS) shows in one server's logs.

Boots are few (35-75 s each under TCG): one with both up (the server whose offer the PC took serves it;
the test says which), one with that server's dnsmasq stopped (the other serves it), so both serve a boot.
Which offer iPXE takes: README "A second server" (bench/bench_two_servers.py). In a real deployment both
servers would use the same paths; here they share one host, so their trees' paths differ (compared as
<trees>).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from isodrop.state import slug_for
from tests.harness.e2e.boottimes import boot_times, note  # noqa: F401 (boot_times: autouse)
from tests.harness.e2e.liveiso import LiveIso
from tests.harness.e2e.netns import PrivateNet
from tests.harness.e2e.servers import PROXY_SNIPPET, start_dnsmasq
from tests.harness.e2e.stack import Stack, running_stack
from tests.harness.e2e.vm import VM
from tests.harness.e2e.vmtests import boot, http_gets, tftp_sent, vm_test

IPV4 = re.compile(r"(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?![\d.])")
MENU = "ipxe/menu-pcbios.ipxe"  # what the PC's iPXE fetches from the proxy that answered it


@dataclass
class TwoServers:
    net: PrivateNet  # the client network (the bridge, the PC's tap); A's namespace
    a: Stack
    b: Stack
    drop: Path
    first_choice: Stack | None = None  # the server whose offer the PC took in the boot with both up

    def both(self) -> tuple[Stack, Stack]:
        return self.a, self.b

    def other(self, stack: Stack) -> Stack:
        return self.b if stack is self.a else self.a

    def pc(self, name: str) -> VM:
        """A fresh BIOS PC on the bridge; its logs go with A's."""
        for stack in self.both():
            for proc in stack.procs:
                proc.check_alive()
        return VM(self.net, self.a.work, "bios", name=name)


def generated_files(stack: Stack) -> dict[str, str]:
    """Every text file isodrop wrote to serve clients: the menus under the TFTP root (not the trees, not
    the loader binaries), the ganesha exports, keyed by path (the exports as "EXPORTS")."""
    tftp, trees = stack.service.tftp, stack.service.trees
    files = {}
    for path in sorted(tftp.rglob("*")):
        if not path.is_file() or trees in path.parents:
            continue
        data = path.read_bytes()
        if b"\0" not in data:
            files[path.relative_to(tftp).as_posix()] = data.decode()
    files["EXPORTS"] = stack.exports()
    return files


def normalised(stack: Stack) -> dict[str, str]:
    """generated_files with this server's own address and folders (and what follows from them) replaced
    by placeholders."""
    own = {
        stack.net.server_ip: "<server>",
        str(stack.service.trees): "<trees>",
        str(stack.service.tftp): "<tftp>",
    }
    result = {}
    for name, text in generated_files(stack).items():
        for value, placeholder in own.items():
            text = text.replace(value, placeholder)
        # ganesha's Export_Id is derived from the tree's path, which differs only because both share a host
        result[name] = re.sub(r"Export_Id = \d+;", "Export_Id = <from the path>;", text)
    return result


def drop_snapshot(drop: Path) -> dict[str, tuple[int, int, int, int]]:
    """(inode, size, mtime, ctime) of the drop folder and everything in it: any write, creation,
    removal, rename or chmod there changes it."""
    paths = [drop, *sorted(drop.rglob("*"))]
    return {str(p): (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns) for p in paths for st in [p.lstat()]}


def mount_options(pid: int, folder: Path) -> list[str]:
    """The mount options of the mount at `folder` as process `pid` sees it ([] when not a mount point)."""
    mounts = [line.split() for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines()]
    options = [fields[5].split(",") for fields in mounts if fields[4] == str(folder)]
    return options[-1] if options else []  # the last mount there is the one seen


@pytest.fixture(scope="module")
def two_servers(live_isos: tuple[LiveIso, LiveIso]) -> Iterator[TwoServers]:
    one, _ = live_isos
    drop = Path(tempfile.mkdtemp(prefix="isodrop-e2e-shared-drop-"))
    drop.chmod(0o755)
    net = PrivateNet.create()
    common = {
        "menu_default": "e2e-one.iso",
        "http": True,
        "bios_loader": "ipxe",
        "shared_drop": drop,
    }
    try:
        with contextlib.ExitStack() as servers:
            a = servers.enter_context(running_stack(PROXY_SNIPPET, with_router=True, net=net, **common))
            b_net = net.add_server(3)
            b = servers.enter_context(running_stack(PROXY_SNIPPET, with_router=False, net=b_net, **common))
            note(f"[e2e] logs of the two servers: A {a.work}, B {b.work}")
            pair = TwoServers(net=net, a=a, b=b, drop=drop)
            a.drop(one.path)  # copies it into the shared folder once; B reads the same file
            b.drop(one.path)
            yield pair
    finally:
        net.close()
        shutil.rmtree(drop, ignore_errors=True)


@vm_test
def test_both_serve_the_same_entries_each_naming_only_itself(
    two_servers: TwoServers,
    live_isos: tuple[LiveIso, LiveIso],
) -> None:
    """Same slugs, same menus and exports but for each server's own address (and folders); no generated
    file of either names the other server or any address but its own; the shared drop folder is read-only
    to both and nothing in it changed; each holds the lock on its own state_dir only."""
    a, b = two_servers.both()
    slug = slug_for(live_isos[0].path.name)
    before = drop_snapshot(two_servers.drop)
    for stack in (a, b):
        # the status is written right after the pass whose menus Stack.drop waited for
        stack.service.wait_for(lambda s=stack: s.service.entry(live_isos[0].path.name), 30, "the status entry")
        entries = stack.service.status()["entries"]
        assert [e["slug"] for e in entries] == [slug], entries
        assert (stack.service.trees / slug).is_dir()
    assert normalised(a) == normalised(b)
    for own, other in ((a, b), (b, a)):
        files = generated_files(own)
        assert {"pxelinux.cfg/default", MENU, "EXPORTS"} <= set(files), sorted(files)
        for name, text in files.items():
            assert other.net.server_ip not in text, f"{own.net.server_ip}'s {name} names the other server"
            allowed = {own.net.server_ip, own.net.network}  # itself, and client_network (who may mount)
            assert set(IPV4.findall(text)) <= allowed, f"{name}: {set(IPV4.findall(text))}"
        assert f"http://{own.net.server_ip}/{slug}/live/vmlinuz" in files[MENU]
        assert f"nfsroot={own.net.server_ip}:{own.service.trees}/{slug}" in files[MENU]
        assert str(own.service.trees / slug) in files["EXPORTS"]
        assert (own.service.state / "lock").is_file()
        assert mount_options(own.service.process.pid, two_servers.drop)[:1] == ["ro"], "isodrop must see it ro"
        assert "Read-only file system" not in own.service.log_text()
    assert not (two_servers.drop / "lock").exists()
    assert sorted(p.name for p in two_servers.drop.iterdir()) == [live_isos[0].path.name]
    assert drop_snapshot(two_servers.drop) == before


def served_by(pair: TwoServers, iso: LiveIso, menus_before: dict[str, int], gets_before: dict[str, int]) -> Stack:
    """The one server whose dnsmasq sent the PC its iPXE menu and whose nginx sent kernel and initrd;
    the other sent nothing. Fails when both or neither did."""
    named = {"A": pair.a, "B": pair.b}
    menus = {k: tftp_sent(s, MENU) - menus_before[k] for k, s in named.items()}
    gets = {k: http_gets(s)[gets_before[k] :] for k, s in named.items()}
    answered = [k for k in named if menus[k]]
    assert len(answered) == 1, f"iPXE menus sent per server: {menus}"
    chosen, other = answered[0], next(k for k in named if k not in answered)
    assert not gets[other], f"server {other} sent files to a PC that server {chosen} booted: {gets[other]}"
    kernel = f"/{slug_for(iso.path.name)}/live/vmlinuz"
    assert (kernel, 200) in gets[chosen], f"server {chosen} did not send {kernel}: {gets[chosen]}"
    return named[chosen]


def counters(pair: TwoServers) -> tuple[dict[str, int], dict[str, int]]:
    named = {"A": pair.a, "B": pair.b}
    return {k: tftp_sent(s, MENU) for k, s in named.items()}, {k: len(http_gets(s)) for k, s in named.items()}


@vm_test
def test_pc_boots_from_the_server_whose_offer_it_took(
    two_servers: TwoServers,
    live_isos: tuple[LiveIso, LiveIso],
) -> None:
    one, _ = live_isos
    menus, gets = counters(two_servers)
    boot(two_servers.a, two_servers.pc("two-servers-both-up"), one, "two servers up: BIOS iPXE over HTTP")
    two_servers.first_choice = chosen = served_by(two_servers, one, menus, gets)
    note(f"[e2e] with both servers up the PC booted from {chosen.net.server_ip}")
    for stack in two_servers.both():  # both proxies saw the PC; neither leases (the router does)
        log = (stack.work / "dnsmasq.log").read_text(errors="replace")
        assert "52:54:00:12:34:56" in log and "DHCPACK" not in log


@vm_test
def test_with_one_server_stopped_pcs_boot_from_the_other(
    two_servers: TwoServers,
    live_isos: tuple[LiveIso, LiveIso],
) -> None:
    """The dnsmasq of the server that answered first in the boot before (A when run alone) stopped by
    its PID, its isodrop, ganesha and nginx still running: the other answers alone and serves the whole
    boot. The stopped dnsmasq is started again afterwards for the test that follows."""
    one, _ = live_isos
    down = two_servers.first_choice or two_servers.a
    up = two_servers.other(down)
    dnsmasq = down.proc("dnsmasq")
    dnsmasq.stop()
    down.procs.remove(dnsmasq)
    try:
        menus, gets = counters(two_servers)
        what = f"dnsmasq of {down.net.server_ip} stopped: PC boots from {up.net.server_ip}"
        boot(up, two_servers.pc("two-servers-one-down"), one, what)
        assert served_by(two_servers, one, menus, gets) is up
    finally:
        (down.work / "dnsmasq.pid").unlink(missing_ok=True)  # isodrop signals what that file names
        down.procs.append(start_dnsmasq(down.net, PROXY_SNIPPET, down.service.tftp, down.work))


@vm_test
def test_removing_the_iso_removes_it_on_both(
    two_servers: TwoServers,
    live_isos: tuple[LiveIso, LiveIso],
) -> None:
    slug = slug_for(live_isos[0].path.name)
    os.unlink(two_servers.drop / live_isos[0].path.name)
    for stack in two_servers.both():
        tree = stack.service.trees / slug
        stack.service.wait_for(lambda s=stack: f"iso-{slug}" not in s.service.menu(), 60, f"{slug} leaving the menu")
        stack.service.wait_for(lambda s=stack, t=tree: str(t) not in s.exports(), 30, f"{tree} leaving the exports")
        stack.service.wait_for(lambda t=tree: not t.exists(), 30, f"{tree} removed")
        assert stack.service.status()["entries"] == []
        assert f"entry-iso-{slug}" not in (stack.service.tftp / MENU).read_text()
    assert normalised(two_servers.a) == normalised(two_servers.b)
