"""The configuration: a TOML file read into a frozen dataclass. Every error names the key.

It checks types, ranges and how the folders lie to each other. The names that pick an implementation
(nfs_server, bios_loader, uefi_loader, the sidecar_params words and sidecar_keys) are each checked by the
registry that knows them, when the units are made (isodrop.units.resolve), with the same kind of error
naming the key: this module imports no unit.

Two sets of defaults exist:
- `system_defaults()`: the Debian package layout (/srv/isodrop, /srv/tftp, /etc/exports.d, dnsmasq).
- `local_defaults(root)`: everything under one folder, no system services touched, for trying
  isodrop without root and without a config file.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from isodrop.errors import ConfigError
from isodrop.limits import SERIAL_CONSOLE_MAX

DEFAULT_CONFIG_PATH = Path("/etc/isodrop/isodrop.toml")


@dataclass(frozen=True)
class Config:
    drop_dir: Path
    tftp_root: Path
    trees_dir: Path  # where extracted trees live; inside tftp_root so TFTP and NFS serve the same tree
    state_dir: Path  # runtime status for `isodrop status`
    # the status page (index.html) for a browser, served by the shipped nginx site at /isodrop-status/;
    # state_dir/www unless set (like trees_dir follows tftp_root); None ("" in the file): no page
    status_page_dir: Path | None = Path("/run/isodrop/www")
    server_address: str = ""  # "" = auto-detect the address clients reach us on
    client_network: str = "*"  # who may mount the exports: "*", "192.168.1.0/24", a host name
    nfs_server: str = "kernel"  # "kernel" (exports(5) + exportfs) or "ganesha" (EXPORT blocks + SIGHUP)
    exports_file: Path = Path("/etc/exports.d/isodrop.exports")
    exports_reload_command: tuple[str, ...] = ("exportfs", "-ra")
    ganesha_exports_file: Path = Path("/etc/ganesha/isodrop.conf")
    ganesha_pid_file: Path | None = Path("/run/ganesha/ganesha.pid")
    dnsmasq_pid_file: Path | None = Path("/run/dnsmasq/dnsmasq.pid")
    http_url: str = ""  # base URL under which trees_dir is reachable over HTTP ("" = no HTTP, "auto" = nginx here)
    dnsmasq_network_file: Path | None = Path("/etc/dnsmasq.d/isodrop-network.conf")  # isodrop setup-dnsmasq
    menu_title: str = "isodrop network boot"
    menu_timeout: int = 100  # tenths of a second before the default entry boots; 0 waits forever
    menu_default: str = "local"  # "local", "first", or the file name of an ISO in the drop folder
    menu_group_threshold: int = 8  # more entries than this: one submenu per family
    serial_console: str = ""  # e.g. "ttyS0,115200": menus and kernels also use this serial port
    templates_dir: Path | None = None  # overrides for the shipped jinja2 templates
    bios_loader: str = "pxelinux"  # what BIOS clients get as bios.0: "pxelinux" or "ipxe"
    uefi_loader: str = "grub"  # x86-64 UEFI (efi64/bootx64.efi): "grub" (shim + signed GRUB), "syslinux-efi", "ipxe"
    ipxe_dir: Path = Path("/usr/lib/ipxe")  # Debian's ipxe: undionly.kpxe, snponly.efi, ipxe.efi
    pxelinux_file: Path = Path("/usr/lib/PXELINUX/pxelinux.0")
    syslinux_bios_modules: Path = Path("/usr/lib/syslinux/modules/bios")
    syslinux_efi_file: Path = Path("/usr/lib/SYSLINUX.EFI/efi64/syslinux.efi")
    syslinux_efi64_modules: Path = Path("/usr/lib/syslinux/modules/efi64")
    shim_file: Path = Path("/usr/lib/shim/shimx64.efi.signed")
    grub_efi_file: Path = Path("/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed")
    grub_modules_dir: Path = Path("/usr/lib/grub/x86_64-efi")  # http.mod, for HTTP with Secure Boot off
    settle_seconds: float = 1.0  # closed, but a writer could be hidden (smbd, ganesha): unchanged this long
    quiet_seconds: float = 15.0  # no close seen (remote or invisible writer): unchanged this long
    rescan_seconds: float = 300.0  # a full reconcile even without events, as a safety net
    parallel_extractions: int = 1
    verify_checksums: bool = True  # check extracted files against the ISO's md5sum.txt
    retry_seconds: float = 30.0  # a failed ISO is tried again after this, doubling each time ...
    retry_max_seconds: float = 3600.0  # ... up to this (and at once on SIGHUP / systemctl reload)
    drop_dir_must_be_mountpoint: bool = False  # drop_dir not a mount point = unavailable: keep serving
    # what sidecars (NAME.iso.toml) may change: "safe" (no parameter that locates the root, the init or
    # loads code), "any", "none", or a list of the parameter keys they may add or remove
    sidecar_params: str | tuple[str, ...] = "safe"
    sidecar_keys: tuple[str, ...] = ("label", "add_params", "remove_params", "position", "hidden")
    # what `isodrop clients` reads (README "Who booted what"); "" = not read
    dnsmasq_log: Path | None = Path("/var/log/isodrop/dnsmasq.log")  # dnsmasq's log-facility file (log-dhcp)
    http_access_log: Path | None = Path("/var/log/nginx/isodrop-access.log")  # the shipped nginx site's log
    # nfs-ganesha's log (its -L, Debian's /etc/default/nfs-ganesha): NFS root mounts, with NFSPROTO at DEBUG
    ganesha_log: Path | None = Path("/var/log/ganesha/ganesha.log")
    clients_max: int = 2000  # PCs remembered (the longest unseen is forgotten first)
    # per-PC entries (isodrop pin / isodrop.pins): written by the administrator, outside the drop folder
    clients_file: Path = Path("/etc/isodrop/clients.toml")
    expected_clients: int = 30  # PCs booting at once (a lab): `isodrop check` compares the servers' limits
    # minutes a PC's own folder for an ISO's Secure Boot chain (isodrop.handover) lasts when its initrd is not fetched
    handover_minutes: int = 10
    local_mode: bool = False  # embedded default: skip system services, say so
    source: str = "built-in defaults"


def served_by(config: Config, server: str) -> Config:
    """The config with http_url = "auto" made concrete: this server's address and the path the shipped nginx
    site serves trees_dir under. Everything that builds URLs gets this one, never "auto"."""
    if config.http_url != HTTP_URL_AUTO:
        return config
    return dataclasses.replace(config, http_url=f"http://{server}{NGINX_TREES_PATH}")


def system_defaults() -> Config:
    return Config(
        drop_dir=Path("/srv/isodrop"),
        tftp_root=Path("/srv/tftp"),
        trees_dir=Path("/srv/tftp/isodrop"),
        state_dir=Path("/run/isodrop"),
    )


def local_defaults(root: Path) -> Config:
    root = Path(root).absolute()
    return Config(
        drop_dir=root / "drop",
        tftp_root=root / "tftp",
        trees_dir=root / "tftp" / "isodrop",
        state_dir=root / "run",
        status_page_dir=root / "run" / "www",
        exports_file=root / "exports" / "isodrop.exports",
        clients_file=root / "clients.toml",
        exports_reload_command=(),
        ganesha_exports_file=root / "exports" / "isodrop-ganesha.conf",
        ganesha_pid_file=None,
        dnsmasq_pid_file=None,
        dnsmasq_log=root / "log" / "dnsmasq.log",
        http_access_log=root / "log" / "http-access.log",
        ganesha_log=root / "log" / "ganesha.log",
        dnsmasq_network_file=root / "dnsmasq" / "isodrop-network.conf",
        server_address="",
        local_mode=True,
        source=f"built-in local defaults under {root}",
    )


_PATHS = {
    "drop_dir",
    "tftp_root",
    "trees_dir",
    "state_dir",
    "status_page_dir",
    "exports_file",
    "ganesha_exports_file",
    "ganesha_pid_file",
    "dnsmasq_pid_file",
    "dnsmasq_network_file",
    "templates_dir",
    "pxelinux_file",
    "ipxe_dir",
    "syslinux_bios_modules",
    "syslinux_efi_file",
    "syslinux_efi64_modules",
    "shim_file",
    "grub_efi_file",
    "grub_modules_dir",
    "dnsmasq_log",
    "http_access_log",
    "ganesha_log",
    "clients_file",
}
_OPTIONAL_PATHS = {
    "ganesha_pid_file",
    "dnsmasq_pid_file",
    "dnsmasq_network_file",
    "templates_dir",
    "status_page_dir",
    "dnsmasq_log",
    "http_access_log",
    "ganesha_log",
}
HTTP_URL_AUTO = "auto"
NGINX_TREES_PATH = "/isodrop/"  # where contrib/nginx/isodrop serves trees_dir (location /isodrop/)


def load(path: Path | None, base: Config | None = None) -> Config:
    """Read a TOML config over `base` (system defaults). Missing keys keep their defaults."""
    base = base or system_defaults()
    if path is None:
        return base
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such config file") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    return from_mapping(data, base, source=str(path))


def from_mapping(data: dict[str, Any], base: Config, source: str) -> Config:
    fields = {f.name: f for f in dataclasses.fields(Config)}
    values: dict[str, Any] = {}
    for key, raw in data.items():
        if key not in fields or key in {"local_mode", "source"}:
            known = ", ".join(sorted(k for k in fields if k not in {"local_mode", "source"}))
            raise ConfigError(f"{source}: unknown key {key!r} (known keys: {known})")
        values[key] = _convert(key, raw, getattr(base, key), source)
    if "tftp_root" in values and "trees_dir" not in data:
        values["trees_dir"] = values["tftp_root"] / "isodrop"
    if "state_dir" in values and "status_page_dir" not in data:
        values["status_page_dir"] = values["state_dir"] / "www"
    config = dataclasses.replace(base, **values, source=source)
    _validate(config, source)
    return config


def _convert(key: str, raw: Any, default: Any, source: str) -> Any:
    where = f"{source}: key {key!r}"
    if key in _PATHS:
        if not isinstance(raw, str):
            raise ConfigError(f"{where}: expected a path as a string, got {type(raw).__name__}")
        if raw == "" and key in _OPTIONAL_PATHS:
            return None
        if not raw.startswith("/"):
            raise ConfigError(f"{where}: expected an absolute path, got {raw!r}")
        return Path(raw)
    if key == "exports_reload_command":
        if isinstance(raw, str):
            raise ConfigError(f'{where}: expected a list of strings, e.g. ["exportfs", "-ra"]')
        if not isinstance(raw, list) or not all(isinstance(a, str) for a in raw):
            raise ConfigError(f"{where}: expected a list of strings")
        return tuple(raw)
    if key in {"sidecar_params", "sidecar_keys"}:
        return _sidecar_policy(key, raw, where)
    if isinstance(default, bool):
        if not isinstance(raw, bool):
            raise ConfigError(f"{where}: expected true or false, got {raw!r}")
        return raw
    if isinstance(default, int) and not isinstance(default, bool):
        if not isinstance(raw, int) or isinstance(raw, bool):
            raise ConfigError(f"{where}: expected a whole number, got {raw!r}")
        return raw
    if isinstance(default, float):
        if not isinstance(raw, int | float) or isinstance(raw, bool):
            raise ConfigError(f"{where}: expected a number, got {raw!r}")
        return float(raw)
    if not isinstance(raw, str):
        raise ConfigError(f"{where}: expected a string, got {raw!r}")
    return raw


def _sidecar_policy(key: str, raw: Any, where: str) -> str | tuple[str, ...]:
    """sidecar_params: a word or a list of parameter keys; sidecar_keys: a list of sidecar keys. Which words
    and keys sidecars know is isodrop.sidecar's to check (SidecarPolicy.of)."""
    if key == "sidecar_params" and isinstance(raw, str):
        return raw
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        expected = (
            "a list of parameter keys" if key == "sidecar_params" else f"a list of {', '.join(Config.sidecar_keys)}"
        )
        raise ConfigError(f"{where}: expected {expected}, got {raw!r}")
    if key == "sidecar_keys":
        return tuple(raw)
    for item in raw:
        if not item.strip("=") or any(ch.isspace() or ch == '"' for ch in item) or "=" in item.rstrip("="):
            raise ConfigError(f'{where}: {item!r} must be a parameter key such as "nomodeset" or "vga"')
    return tuple(item.rstrip("=") for item in raw)


