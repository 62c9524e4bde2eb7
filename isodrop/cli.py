"""The `isodrop` command line: argument parsing and dispatch. The commands are in isodrop.commands
(check and inspect in isodrop.check and isodrop.inspection)."""

from __future__ import annotations

import argparse
import importlib
import sys
import textwrap
from pathlib import Path

from isodrop import __version__, lock
from isodrop.config import DEFAULT_CONFIG_PATH
from isodrop.errors import ConfigError, IsodropError
from isodrop.exits import EXIT_LOCKED, EXIT_NOT_RUNNING, EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE
from isodrop.journal import setup_logging
from isodrop.model import shown

DESCRIPTION = """\
Serve Linux live ISOs to network-booting PCs.

Copy an ISO into the drop folder: isodrop waits until the copy is complete, extracts it into
the TFTP root, recognises the live system, adds a menu entry for BIOS PCs (pxelinux or iPXE)
and UEFI PCs (Debian's signed shim + GRUB, Secure Boot on or off, or iPXE) with the kernel
command line that finds its root over NFS, exports the tree read-only and signals dnsmasq;
with http_url set, kernels and initrds come from nginx. Remove the ISO and its entry, export
and tree go too. With Secure Boot on, an ISO whose kernel Debian's shim refuses but which
carries its vendor's own shim and network GRUB (as Fedora's) is offered as a restart into
that chain: the PC's next network boot gets it from a TFTP folder of its own (isodrop(1),
SECURE BOOT HAND-OVER).
"""

EPILOG = f"""\
configuration (these options go before or after the command):
  --config FILE      read FILE (TOML; every key is documented in the example config).
  --root DIR         no config file: a local layout under DIR (DIR/drop, DIR/tftp, DIR/run);
                     exports are written but not re-read and dnsmasq is not signalled.
  neither            {DEFAULT_CONFIG_PATH} if it exists, else a local layout under the
                     current directory.

files:
  {DEFAULT_CONFIG_PATH}       configuration
  /srv/isodrop                      drop folder (default)
  /srv/tftp                         TFTP root: pxelinux.0, pxelinux.cfg/default, efi64/
  /srv/tftp/isodrop/SLUG/           extracted trees (state records in .state/SLUG.json)
  /etc/exports.d/isodrop.exports    NFS exports written by isodrop (kernel NFS server)
  /run/isodrop/status.json          what the running service is doing (isodrop status)
  /run/isodrop/lock                 held by the one serve or scan working on these folders
  /run/isodrop/www/index.html       the status page (nginx: http://SERVER/isodrop-status/)
  /etc/dnsmasq.d/isodrop-network.conf  dnsmasq's network lines, by isodrop setup-dnsmasq
  /var/log/isodrop/dnsmasq.log      dnsmasq's log, read by isodrop clients, one-shot pins and hand-overs
  /etc/isodrop/clients.toml         per-PC entries (isodrop pin, unpin, pins)
  DROP/NAME.iso.toml                per-ISO overrides: label, add_params, remove_params,
                                    position, hidden

exit status:
  {EXIT_OK}  success
  {EXIT_PROBLEMS}  an ISO could not be served (scan, status, inspect), a check failed, or
     (clients) a server's log could not be read
  {EXIT_USAGE}  bad command line or configuration (the message names the key)
  {EXIT_NOT_RUNNING}  status, clients: the service is not running
  {EXIT_LOCKED}  serve, scan: another isodrop process (named in the message) holds the state
     folder (state_dir/lock); the second one changes nothing

examples:
  isodrop serve --root ~/isodrop-demo    try it without root, without a config
  isodrop inspect ubuntu-24.04.1-desktop-amd64.iso
  isodrop status
  journalctl -u isodrop ISODROP_ISO=ubuntu-24.04.1-desktop-amd64.iso

See isodrop(1).
"""


