"""The servers a PXE client needs, started inside the test namespace: dnsmasq, rpcbind + nfs-ganesha.

dnsmasq runs from the snippet isodrop ships in contrib/dnsmasq/, with only the interface, the addresses
and the TFTP root substituted (the proxy snippet names no network: the file isodrop writes follows it);
the command line adds what the test needs and a user's installation gets from Debian's default config
instead (no DNS: --port=0, foreground, pid file, IPv6 RAs for iPXE's sake).
"""

from __future__ import annotations

import ipaddress
import re
import subprocess
import sys
from pathlib import Path

from isodrop import dnsmasq_network
from isodrop.dnsmasq_network import ServerNetwork
from tests.harness.e2e.netns import PrivateNet
from tests.harness.e2e.procs import Proc, wait_for

REPO = Path(__file__).resolve().parents[3]
PROXY_SNIPPET = REPO / "contrib/dnsmasq/isodrop-proxy.conf"
DHCP_SNIPPET = REPO / "contrib/dnsmasq/isodrop-dhcp.conf"
NGINX_SITE = REPO / "contrib/nginx/isodrop"
NFS_MOUNT_PORT = 20048


def render_snippet(snippet: Path, net: PrivateNet, tftp_root: Path, log_file: str = "-") -> str:
    """The shipped snippet with the TFTP root and log file ("-": stderr, which the test's Proc keeps)
    replaced, and its network: the DHCP snippet's CHANGE ME lines (interface, addresses, router) replaced;
    the proxy snippet, which names no network, followed by the file `isodrop setup-dnsmasq` writes for the
    test's bridge (interface=, dhcp-range=<network>,proxy)."""
    text = snippet.read_text()
    replacements = {"tftp-root": str(tftp_root), "log-facility": log_file}
    generated = ""
    if re.search(r"^interface=", text, re.M):
        prefix = net.server_ip.rsplit(".", 1)[0]
        replacements |= {
            "interface": net.bridge,
            "dhcp-option=option:router": net.server_ip,
            "dhcp-range": f"{prefix}.100,{prefix}.199,255.255.255.0,1h",
        }
    else:
        server = ServerNetwork(net.bridge, ipaddress.IPv4Interface(f"{net.server_ip}/24"))
        generated = "\n" + dnsmasq_network.render(server)
    for key, value in replacements.items():
        pattern = re.compile(rf"^{re.escape(key)}[=,].*$", re.M)
        sep = "," if key.startswith("dhcp-option") else "="
        text, n = pattern.subn(lambda _m, k=key, v=value, s=sep: f"{k}{s}{v}", text)
        if n != 1:
            raise AssertionError(f"{snippet}: expected exactly one {key} line, found {n}")
    return text + generated


def start_dnsmasq(
    net: PrivateNet,
    snippet: Path,
    tftp_root: Path,
    workdir: Path,
    name: str = "dnsmasq",
    log_file: str = "-",
    extra: tuple[str, ...] = (),  # more dnsmasq options, e.g. --dhcp-host=MAC,ADDRESS,NAME
) -> Proc:
    conf = workdir / f"{name}.conf"
    conf.write_text(render_snippet(snippet, net, tftp_root, log_file))
    pid_file = workdir / f"{name}.pid"
    argv = [
        *net.ns_exec(),
        "dnsmasq",
        f"--conf-file={conf}",
        "--keep-in-foreground",
        "--port=0",
        f"--pid-file={pid_file}",
        "--log-dhcp",
        "--log-facility=-",
        "--enable-ra",
        f"--dhcp-range=::,constructor:{net.bridge},ra-only,64",
        *extra,
    ]
    proc = Proc(name, argv, workdir / f"{name}.log")
    wait_for(lambda: proc.check_alive() or pid_file.exists(), 10, f"{name} pid file {pid_file}")
    proc.pid_file = pid_file  # type: ignore[attr-defined]
    return proc


def start_router(net: PrivateNet, workdir: Path, extra: tuple[str, ...] = ()) -> Proc:
    """A DHCP-only server in its own namespace: the home router that proxy-DHCP mode works beside.
    `extra`: more dnsmasq options, e.g. the next-server setting a user adds on the router for UEFI."""
    iface = net.add_router()
    prefix = net.server_ip.rsplit(".", 1)[0]
    argv = [
        *net.ns_exec(net.router_ns),
        "dnsmasq",
        "--keep-in-foreground",
        "--port=0",
        "--no-resolv",
        "--no-hosts",
        f"--interface={iface}",
        "--bind-interfaces",
        f"--dhcp-range={prefix}.50,{prefix}.90,255.255.255.0,1h",
        f"--pid-file={workdir / 'router.pid'}",
        "--log-dhcp",
        "--log-facility=-",
        *extra,
    ]
    proc = Proc("router-dhcp", argv, workdir / "router.log")
    wait_for(lambda: proc.check_alive() or (workdir / "router.pid").exists(), 10, "router dnsmasq pid file")
    return proc


