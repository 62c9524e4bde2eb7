"""isodrop.render.publication: what one pass publishes, computed from values alone."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from isodrop.loaders import active_loaders
from tests.harness.menu_entries import CONFIG, served


def test_publication_is_computed_from_values_alone() -> None:
    """Menus and exports from records, trees present and sidecars: no file is read or written."""
    from isodrop.model import Outcome
    from isodrop.nfs import nfs_server
    from isodrop.render.publication import publication
    from isodrop.sidecar import Sidecar
    from isodrop.site import Site
    from isodrop.state import EntryState

    config = dataclasses.replace(
        CONFIG, tftp_root=Path("/nonexistent/tftp"), trees_dir=Path("/nonexistent/tftp/isodrop")
    )

    def state(slug: str, outcome: Outcome = Outcome.SERVED) -> EntryState:
        entry = served(slug, slug.title()).entry if outcome is Outcome.SERVED else None
        return EntryState(slug=slug, source=f"{slug}.iso", size=1, mtime_ns=1, outcome=outcome, entry=entry)

    states = {s: state(s) for s in ("a", "b", "gone")} | {"bad": state("bad", Outcome.FAILED)}
    site = Site.make(config, "10.0.0.1")
    contexts = {slug: site.context(slug) for slug in states}
    sidecars = {"b.iso": Sidecar(hidden=True), "a.iso": Sidecar(label="Renamed")}
    result = publication(
        states, {"a", "b", "bad"}, sidecars, contexts, config, active_loaders(config), nfs_server(config)
    )
    menus = dict(result.menus)
    assert list(menus) == [
        Path("/nonexistent/tftp/ipxe/menu-pcbios.ipxe"),
        Path("/nonexistent/tftp/ipxe/menu-efi.ipxe"),
        Path("/nonexistent/tftp/ipxe/menu.ipxe"),
        Path("/nonexistent/tftp/grub/grub.cfg"),  # uefi_loader = "grub" (the default)
        Path("/nonexistent/tftp/efi64/pxelinux.cfg/default"),
        Path("/nonexistent/tftp/pxelinux.cfg/default"),
    ]
    bios = menus[Path("/nonexistent/tftp/pxelinux.cfg/default")]
    assert "MENU LABEL Renamed" in bios and "LABEL iso-b\n" not in bios and "LABEL iso-gone" not in bios
    assert result.shown == 1 and result.exported == 2 and result.exports_file == config.exports_file
    assert "/nonexistent/tftp/isodrop/b *(ro" in result.exports and "isodrop/gone" not in result.exports

    # the next pass with equal inputs reuses the rendered menus; any change renders them again
    loaders = active_loaders(config)
    again = publication(states, {"a", "b", "bad"}, sidecars, contexts, config, loaders, nfs_server(config))
    same = publication(states, {"a", "b", "bad"}, sidecars, contexts, config, loaders, nfs_server(config))
    assert same.menus is again.menus and dict(again.menus) == menus
    relabelled = publication(
        states, {"a", "b", "bad"}, {"a.iso": Sidecar(label="Other")}, contexts, config, loaders, nfs_server(config)
    )
    bios = dict(relabelled.menus)[Path("/nonexistent/tftp/pxelinux.cfg/default")]
    assert "MENU LABEL Other" in bios and "LABEL iso-b\n" in bios  # b's sidecar no longer hides it
