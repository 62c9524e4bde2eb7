"""One running isodrop setup on a private network: namespace, ganesha, dnsmasq, `isodrop serve`.

Used by tests/system/test_e2e_boot.py (one setup for several boots) and by the demo (tests/harness/e2e/demo.py).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from isodrop.state import slug_for
from tests.harness.e2e.netns import PrivateNet
from tests.harness.e2e.procs import Proc
from tests.harness.e2e.servers import start_dnsmasq, start_ganesha, start_nginx, start_router
from tests.harness.e2e.vm import VM
from tests.harness.servicekit import ServiceRun


@dataclass
class Stack:
    net: PrivateNet
    service: ServiceRun
    work: Path
    procs: list[Proc]

    def drop(self, source: Path, name: str | None = None, timeout: float = 180, uefi: bool = True) -> str:
        """Copy an ISO into the drop folder as a person would; wait until the menus (the UEFI one too
        unless `uefi` is false) and the export have it. Returns the slug (the entry is LABEL iso-<slug>)."""
        name = name or source.name
        target = self.service.drop / name
        if not (target.exists() and target.stat().st_size == source.stat().st_size):
            shutil.copyfile(source, target)  # not again when there: a rewrite would be a new ISO to re-extract
        slug = slug_for(name)
        self.service.wait_for(lambda: f"LABEL iso-{slug}\n" in self.service.menu(), timeout, f"menu entry {slug}")
        if uefi:
            assert f"LABEL iso-{slug}\n" in self.efi_menu(), "the UEFI menu lacks the entry the BIOS menu has"
        tree = self.service.trees / slug
        self.service.wait_for(lambda: str(tree) in self.exports(), 30, f"ganesha export of {tree}")
        return slug

    def proc(self, name: str) -> Proc:
        return next(p for p in self.procs if p.name == name)

    def efi_menu(self) -> str:
        path = self.service.tftp / "efi64/pxelinux.cfg/default"
        return path.read_text() if path.exists() else ""

    def exports(self) -> str:
        path = Path(str(self.service.settings["ganesha_exports_file"]))
        return path.read_text() if path.exists() else ""

    def vm(self, firmware: str, name: str, echo: bool = False, **options: bool | str | Path) -> VM:
        """A fresh client VM; `options`: VM's secure_boot / firmware_pxe / mac / secure_boot_vars / reboot."""
        for proc in self.procs:
            proc.check_alive()
        return VM(self.net, self.work, firmware=firmware, name=name, echo=echo, **options)


@contextmanager
def running_stack(
    snippet: Path,
    with_router: bool,
    menu_default: str,
    menu_timeout: int = 30,
    http: bool = False,
    router_args: tuple[str, ...] = (),  # more router options; "{server}" becomes isodrop's address
    net: PrivateNet | None = None,
    shared_drop: Path | None = None,
    dnsmasq_log: bool = False,  # dnsmasq logs to work/dnsmasq-facility.log, isodrop's dnsmasq_log
    dnsmasq_args: tuple[str, ...] = (),  # more options for isodrop's dnsmasq; "{prefix}" is the network's "A.B.C"
    **settings: object,
) -> Iterator[Stack]:
    """Start everything; on exit (also after a failure) stop it by PID and delete the namespaces.

    `http`: nginx serves trees_dir read-only on the server address (port 80) and isodrop gets that as
    `http_url`; its access log is work/nginx-access.log. `settings` are more isodrop config keys.
    `net`: serve on this network (e.g. another server's namespace, PrivateNet.add_server) instead of a
    new one; the caller deletes it. `shared_drop`: a drop folder other servers read too, which this
    isodrop sees read-only (servicekit.read_only_view), as a NAS share mounted ro.

    The work folder is not under pytest's 0700 tmp dirs: dnsmasq serves TFTP as user nobody (Debian's as
    user dnsmasq), so the TFTP root must be reachable by others, exactly as on a user's machine. Trees and
    ISO copies are deleted at the end; the small logs (serial consoles, servers, isodrop) stay there.
    """
    work = Path(tempfile.mkdtemp(prefix="isodrop-e2e-"))
    work.chmod(0o755)
    log_file = str(work / "dnsmasq-facility.log") if dnsmasq_log else "-"
    if dnsmasq_log:
        settings["dnsmasq_log"] = log_file
    own_net = net is None
    net = net or PrivateNet.create()
    procs: list[Proc] = []
    service: ServiceRun | None = None
    try:
        exports = work / "ganesha" / "isodrop.conf"
        procs.append(start_ganesha(net, exports, work))
        if with_router:
            procs.append(start_router(net, work, tuple(a.format(server=net.server_ip) for a in router_args)))
        service = ServiceRun(
            work / "srv",
            nfs_server="ganesha",
            ganesha_exports_file=str(exports),
            ganesha_pid_file=str(work / "ganesha.pid"),
            ganesha_log=str(work / "ganesha.nfsd.log"),
            dnsmasq_pid_file=str(work / "dnsmasq.pid"),
            server_address=net.server_ip,
            client_network=net.cidr,
            serial_console="ttyS0,115200",
            menu_default=menu_default,
            menu_timeout=menu_timeout,
            settle_seconds=1.0,
            **({"drop_dir": str(shared_drop)} if shared_drop else {}),
            **({"http_url": f"http://{net.server_ip}/"} if http else {}),
            # "{server}" in a string setting becomes the test network's server address (http_url), "{work}"
            # the work folder (dnsmasq's log is {work}/dnsmasq.log).
            **{k: v.format(server=net.server_ip, work=work) if isinstance(v, str) else v for k, v in settings.items()},
        )
        service.read_only_drop = shared_drop is not None
        service.tftp.mkdir(parents=True, exist_ok=True)
        if http:
            service.trees.mkdir(parents=True, exist_ok=True)
            service.trees.chmod(0o755)
            procs.append(start_nginx(net, service.trees, work))
        prefix = net.server_ip.rsplit(".", 1)[0]
        extra = tuple(arg.format(prefix=prefix) for arg in dnsmasq_args)
        procs.append(start_dnsmasq(net, snippet, service.tftp, work, log_file=log_file, extra=extra))
        service.start()
        yield Stack(net=net, service=service, work=work, procs=procs)
    finally:
        try:
            if service is not None:
                service.stop()
        finally:
            for proc in reversed(procs):
                proc.stop()
            if own_net:
                net.close()
            shutil.rmtree(work / "srv", ignore_errors=True)