GANESHA_CONF = """\
NFS_CORE_PARAM {{
    Protocols = 3;
    Bind_addr = {address};
    MNT_Port = {mnt_port};
    Enable_NLM = false;
    Enable_RQUOTA = false;
}}
NFS_KRB5 {{
    Active_krb5 = false;
}}
NFSV4 {{
    Graceless = true;
}}
LOG {{
    COMPONENTS {{
        NFSPROTO = DEBUG;  # the mount requests and grants isodrop clients reads (ganesha_log)
    }}
}}
%include "{exports}"
"""


def start_ganesha(net: PrivateNet, exports_file: Path, workdir: Path) -> Proc:
    """rpcbind + nfs-ganesha (NFSv3, VFS) in the namespace, with private /run and /var/lib/nfs; its log
    (with the NFSPROTO debug lines that show mounts) is workdir/ganesha.nfsd.log.

    rpcbind's socket /run/rpcbind.sock is a file path shared by all network namespaces, so both run in a
    private mount namespace (unshare --mount) with tmpfs on /run and /var/lib/nfs: neither the host's nor
    a parallel run's rpcbind is touched. The pid file lies outside, for isodrop to send SIGHUP.
    """
    conf = workdir / "ganesha.conf"
    if not exports_file.exists():
        exports_file.parent.mkdir(parents=True, exist_ok=True)
        exports_file.write_text("")
    conf.write_text(GANESHA_CONF.format(address=net.server_ip, mnt_port=NFS_MOUNT_PORT, exports=exports_file))
    pid_file = workdir / "ganesha.pid"
    script = (
        "set -e; mount -t tmpfs tmpfs /run; mount -t tmpfs tmpfs /var/lib/nfs; "
        "mkdir -p /run/rpcbind /var/lib/nfs/ganesha /run/ganesha; "
        "rpcbind -f -w & "
        "for i in $(seq 50); do [ -S /run/rpcbind.sock ] && break; sleep 0.1; done; "
        f"exec ganesha.nfsd -F -f {conf} -p {pid_file} -L {workdir / 'ganesha.nfsd.log'} -N NIV_EVENT"
    )
    argv = [*net.ns_exec(), "unshare", "--mount", "--propagation", "private", "sh", "-c", script]
    proc = Proc("ganesha", argv, workdir / "ganesha.log")
    wait_for(lambda: proc.check_alive() or pid_file.exists(), 20, "ganesha pid file")
    proc.pid_file = pid_file  # type: ignore[attr-defined]
    return proc


# One MOUNT v3 MNT call (RFC 1813, program 100005, procedure 1) over TCP with AUTH_SYS, as an initramfs's
# nfsmount makes it; prints the mount status (0: granted, 13: access denied / no such export).
_MNT_CALL = """\
import socket, struct, sys
def opaque(data): return struct.pack(">I", len(data)) + data + bytes(-len(data) % 4)
auth_sys = struct.pack(">I", 0) + opaque(b"pc") + struct.pack(">III", 0, 0, 0)
call = struct.pack(">IIIIIII", 0x15d0, 0, 2, 100005, 3, 1, 1) + opaque(auth_sys) + struct.pack(">II", 0, 0)
call += opaque(sys.argv[2].encode())
with socket.create_connection((sys.argv[1], int(sys.argv[3])), timeout=10) as s:
    s.sendall(struct.pack(">I", 0x80000000 | len(call)) + call)
    reply = s.recv(4096)
print(struct.unpack(">I", reply[28:32])[0])
"""


def nfs_mount_request(net: PrivateNet, namespace: str, path: str) -> int:
    """Ask the NFS server on `net` (MOUNT port NFS_MOUNT_PORT) to mount `path`, from `namespace` (a PC
    on the bridge): the request a booting PC's initramfs makes. The server's mount status (0: granted)."""
    argv = [*net.ns_exec(namespace), sys.executable, "-c", _MNT_CALL, net.server_ip, path, str(NFS_MOUNT_PORT)]
    return int(subprocess.run(argv, capture_output=True, text=True, check=True, timeout=30).stdout)


NGINX_CONF = """\
daemon off;
worker_processes 1;
pid {pid_file};
error_log {error_log} info;
events {{
    worker_connections 64;
}}
http {{
    access_log {access_log};
    sendfile on;
    default_type application/octet-stream;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    server {{
        listen {address}:{port};
        root {root};
        autoindex off;
        location / {{
            limit_except GET {{
                deny all;
            }}
        }}
    }}
}}
"""


