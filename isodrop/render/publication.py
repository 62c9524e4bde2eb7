"""What should be published, computed from one snapshot of a pass: pure, testable without files.

From the state records, the trees in place, the sidecars and where trees are served from, it gives
every menu file of every active loader and the exports text. The publisher only writes the result.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from isodrop.config import Config
from isodrop.loaders import Loader
from isodrop.model import Outcome, ServerContext
from isodrop.nfs import NfsServer
from isodrop.render.menu import Menu, Served, build_menu
from isodrop.secureboot import Verdict
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
                secure_boot=Verdict.from_dict(state.secure_boot) if state.secure_boot else None,
            )
        )
    return served


@functools.lru_cache(maxsize=1)
def _rendered(menu: Menu, loaders: tuple[Loader, ...], tftp_root: Path) -> tuple[tuple[Path, str], ...]:
    """Every loader's menu files for `menu`. Rendering is pure, and most passes change nothing, so the
    previous pass's result is reused when menu, loaders and TFTP root are equal (500 entries: rendering
    all menus takes ~10 ms, comparing ~1 ms)."""
    return tuple((tftp_root / rel, text) for loader in loaders for rel, text in loader.render(menu).items())


def publication(
    states: Mapping[str, EntryState],
    trees: set[str] | frozenset[str],
    sidecars: Mapping[str, Sidecar],
    contexts: Mapping[str, ServerContext],
    config: Config,
    loaders: Sequence[Loader],
    nfs: NfsServer,
) -> Publication:
    live = live_slugs(states, trees)
    served = served_entries(states, live, sidecars, contexts)
    menus = _rendered(build_menu(served, config), tuple(loaders), config.tftp_root)
    exported = [Path(contexts[slug].nfs_path) for slug in live]
    return Publication(
        menus=menus,
        exports_file=nfs.exports_file(config),
        exports=nfs.render(exported, config.client_network),
        shown=len(served),
        exported=len(exported),
    )