def _global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """--config, --root and -v, accepted before and after the command. The command's copies default to
    SUPPRESS: argparse would otherwise overwrite a value given before the command with their defaults."""
    unset = argparse.SUPPRESS if suppress else None
    where = parser.add_mutually_exclusive_group()
    where.add_argument("-c", "--config", type=Path, metavar="FILE", default=unset, help="configuration file (TOML)")
    where.add_argument(
        "--root", type=Path, metavar="DIR", default=unset, help="use a local layout under DIR, no config file"
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", default=unset if suppress else False, help="also log debugging details"
    )


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    _global_options(common, suppress=True)

    parser = argparse.ArgumentParser(
        prog="isodrop",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _global_options(parser, suppress=False)
    parser.add_argument("--version", action="version", version=f"isodrop {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, help_text: str, description: str) -> argparse.ArgumentParser:
        return sub.add_parser(
            name,
            help=help_text,
            description=textwrap.dedent(description),
            parents=[common],
            formatter_class=argparse.RawDescriptionHelpFormatter,
            epilog=EPILOG,
        )

    add(
        "serve",
        "run the service: watch the drop folder and keep serving what is in it",
        """\
        Run in the foreground until SIGTERM. Reconciles at start, after every change in the drop folder,
        on SIGHUP (which also re-reads the configuration) and every rescan_seconds. Under systemd
        (Type=notify) it reports READY, STATUS, WATCHDOG, RELOADING and STOPPING. Exits 4 when another
        isodrop process holds the state folder; a reload that moves state_dir takes the lock along, and
        is refused (the old configuration stays) when another isodrop holds the new folder.""",
    )
    add(
        "scan",
        "one reconcile pass, waiting for its extractions, then exit",
        """\
        Do what `serve` does once: extract new ISOs, remove vanished ones, rewrite menus and exports,
        then exit. An ISO written to in the last quiet_seconds is waited for (up to that long). Exits 1
        when some ISO in the drop folder could not be served, 4 (changing nothing) when the service or
        another scan is working on the same state folder. Writes the status document the service writes,
        so `isodrop status` then shows ignored names and sidecar errors too.""",
    )
    status = add(
        "status",
        "what is served, what failed and why, what is in progress",
        """\
        Show the running service's view (from state_dir/status.json), or, when it is not running, the
        document its last pass or the last scan wrote (or, when neither ran, what the state records hold,
        saying so). Each served ISO shows the command line its menu entry boots and what a sidecar
        changed. Exits 0 when running with no problems, 1 when some ISO failed, 3 when the service is
        not running.""",
    )
    status.add_argument("--json", action="store_true", help="print the status document as JSON")
    clients = add(
        "clients",
        "which PCs booted what, and where each one stopped",
        """\
        List the PCs seen recently in dnsmasq's log (dnsmasq_log: DHCP/PXE answers and TFTP fetches), the
        nginx site's access log (http_access_log) and the kernel NFS server's mounts: MAC, address,
        firmware (BIOS or UEFI, from the PXE client architecture), the entry whose kernel it fetched and
        the furthest stage reached (DHCP answer, boot loader, menu, kernel, initrd, root file system) with
        its time; a PC that made no progress for 3 minutes short of its root is shown as stopped there,
        with the usual cause. Then how many PCs fetched each entry. Reads the logs from where the service
        last stopped and writes nothing. Exits 0, 1 when a log cannot be read (no client data from it),
        3 when the service is not running (the list is still printed).""",
    )
    clients.add_argument("--json", action="store_true", help="print the clients part of the status document as JSON")
    inspect = add(
        "inspect",
        "what isodrop would do with an ISO, without writing anything",
        """\
        Read the ISO in place and show the detected system, why it matched (which files), the menu label
        and the exact kernel, initrd(s) and command line, or the precise reason it cannot be booted.
        "proven:" says whether a VM test boots that family's line with its own initramfs code.
        "UEFI:" gives the Secure Boot verdict of the kernel and what to do when it does not boot; "MOK:"
        names the CA in the ISO's own shim that its kernel is signed under, for a MOK enrolment.
        Exits 0 when bootable, 1 when not, 2 when the file cannot be read as an ISO.""",
    )
    inspect.add_argument("iso", type=Path, metavar="FILE.iso")
    inspect.add_argument("--server", metavar="ADDRESS", help="server address for the command line")
    inspect.add_argument(
        "--vendor-cert",
        type=Path,
        metavar="FILE.der",
        help="write the CA named on the MOK: line to this new file (DER, for mokutil --import)",
    )
    add(
        "check",
        "check the configuration and the system parts isodrop works with",
        """\
        Load the configuration and check folders (and whether trees can share the ISOs' blocks),
        boot loader files, the NFS server and dnsmasq, and whether their limits (dnsmasq's tftp-max,
        nfsd threads, kernels over TFTP or HTTP) let expected_clients PCs boot at once. dnsmasq's
        configuration (the main file, /etc/dnsmasq.d and their includes) must answer on the interface
        that has this server's address with a dhcp-range containing it, and dnsmasq must run.
        Exits 1 when something would stop isodrop from serving.""",
    )
    add(
        "setup-dnsmasq",
        "write dnsmasq's lines for this server's network (interface, proxy-DHCP range)",
        """\
        Find this server's address as the service does (server_address, else the default-route
        interface's), and write dnsmasq_network_file (/etc/dnsmasq.d/isodrop-network.conf): interface=
        and a proxy-DHCP dhcp-range for that interface's network. A file a person wrote or edited
        (no isodrop header, or a body that no longer matches its checksum) is left alone. dnsmasq reads
        it when it starts: then `systemctl restart dnsmasq`. Exits 1 when the address is on no interface
        (nothing is written), or the file cannot be written.""",
    )
    pin = add(
        "pin",
        "give a PC (by MAC, DHCP host name or IP network) its own default entry, timeout or menu, or a one-shot",
        """\
        Set the pin of TARGET in clients_file (/etc/isodrop/clients.toml): the PC with that MAC address,
        every PC whose DHCP address is in that IPv4 network (192.168.10.0/24), or with --hostname the PC
        whose DHCP server gives it that host name. Its menu boots ENTRY (an ISO's file name in the drop
        folder, or "local") at the timeout. A PC matching several pins gets the MAC's, then the host
        name's, then the smallest network's. pxelinux and syslinux.efi cannot see host names, iPXE cannot
        match networks: there such PCs get the normal menu (`isodrop check` says so). The file is
        written atomically (temporary file + rename); its other tables and comments stay, comments inside
        the replaced table go. The running service picks the change up at once (inotify), no reload needed.
        An ISO that is not (or no longer) served leaves the PC with the normal menu and a warning in
        `isodrop status`. --once: only the next boot; the pin goes once dnsmasq's log (dnsmasq_log)
        shows that PC fetched its own menu (MAC pins only). Other pins are untouched; `isodrop pins`
        lists them.""",
    )
    pin.add_argument("target", metavar="TARGET", help="a MAC 52:54:00:aa:bb:01 (or with dashes), or 192.168.10.0/24")
    pin.add_argument("--hostname", action="store_true", help="TARGET is a DHCP-assigned host name (lab-pc-1)")
    pin.add_argument("entry", metavar="ENTRY", help='an ISO\'s file name in the drop folder, or "local"')
    pin.add_argument("--once", action="store_true", help="only the next boot, then the normal menu")
    pin.add_argument("--timeout", type=int, metavar="S", help="seconds before ENTRY boots (0 waits)")
    pin.add_argument("--menu", nargs="+", metavar="ISO", default=[], help="show only these ISOs (and local boot)")
    unpin = add("unpin", "remove a pin: its PCs get the normal menu again", "Remove TARGET's table from clients_file.")
    unpin.add_argument("target", metavar="TARGET", help="a MAC address or IPv4 network, as for pin")
    unpin.add_argument("--hostname", action="store_true", help="TARGET is a host name")
    pins = add(
        "pins",
        "list the pins, and which of them give the normal menu and why",
        """\
        Show the pins in clients_file and, from the service's status document, which PCs get their own
        menu (a pin whose ISO is not served gives the normal menu: the reason is shown). Exits 1 when the
        file has an error (the message names its line).""",
    )
    pins.add_argument("--json", action="store_true", help="print the pins section of the status document as JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse, load the configuration, run the command. An IsodropError is caught here, once: its reason
    printed on one line (a configuration error exits EXIT_USAGE, any other EXIT_PROBLEMS)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.config is not None and args.root is not None:  # one before the command, one after it
        parser.error("argument --root: not allowed with argument -c/--config")
    # The commands, and the service, extraction and recognition they import, are loaded only once the
    # command line is parsed: `isodrop --help`, --version and a usage error stay fast (0.07 s, not 0.24 s).
    commands = importlib.import_module("isodrop.commands")
    setup_logging(args.verbose)
    try:
        return commands.HANDLERS[args.command](commands.resolve_config(args), args)
    except IsodropError as exc:
        about_config = isinstance(exc, ConfigError)
        print(f"isodrop: {'configuration error: ' if about_config else ''}{shown(exc.reason)}", file=sys.stderr)
        return EXIT_USAGE if about_config else EXIT_PROBLEMS
    except lock.Busy as exc:
        print(f"isodrop: {shown(exc)}", file=sys.stderr)
        return EXIT_LOCKED
    except lock.Unusable as exc:
        print(f"isodrop: configuration error: {shown(exc)}", file=sys.stderr)
        return EXIT_USAGE