def _validate(config: Config, source: str) -> None:
    def fail(key: str, problem: str) -> None:
        raise ConfigError.for_key(source, key, problem)

    if config.server_address:
        try:
            ipaddress.IPv4Address(config.server_address)
        except ValueError:
            fail(
                "server_address",
                f"must be an IPv4 address (archiso needs one), got {config.server_address!r}",
            )
    if any(ch.isspace() or ch in "()" for ch in config.client_network) or not config.client_network:
        fail(
            "client_network",
            f"must be one exports(5) client such as 192.168.1.0/24, got {config.client_network!r}",
        )
    if config.menu_timeout < 0:
        fail("menu_timeout", "must be 0 (wait forever) or more")
    if config.menu_group_threshold < 1:
        fail("menu_group_threshold", "must be at least 1")
    for key in ("settle_seconds", "quiet_seconds", "rescan_seconds", "retry_seconds", "retry_max_seconds"):
        if getattr(config, key) <= 0:
            fail(key, "must be a positive number of seconds")
    if not 1 <= config.parallel_extractions <= 8:
        fail("parallel_extractions", "must be between 1 and 8")
    if not 1 <= config.expected_clients <= 10000:
        fail("expected_clients", "must be between 1 and 10000 (PCs booting at the same time)")
    if not 1 <= config.handover_minutes <= 1440:
        fail("handover_minutes", "must be between 1 and 1440 (minutes a PC's hand-over folder lasts)")
    if not 1 <= config.clients_max <= 100000:
        fail("clients_max", "must be between 1 and 100000 (PCs remembered by `isodrop clients`)")
    if config.serial_console and not config.serial_console.startswith("ttyS"):
        fail("serial_console", f"must look like ttyS0,115200, got {config.serial_console!r}")
    if len(config.serial_console) > SERIAL_CONSOLE_MAX:  # kernel command lines keep room for it
        fail("serial_console", f"at most {SERIAL_CONSOLE_MAX} characters, got {config.serial_console!r}")
    if config.http_url not in ("", HTTP_URL_AUTO) and not config.http_url.startswith(("http://", "https://")):
        fail("http_url", f'must be "auto" or start with http:// or https://, got {config.http_url!r}')
    try:
        config.trees_dir.relative_to(config.tftp_root)
    except ValueError:
        fail("trees_dir", f"must be inside tftp_root ({config.tftp_root}) so TFTP can serve kernels")
    if config.trees_dir == config.tftp_root:
        fail("trees_dir", "must be a folder below tftp_root, not tftp_root itself")
    served_as = config.trees_dir.relative_to(config.tftp_root).as_posix()
    if any(ch.isspace() or ord(ch) < 32 for ch in served_as):
        fail("trees_dir", f"boot menus name kernels by {served_as!r} and cannot carry a blank in it")
    try:
        config.trees_dir.relative_to(config.drop_dir)
        fail("trees_dir", "must not be inside drop_dir")
    except ValueError:
        pass
    page_dir = config.status_page_dir
    for key in ("trees_dir", "drop_dir"):  # ISO trees are served as downloads; the drop folder is theirs
        if page_dir is not None and page_dir.is_relative_to(getattr(config, key)):
            fail("status_page_dir", f"must not be inside {key} ({getattr(config, key)}), got {str(page_dir)!r}")
    if config.clients_file.is_relative_to(config.drop_dir):  # whoever writes the drop folder would pin PCs
        fail("clients_file", "must not be inside drop_dir: it is the administrator's, not the drop folder's")
