"""isodrop.build: one ISO's job from drop file to state record: where its tree is served from, what its
recognition makes of the outcome, and junk judged from one small read before any worker or parser."""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

import pytest

from isodrop import status
from isodrop.build import Job, entry_state, junk_state, outcome_of
from isodrop.config import local_defaults
from isodrop.model import BootEntry, NotBootable, Outcome, ServerContext
from isodrop.plan import DropFile
from isodrop.render.menu import build_menu
from isodrop.render.publication import served_entries
from isodrop.trees import Trees
from tests.harness.family_layouts import fedora_41, ubuntu_2404
from tests.harness.isofactory import build_iso
from tests.harness.servicekit import build_debian_live, passes
from tests.harness.signing import KIT_CHAIN, ChainKit

ENTRY = BootEntry("debian-live", "Live", "live/vmlinuz", ("live/initrd.img",), ("boot=live",))


def test_outcomes_say_served_unsupported_or_unrecognised_with_the_reason() -> None:
    assert outcome_of(ENTRY) == (Outcome.SERVED, "")
    assert outcome_of(NotBootable("Tails needs its own USB stick")) == (
        Outcome.UNSUPPORTED,
        "Tails needs its own USB stick",
    )
    assert outcome_of(NotBootable("no known live system", guessed=True)) == (
        Outcome.UNRECOGNISED,
        "no known live system",
    )


def test_a_state_keeps_the_entry_and_its_context_only_when_served() -> None:
    drop = DropFile(name="a.iso", size=3, mtime_ns=7, stable=True)
    ctx = ServerContext("10.0.0.1", "/srv/tftp/isodrop/a", "isodrop/a")
    served = entry_state(drop, Outcome.SERVED, recognition=ENTRY, ctx=ctx, secure_boot={"boots": True})
    assert (served.entry, served.context, served.label, served.family) == (ENTRY, ctx, "Live", "debian-live")
    unsupported = entry_state(drop, Outcome.UNSUPPORTED, recognition=NotBootable("no", family="tails"), ctx=ctx)
    assert (unsupported.entry, unsupported.context, unsupported.family) == (None, None, "tails")


def test_junk_is_failed_from_its_size_and_a_real_iso_is_left_to_its_extraction(tmp_path: Path) -> None:
    small = tmp_path / "small.iso"
    small.write_bytes(b"x" * 1000)
    state = junk_state(Job(DropFile(name="small.iso", size=1000, mtime_ns=1, stable=True)), small)
    assert state is not None and state.outcome is Outcome.FAILED
    assert state.error == f"{small} is not an ISO 9660 image: 1000 bytes, smaller than any (34816)"
    maybe = tmp_path / "maybe.iso"
    maybe.write_bytes(bytes(32769) + b"CD001" + bytes(2042))
    assert junk_state(Job(DropFile(name="maybe.iso", size=34816, mtime_ns=1, stable=True)), maybe) is None
    assert junk_state(Job(DropFile(name="gone.iso", size=0, mtime_ns=1, stable=True)), tmp_path / "gone.iso") is None


SHIM = Path("/usr/lib/shim/shimx64.efi.signed")  # Debian's: the shim isodrop's menu runs behind


