"""What should be published, computed from one snapshot of a pass: pure, testable without files.

From the state records, the trees in place, the sidecars and where trees are served from, it gives
every menu file of every active loader and the exports text. The publisher only writes the result.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from isodrop.config import Config
from isodrop.loaders import Loader
from isodrop.model import Outcome, ServerContext
from isodrop.nfs import NfsServer
from isodrop.pins import LOCAL, Pin, Target
from isodrop.render.menu import Menu, MenuItem, Served, all_items, build_menu
from isodrop.sidecar import Sidecar, apply
from isodrop.state import EntryState


@dataclass(frozen=True)
class Publication:
    """Files to publish, in the order they are written (the BIOS menu last), and what they show."""

    menus: tuple[tuple[Path, str], ...]  # absolute path, text
    exports_file: Path
    exports: str
    shown: int  # menu entries (hidden ones left out)
    exported: int  # trees exported (hidden ones too: hiding is about the menu only)
    client_files: frozenset[Path] = frozenset()  # the per-PC menus among `menus`: others like them go
    pin_warnings: dict[str, str] = field(default_factory=dict)  # target -> why its PCs get the normal menu
    items: tuple[MenuItem, ...] = ()  # the shared menu's entries, as every PC without a pin sees them


def live_slugs(states: Mapping[str, EntryState], trees: set[str] | frozenset[str]) -> list[str]:
    """Slugs that are served: a bootable outcome and the tree in place."""
    return sorted(slug for slug, state in states.items() if state.outcome is Outcome.SERVED and slug in trees)


def served_entries(
    states: Mapping[str, EntryState],
    live: Sequence[str],
    sidecars: Mapping[str, Sidecar],
    contexts: Mapping[str, ServerContext],
) -> list[Served]:
    """Menu entries of the `live` slugs with their sidecars (by ISO name) applied, hidden ones left out."""
    served = []
    for slug in live:
        state = states[slug]
        if state.entry is None:
            continue
        sidecar = sidecars.get(state.source, Sidecar())
        if sidecar.hidden:
            continue
        ctx = contexts[slug]
        served.append(
            Served(
                slug=slug,
                source=state.source,
                tftp_path=ctx.tftp_path,
                entry=apply(state.entry, sidecar),
                position=sidecar.position,
                http_url=ctx.http_url,
                secure_boot=state.secure_boot,
                vendor_chain=state.vendor_chain,
            )
        )
    return served


@functools.lru_cache(maxsize=1)
def _rendered(menu: Menu, loaders: tuple[Loader, ...], tftp_root: Path) -> tuple[tuple[Path, str], ...]:
    """Every loader's menu files for `menu`. Rendering is pure, and most passes change nothing, so the
    previous pass's result is reused when menu, loaders and TFTP root are equal (500 entries: rendering
    all menus takes ~10 ms, comparing ~1 ms)."""
    return tuple((tftp_root / rel, text) for loader in loaders for rel, text in loader.render(menu).items())


def client_menus(
    served: list[Served], config: Config, pins: Sequence[Pin]
) -> tuple[dict[Target, Menu], dict[str, str]]:
    """Each pin's own menu, by target, built like the shared one (same sorting, labels and default
    rules) from the entries its pin lets it see, with the pinned entry as default; and, by target
    value, why its PCs get the shared menu instead: its entry is not served (removed, failed, hidden,
    too long)."""
    menus, warnings = {}, {}
    for pin in pins:
        shown = [s for s in served if not pin.menu or s.source in pin.menu]
        timeout = config.menu_timeout if pin.timeout is None else pin.timeout * 10
        menu = build_menu(shown, dataclasses.replace(config, menu_default=pin.entry, menu_timeout=timeout))
        if pin.entry != LOCAL and menu.default == LOCAL:
            warnings[pin.target.value] = f"{pin.entry} is not served (removed, failed or hidden): the normal menu"
            continue
        menus[pin.target] = menu
    return menus, warnings


@functools.lru_cache(maxsize=256)
def _rendered_client(
    menu: Menu, loaders: tuple[Loader, ...], tftp_root: Path, key: Target
) -> tuple[tuple[Path, str], ...]:
    return tuple((tftp_root / rel, text) for loader in loaders for rel, text in loader.client_files(menu, key).items())


def _by_precedence(own: Mapping[Target, Menu], loaders: tuple[Loader, ...], tftp_root: Path) -> list[tuple[Path, str]]:
    """The per-PC files of every pin, most specific pin first; where two pins map to the same file (a
    /24 and a /23 share pxelinux.cfg/C0A80A), the more specific one's."""
    files: dict[Path, str] = {}
    for key in sorted(own, key=Target.precedence):
        for path, text in _rendered_client(own[key], loaders, tftp_root, key):
            files.setdefault(path, text)
    return list(files.items())


def publication(
    states: Mapping[str, EntryState],
    trees: set[str] | frozenset[str],
    sidecars: Mapping[str, Sidecar],
    contexts: Mapping[str, ServerContext],
    config: Config,
    loaders: Sequence[Loader],
    nfs: NfsServer,
    pins: Sequence[Pin] = (),
) -> Publication:
    """Per-PC menus come first: the shared menus that branch to them (GRUB, iPXE) are written after."""
    live = live_slugs(states, trees)
    served = served_entries(states, live, sidecars, contexts)
    own, warnings = client_menus(served, config, pins)
    shared = dataclasses.replace(build_menu(served, config), clients=tuple(sorted(own, key=Target.precedence)))
    clients = tuple(_by_precedence(own, tuple(loaders), config.tftp_root))
    menus = clients + _rendered(shared, tuple(loaders), config.tftp_root)
    exported = [Path(contexts[slug].nfs_path) for slug in live]
    return Publication(
        client_files=frozenset(path for path, _ in clients),
        pin_warnings=warnings,
        menus=menus,
        exports_file=nfs.exports_file,
        exports=nfs.render(exported),
        shown=len(served),
        exported=len(exported),
        items=all_items(shared),
    )
