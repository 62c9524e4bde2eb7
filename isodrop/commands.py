"""The `isodrop` commands, one function each, called by isodrop.cli with the configuration and the
parsed command line; each returns its exit status (isodrop.exits)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path

from isodrop import __version__, check, clients, handover, lock, pins, status, units
from isodrop.address import interface_networks, server_address
from isodrop.config import DEFAULT_CONFIG_PATH, Config, load, local_defaults
from isodrop.dnsmasq_network import server_network, write
from isodrop.exits import EXIT_NOT_RUNNING, EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE
from isodrop.extract import ExtractError
from isodrop.findings import FAIL
from isodrop.inspection import inspect_iso
from isodrop.model import shown
from isodrop.reconciler import Reconciler
from isodrop.running import RunningState
from isodrop.service import Service
from isodrop.site import Site
from isodrop.trees import Trees


def resolve_config(args: argparse.Namespace) -> Config:
    """The configuration the command line names, its implementation names checked too (a wrong loader or
    NFS server name fails here, at start or on reload, with the ConfigError naming the key)."""
    if args.config is not None:
        config = load(args.config)
    elif args.root is not None:
        config = local_defaults(args.root)
    elif DEFAULT_CONFIG_PATH.exists():
        config = load(DEFAULT_CONFIG_PATH)
    else:
        config = local_defaults(Path.cwd())
    units.resolve(config)
    return config


def cmd_serve(config: Config, args: argparse.Namespace) -> int:
    lock.take(config.state_dir, "serve")

    def reload() -> Config:
        return resolve_config(args)

    logging.getLogger("isodrop").info("isodrop %s starting with %s", __version__, config.source)
    return Service(config, reload_config=reload).run()


def cmd_scan(config: Config, args: argparse.Namespace) -> int:
    lock.take(config.state_dir, "scan")
    site = Site.make(config)
    site.log_address()
    running = RunningState()
    reconciler = Reconciler(site, running=running)
    try:
        reconciler.prepare()
        # No watcher here, so no close events: an ISO still being written is waited for up to quiet_seconds.
        report = reconciler.run_until_idle(wait_for_copies=config.quiet_seconds + 1)
        doc = status.of_pass(config, report, made_by="scan", running=False, system=running.parts())
        status.publish(config, doc)  # what `status` shows next; a page that cannot be written is a warning
    finally:
        reconciler.shutdown()
    print(shown(report.summary))
    states = site.trees.records()
    return EXIT_OK if all(s.outcome.value == "served" for s in states.values()) else EXIT_PROBLEMS


def cmd_status(config: Config, args: argparse.Namespace) -> int:
    doc = status.read(config, Trees(config.trees_dir))
    print(json.dumps(doc, indent=2) if args.json else status.format_status(doc))
    if not doc["running"]:
        return EXIT_NOT_RUNNING
    return EXIT_PROBLEMS if status.has_problems(doc) else EXIT_OK


def cmd_clients(config: Config, args: argparse.Namespace) -> int:
    trees = Trees(config.trees_dir)
    part = clients.status_part(clients.ClientWatch(config), trees.records(), save=False)
    doc = status.read(config, trees)
    print(json.dumps(part, indent=2) if args.json else clients.format_clients(part))
    handed_over = handover.status_lines(doc.get("handover") or {})
    if handed_over and not args.json:  # PCs whose next boot runs an ISO's own chain from their own folder
        print("\n".join(shown(line) for line in handed_over))
    if not doc["running"]:
        return EXIT_NOT_RUNNING
    return EXIT_PROBLEMS if any("no client data" in problem for problem in part["problems"]) else EXIT_OK


def cmd_pin(config: Config, args: argparse.Namespace) -> int:
    def usage(problem: str) -> pins.PinsError:
        return pins.PinsError(f"ENTRY {problem}")

    try:
        new = pins.Pin(
            target=pins.target(args.target, pins.HOSTNAME if args.hostname else ""),
            entry=pins.check_entry(args.entry, usage),
            timeout=args.timeout,
            menu=tuple(pins.check_entry(item, usage) for item in args.menu if item != pins.LOCAL),
            once=args.once,
        )
        if new.timeout is not None and not 0 <= new.timeout <= pins.TIMEOUT_MAX:
            raise pins.PinsError(f"--timeout must be from 0 to {pins.TIMEOUT_MAX} seconds")
        if new.once and new.target.kind != pins.MAC:
            raise pins.PinsError("--once is for one PC (a MAC address): the first PC of a network would use it up")
        if new.menu and new.entry != pins.LOCAL and new.entry not in new.menu:
            new = dataclasses.replace(new, menu=(new.entry, *new.menu))
        pins.edit(config.clients_file, lambda text: pins.with_pin(text, new, str(config.clients_file)))
    except (ValueError, pins.PinsError, OSError) as exc:
        print(f"isodrop: {shown(exc)}", file=sys.stderr)
        return EXIT_USAGE
    print(shown(f"{new.target} pinned: {new.describe()} ({config.clients_file})"))
    for why in pins.loader_limits(new, (config.bios_loader, config.uefi_loader)):
        print(shown(f"warning: {why}"), file=sys.stderr)
    if new.entry != pins.LOCAL and not (config.drop_dir / new.entry).is_file():
        print(shown(f"warning: {new.entry} is not in {config.drop_dir}: the PC gets the normal menu until it is"))
    if new.once and config.dnsmasq_log is None:
        print("warning: dnsmasq_log is not set: the one-shot stays until `isodrop unpin`", file=sys.stderr)
    for note in handover.pin_notes(new, Trees(config.trees_dir).records()):
        print(shown(note))
    return EXIT_OK


def cmd_unpin(config: Config, args: argparse.Namespace) -> int:
    removed = None

    def change(text: str) -> str:
        nonlocal removed
        text, removed = pins.without_pin(text, key, str(config.clients_file))
        return text

    try:
        key = pins.target(args.target, pins.HOSTNAME if args.hostname else "")
        pins.edit(config.clients_file, change)
    except (ValueError, pins.PinsError, OSError) as exc:
        print(f"isodrop: {shown(exc)}", file=sys.stderr)
        return EXIT_USAGE
    if removed is None:
        print(shown(f"{key} is not pinned in {config.clients_file}"))
        return EXIT_PROBLEMS
    print(shown(f"{key} unpinned (was: {removed.describe()}); its PCs get the normal menu"))
    return EXIT_OK


def cmd_pins(config: Config, args: argparse.Namespace) -> int:
    """The file as it is now; warnings from the service's last pass where it knows the same pin."""
    served = (status.read(config, Trees(config.trees_dir)).get("pins") or {}) if config.state_dir.exists() else {}
    known = {(p.get("target", p["mac"]), p["entry"]): p for p in served.get("clients", [])}
    try:
        listed = pins.load(config.clients_file)
        error = ""
    except pins.PinsError as exc:
        listed, error = (), str(exc)
    doc = {
        "file": str(config.clients_file),
        "error": error,
        "clients": [
            {
                **pins.target_fields(p.target),
                "entry": p.entry,
                "timeout": p.timeout,
                "menu": list(p.menu),
                "once": p.once,
                "line": p.line,
                "warning": known.get((p.target.value, p.entry), {}).get("warning", ""),
                "limits": pins.loader_limits(p, (config.bios_loader, config.uefi_loader)),
            }
            for p in listed
        ],
    }
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        print(shown(f"pins in {config.clients_file}:"))
        print("\n".join(shown(line) for line in status.pin_lines(doc)[1:]) or "  none")
    return EXIT_PROBLEMS if error else EXIT_OK