@pytest.mark.skipif(not SHIM.exists(), reason="needs shim-signed (tests/apt-packages.txt)")
def test_a_fedora_like_iso_gets_its_own_chain_recorded_and_status_shows_it(tmp_path: Path, chain_kit: ChainKit) -> None:
    """A Fedora-like ISO whose kernel is signed by its vendor (refused by Debian's shim) and which carries
    that vendor's shim and network GRUB in EFI/BOOT/: built into a tree, its record holds the usable chain,
    the menu model carries it, `status` says the entry boots through it; a Debian live ISO, whose kernel
    Debian's shim would check first, gets no chain looked for."""
    config = dataclasses.replace(local_defaults(tmp_path / "demo"), shim_file=SHIM)
    config.drop_dir.mkdir(parents=True)
    layout = fedora_41()
    build_iso(config.drop_dir / "fedora.iso", {**layout.files, **chain_kit.tree_files()}, volume_id=layout.volume_id)
    build_debian_live(config.drop_dir / "debian.iso")
    long_ago = time.time() - 600
    for iso in config.drop_dir.iterdir():
        os.utime(iso, (long_ago, long_ago))
    report = passes(config)
    fedora = report.states["fedora"]
    assert fedora.outcome is Outcome.SERVED and fedora.secure_boot is not None and not fedora.secure_boot.boots
    assert fedora.vendor_chain == KIT_CHAIN
    assert Trees(config.trees_dir).records()["fedora"].vendor_chain == fedora.vendor_chain, "as recorded"
    assert report.states["debian"].vendor_chain is None
    doc = status.of_pass(config, report, made_by="scan", running=False)
    (entry,) = [e for e in doc["entries"] if e["slug"] == "fedora"]
    assert entry["vendor_chain"] == fedora.vendor_chain.to_dict()
    text = status.format_status(doc)
    assert "      Secure Boot: boots with Secure Boot on through its own chain (Test Vendor CA's shim and GRUB)" in text
    assert "(Debian's shim refuses its kernel: signed by Test Vendor Signer, which this shim does not trust" in text
    served = served_entries(report.states, ["fedora"], {}, {"fedora": fedora.context})  # type: ignore[dict-item]
    assert build_menu(served, config).items[0].handover == "Test Vendor CA", "the menu hands it over"


@pytest.mark.skipif(not SHIM.exists(), reason="needs shim-signed (tests/apt-packages.txt)")
def test_an_ubuntu_like_iso_whose_own_grub_cannot_read_the_network_says_why_and_is_not_handed_over(
    tmp_path: Path, chain_kit: ChainKit
) -> None:
    """Ubuntu 24.04's layout (casper, `EFI/boot/` in lower case) with its vendor's shim and the CD GRUB
    (no tftp: Ubuntu's and Mint's ISO GRUB, docs/secure-boot-vendors.md section 1), the kernel signed by
    the vendor: the chain is found but not usable, status says why and what to do, the menu does not
    hand the entry over (with Secure Boot on it says "(needs Secure Boot off)")."""
    config = dataclasses.replace(local_defaults(tmp_path / "demo"), shim_file=SHIM)
    config.drop_dir.mkdir(parents=True)
    layout = ubuntu_2404()
    chain = chain_kit.tree_files(grub=chain_kit.grub_cd)
    files = {**layout.files, "casper/vmlinuz": chain.pop("images/pxeboot/vmlinuz")}
    files.pop("EFI/boot/bootx64.efi")
    files |= {
        name.replace("EFI/BOOT/", "EFI/boot/").replace("BOOTX64.EFI", "bootx64.efi"): data
        for name, data in chain.items()
    }
    build_iso(config.drop_dir / "ubuntu.iso", files, volume_id=layout.volume_id)
    long_ago = time.time() - 600
    os.utime(config.drop_dir / "ubuntu.iso", (long_ago, long_ago))
    ubuntu = passes(config).states["ubuntu"]
    assert ubuntu.outcome is Outcome.SERVED and ubuntu.family == "ubuntu-layered"
    assert ubuntu.vendor_chain is not None and not ubuntu.vendor_chain.usable
    assert ubuntu.vendor_chain.shim == "EFI/boot/bootx64.efi" and ubuntu.vendor_chain.vendor == "Test Vendor CA"
    said = ubuntu.summary()["secure_boot"]
    assert "its GRUB has no tftp module: it cannot read from the network" in said, said
    assert "to boot it: switch Secure Boot off" in said, said
    served = served_entries({"ubuntu": ubuntu}, ["ubuntu"], {}, {"ubuntu": ubuntu.context})  # type: ignore[dict-item]
    assert build_menu(served, config).items[0].handover == "", "no hand-over to a chain that cannot boot it"
