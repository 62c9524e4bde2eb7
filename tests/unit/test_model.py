"""isodrop.model: the values passed between steps keep outside text harmless (one menu line, escaped for
people), refuse fields that would break a menu, and survive the state file's round trip."""

from __future__ import annotations

import pytest

from isodrop.limits import INITRDS_MAX, LABEL_MAX
from isodrop.model import RAM_MARGIN_BYTES, BootEntry, NotBootable, mib, printable, shown


def entry(**fields: object) -> BootEntry:
    values = {"family": "debian-live", "label": "Live", "kernel": "live/vmlinuz", "initrds": ("live/initrd.img",)}
    return BootEntry(**({"params": ("boot=live",)} | values | fields))  # type: ignore[arg-type]


def test_menu_text_is_one_line_and_text_for_people_shows_its_escapes() -> None:
    assert printable("a\nb\x00c") == "a b c"
    assert printable("bad \udcff byte") == "bad \ufffd byte"
    assert shown("evil\u202egnp.iso\n\x1b[2J") == "evil\\u202egnp.iso\\n\\x1b[2J"
    assert shown("bad \udcff byte") == "bad \\xff byte"
    assert shown("plain") == "plain"


def test_a_label_is_cut_to_one_menu_line_and_used_fields_refuse_line_breaks() -> None:
    assert entry(label="  Live\n" + "x" * 500).label == ("Live " + "x" * 500)[:LABEL_MAX]
    with pytest.raises(ValueError, match="line break or NUL"):
        entry(kernel="live/vmlinuz\nAPPEND init=/bin/sh")
    with pytest.raises(ValueError, match="line break or NUL"):
        entry(params=("boot=live\0",))


def test_an_entry_survives_its_round_trip_through_the_state_file() -> None:
    original = entry(evidence=("live/filesystem.squashfs",), firmware=("bios",), copies_to_ram_bytes=3 << 30)
    assert BootEntry.from_dict(original.to_dict()) == original
    assert BootEntry.from_dict({"family": "f", "label": "L", "kernel": "k"}).firmware == ("bios", "efi64")


def test_too_long_names_the_first_limit_broken() -> None:
    assert entry().too_long() is None
    assert "initrds, over isodrop's limit" in entry(initrds=("i",) * (INITRDS_MAX + 1)).too_long()
    assert entry(kernel="k" * 300).too_long().startswith("kernel path is 300 bytes")
    assert "over the kernel's 2047-byte limit" in entry(params=("x" * 2000,)).too_long()


def test_root_line_and_ram_needed_follow_what_the_initramfs_copies() -> None:
    copied = entry(copies_to_ram_bytes=1000 * 2**20 + 1)
    assert copied.ram_needed_bytes == 1000 * 2**20 + 1 + RAM_MARGIN_BYTES
    assert f"({mib(1000 * 2**20 + 1)} MiB)" in copied.root_line() and "1001 MiB" in copied.root_line()
    assert entry().ram_needed_bytes == 0 and "read on demand" in entry().root_line()
    assert "runs on its own" in entry(initrds=(), params=()).root_line()


def test_a_verdict_names_the_family_that_raised_it_once() -> None:
    verdict = NotBootable("no NFS support in the initrd").claimed("fedora", ("LiveOS/squashfs.img",))
    assert (verdict.family, verdict.evidence, verdict.guessed) == ("fedora", ("LiveOS/squashfs.img",), False)
    assert verdict.claimed("generic", ()).family == "fedora"
