"""`isodrop check`: the configuration and the system parts isodrop works with, as findings.

Folders (and whether trees can share the ISOs' blocks), boot loader files, the NFS server and dnsmasq,
and whether their limits let expected_clients PCs boot at once. A FAIL is something that would stop
isodrop from serving; the command exits 1 on one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path

from isodrop import clients, dnsmasq_network, handover, http, pins, rush
from isodrop.address import interface_networks
from isodrop.config import Config
from isodrop.findings import FAIL, OK, WARN, Finding
from isodrop.loaders import loader_files
from isodrop.loaders.choice import BIOS_BOOT_FILE, IPXE_SCRIPT, UEFI_BOOT_FILE
from isodrop.secureboot import Verdict, remedy
from isodrop.site import Site
from isodrop.state import EntryState
from isodrop.storage import zero_copy_report
from isodrop.vendorchain import VendorChain

LOADER_PACKAGES = "pxelinux, syslinux-common, syslinux-efi, shim-signed, grub-efi-amd64-signed, ipxe"


def findings(site: Site) -> Iterator[Finding]:
    """Every finding, in the order `isodrop check` prints them (made as they are printed: some wait
    for the network)."""
    config = site.config
    yield Finding(OK, f"configuration: {config.source}")
    if config.menu_default == "first":
        yield Finding(
            WARN,
            'menu_default = "first": whoever can write the drop folder decides what PCs left at the menu boot '
            '(a sidecar position or a label that sorts first); name an ISO file, or "local"',
        )
    for name, folder in (
        ("drop_dir", config.drop_dir),
        ("tftp_root", config.tftp_root),
        ("trees_dir", config.trees_dir),
        ("state_dir", config.state_dir),
    ):
        yield _folder(name, folder)
    yield from zero_copy_report(config.drop_dir, config.trees_dir, site.trees.temporaries)
    yield from pins.check_report(config.clients_file, config.dnsmasq_log, (config.bios_loader, config.uefi_loader))
    sources = sorted(set(loader_files(config).values()))
    missing = [src for src in sources if not src.is_file()]
    for src in missing:
        yield Finding(WARN, f"boot loader file {src} not found (install {LOADER_PACKAGES})")
    if not missing:
        yield Finding(OK, f"boot loader files found ({', '.join(loader.name for loader in site.loaders)})")
    yield Finding(OK, f"BIOS clients: dnsmasq hands out {BIOS_BOOT_FILE} = {config.bios_loader} (bios_loader)")
    yield Finding(OK, f"UEFI clients: dnsmasq hands out {UEFI_BOOT_FILE} = {config.uefi_loader} (uefi_loader)")
    yield Finding(OK, f"iPXE clients: dnsmasq hands out {IPXE_SCRIPT} (menu, or a chain to the chosen loader)")
    yield from entry_chains(config, site.trees.records())
    yield Finding(OK if site.server != "127.0.0.1" else WARN, f"clients will boot from {site.server}")
    yield from http.delivery(config)
    yield http.probe(config, site.trees)
    if config.local_mode:
        yield Finding(OK, "local mode: exports are not re-read and dnsmasq is not signalled")
        return
    yield from site.nfs.check()
    yield dnsmasq_network.dnsmasq_running(config)
    options = rush.dnsmasq_options(rush.SystemFiles())
    unread = dnsmasq_network.unread_changes(config, options)
    if unread:  # the lines below describe the files, not what the running dnsmasq answers with
        yield Finding(
            WARN,
            f"dnsmasq started before {', '.join(unread)} changed and reads it only when it starts:"
            " systemctl restart dnsmasq",
        )
    yield from dnsmasq_network.findings(config, options, site.server, interface_networks())
    yield from handover.dnsmasq_findings(config, options, site.trees.records())
    yield from rush.report(config)
    yield from clients.check(config)


def _folder(name: str, folder: Path) -> Finding:
    """A configured folder exists and is writable (the drop folder need not be), or can be created."""
    existing = next((p for p in (folder, *folder.parents) if p.exists()), Path("/"))
    if folder.is_dir():
        ok = os.access(folder, os.W_OK) or name == "drop_dir"
        return Finding(OK if ok else FAIL, f"{name} {folder} exists{'' if ok else ' but is not writable'}")
    if os.access(existing, os.W_OK):
        return Finding(OK, f"{name} {folder} will be created")
    return Finding(FAIL, f"{name} {folder} does not exist and {existing} is not writable")


def entry_chains(config: Config, states: Mapping[str, EntryState]) -> Iterator[Finding]:
    """Per served entry, the chain each kind of PC boots it through: BIOS, UEFI with Secure Boot off,
    UEFI with Secure Boot on (where shim's verdict on the kernel decides, and for a kernel Debian's shim
    refuses, whether the ISO's own chain boots it)."""
    for slug, state in sorted(states.items()):
        if state.entry is None:
            continue
        firmware = state.entry.firmware
        bios = config.bios_loader if "bios" in firmware else "not offered"
        if "efi64" not in firmware:
            uefi_off = uefi_on = "not offered"
        else:
            uefi_off = "Debian's shim + GRUB" if config.uefi_loader == "grub" else config.uefi_loader
            uefi_on = _with_secure_boot(config, state.secure_boot, state.vendor_chain)
        yield Finding(
            OK, f"entry {slug}: BIOS: {bios}; UEFI Secure Boot off: {uefi_off}; UEFI Secure Boot on: {uefi_on}"
        )


def _with_secure_boot(config: Config, verdict: Verdict | None, chain: VendorChain | None) -> str:
    if config.uefi_loader != "grub":
        return f"does not boot ({config.uefi_loader}, uefi_loader, is not signed)"
    if verdict is None:
        return "Debian's shim + GRUB, kernel not checked (openssl or the shim missing)"
    if verdict.boots:
        return f"Debian's shim + GRUB ({verdict.reason})"
    if chain is not None and chain.usable:
        return (
            f"the ISO's own chain, {chain.vendor}'s shim + GRUB (Debian's shim refuses its kernel: {verdict.reason}); "
            "chosen in the menu, the PC restarts into it"
        )
    own = f"; the ISO's own chain cannot boot it: {chain.reason}" if chain is not None else ""
    return f"needs Secure Boot off ({verdict.reason}{own}); to boot it: {remedy(verdict)}"