def start_nginx(
    net: PrivateNet,
    root: Path,
    workdir: Path,
    port: int = 80,
    access_log: Path | None = None,
    name: str = "nginx",
) -> Proc:
    """nginx serving `root` read-only (GET/HEAD only) on the server address of the test network only.

    Its config, pid file, logs and temp folders are all under `workdir`; `access_log` (default
    workdir/<name>-access.log) shows which files clients fetched. Workers run as nginx's default user
    (nobody), as on a user's machine, so served files must be world-readable."""
    conf = workdir / f"{name}.conf"
    pid_file = workdir / f"{name}.pid"
    temp = workdir / f"{name}-temp"
    temp.mkdir(parents=True, exist_ok=True)
    conf.write_text(
        NGINX_CONF.format(
            pid_file=pid_file,
            error_log=workdir / f"{name}-error.log",
            access_log=access_log or workdir / f"{name}-access.log",
            temp=temp,
            address=net.server_ip,
            port=port,
            root=root,
        )
    )
    argv = [*net.ns_exec(), "nginx", "-c", str(conf), "-e", str(workdir / f"{name}-error.log")]
    proc = Proc(name, argv, workdir / f"{name}.log")
    wait_for(lambda: proc.check_alive() or pid_file.exists(), 10, f"{name} pid file {pid_file}")
    proc.pid_file = pid_file  # type: ignore[attr-defined]
    proc.access_log = access_log or workdir / f"{name}-access.log"  # type: ignore[attr-defined]
    proc.url = f"http://{net.server_ip}" + (f":{port}" if port != 80 else "")  # type: ignore[attr-defined]
    return proc


# What Debian's /etc/nginx/nginx.conf sets that matters for many clients, around the shipped site.
DEBIAN_NGINX_CONF = """\
daemon off;
worker_processes auto;
pid {work}/nginx.pid;
error_log {work}/error.log;
events {{
    worker_connections 768;
}}
http {{
    sendfile on;
    tcp_nopush on;
    access_log {work}/access.log;
    client_body_temp_path {work}/tmp;
    proxy_temp_path {work}/tmp;
    fastcgi_temp_path {work}/tmp;
    uwsgi_temp_path {work}/tmp;
    scgi_temp_path {work}/tmp;
    include {work}/site;
}}
"""


def site_for(net: PrivateNet, trees: Path, access_log: Path, page_dir: Path | None = None) -> str:
    """The shipped site with only its listen address, alias folder, access log file and status page folder
    replaced."""
    text = NGINX_SITE.read_text()
    text, n = re.subn(r"access_log /var/log/nginx/isodrop-access\.log ", f"access_log {access_log} ", text)
    assert n == 1
    text, n = re.subn(r"alias /srv/tftp/isodrop/;", f"alias {trees}/;", text)
    assert n == 1
    if page_dir is not None:
        text, n = re.subn(r"root /run/isodrop/www;", f"root {page_dir};", text)
        assert n == 1
    text, n = re.subn(r"listen 80 default_server;", f"listen {net.server_ip}:80 default_server;", text)
    assert n == 1
    return text.replace("listen [::]:80 default_server;", "")


def start_shipped_site(net: PrivateNet, trees: Path, work: Path, page_dir: Path | None = None) -> Proc:
    """nginx serving `trees` (and the status page in `page_dir`) through the site isodrop ships, included
    from Debian's main settings; config, pid file and logs under `work` (which must be world-readable:
    workers run as nobody)."""
    (work / "tmp").mkdir(parents=True, exist_ok=True)
    conf = work / "nginx.conf"
    conf.write_text(DEBIAN_NGINX_CONF.format(work=work))
    (work / "site").write_text(site_for(net, trees, work / "isodrop-access.log", page_dir))
    proc = Proc("nginx", [*net.ns_exec(), "nginx", "-c", str(conf), "-e", str(work / "error.log")], work / "nginx.log")
    wait_for(lambda: proc.check_alive() or (work / "nginx.pid").exists(), 10, "nginx pid file")
    return proc


def fetch(net: PrivateNet, *args: str) -> tuple[str, dict[str, str], bytes]:
    """Status line, headers (lower-case names) and body of one GET from inside the namespace."""
    argv = [*net.ns_exec(), "curl", "-s", "-D", "/dev/stderr", "--max-time", "5", *args]
    done = subprocess.run(argv, capture_output=True, check=False)
    status, *lines = done.stderr.decode().splitlines()
    headers = {name.strip().lower(): value.strip() for name, _, value in (ln.partition(":") for ln in lines if ln)}
    return status, headers, done.stdout