def cmd_inspect(config: Config, args: argparse.Namespace) -> int:
    try:
        inspection = inspect_iso(Site.make(config, args.server or ""), args.iso)
    except ExtractError as exc:
        print(shown(f"{args.iso}: cannot be read: {exc}"))
        return EXIT_USAGE
    for line in inspection.lines:
        print(shown(line))
    if args.vendor_cert:
        if not inspection.vendor_cert:
            print(shown(f"{args.vendor_cert}: not written: no vendor CA in {args.iso} that its kernel is signed under"))
            return EXIT_PROBLEMS
        try:
            with open(args.vendor_cert, "xb") as out:  # never over an existing file
                out.write(inspection.vendor_cert)
        except OSError as exc:
            print(shown(f"{args.vendor_cert}: not written: {exc.strerror or exc}"))
            return EXIT_PROBLEMS
        print(shown(f"wrote {args.vendor_cert}: enrol it with mokutil --import {args.vendor_cert} on the PC"))
    return EXIT_OK if inspection.bootable else EXIT_PROBLEMS


def cmd_check(config: Config, args: argparse.Namespace) -> int:
    failures = 0
    for finding in check.findings(Site.make(config)):
        failures += finding.level == FAIL
        print(shown(f"{finding.level:<4}  {finding.message}"))
    return EXIT_PROBLEMS if failures else EXIT_OK


def cmd_setup_dnsmasq(config: Config, args: argparse.Namespace) -> int:
    if config.dnsmasq_network_file is None:
        print('isodrop: dnsmasq_network_file = "": nothing to write', file=sys.stderr)
        return EXIT_USAGE
    address, how = server_address(config.server_address)
    net = server_network(address, interface_networks(), how)
    if net is None:
        print(
            shown(
                f"isodrop: this server's address {address} ({how}) is on no interface (ip -br addr): nothing written"
            ),
            file=sys.stderr,
        )
        return EXIT_PROBLEMS
    result, changed = write(config.dnsmasq_network_file, net)
    print(shown(result.message))
    if changed:
        print("dnsmasq reads it when it starts: systemctl restart dnsmasq")
    return EXIT_OK if result.ok else EXIT_PROBLEMS


HANDLERS = {
    "serve": cmd_serve,
    "scan": cmd_scan,
    "status": cmd_status,
    "clients": cmd_clients,
    "inspect": cmd_inspect,
    "check": cmd_check,
    "setup-dnsmasq": cmd_setup_dnsmasq,
    "pin": cmd_pin,
    "unpin": cmd_unpin,
    "pins": cmd_pins,
}
