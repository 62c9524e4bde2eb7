"""isodrop.vendorchain: an ISO's own Secure Boot chain found in its tree, on real PE images made here (a
shim-shaped PE trusting a test CA, GRUB images made by grub-mkimage from Debian's modules and signed with
sbsign, a kernel signed under the CA: tests/harness/signing.py) and on Debian's own signed GRUB images."""

from __future__ import annotations

import os
import shutil
import struct
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from isodrop.loaders.choice import UEFI_BOOT_FILE
from isodrop.secureboot import Deadline, Verdict, read_pe
from isodrop.vendorchain import (
    BOOT_FOLDER,
    MAX_OBJECTS,
    NotGrub,
    VendorChain,
    config_dirs,
    describe_secure_boot,
    find_chain,
    grub_built_in,
)
from tests.harness.signing import DEBIAN_GRUB, KIT_CHAIN, ChainKit, sbsign

DEBIAN_CD_GRUB = Path("/usr/lib/grub/x86_64-efi-signed/gcdx64.efi.signed")
USABLE = KIT_CHAIN.reason


def test_a_chain_survives_its_record() -> None:
    chain = VendorChain(
        "Test Vendor CA", "EFI/BOOT/BOOTX64.EFI", "EFI/BOOT/grubx64.efi", "", ("EFI/BOOT", "efi64"), True, "r"
    )
    assert VendorChain.from_dict(chain.to_dict()) == chain
    assert chain.to_dict()["config_dirs"] == ["EFI/BOOT", "efi64"]


def test_the_boot_folder_is_the_one_dnsmasq_hands_out() -> None:
    assert str(UEFI_BOOT_FILE.parent) == BOOT_FOLDER


def tree_of(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def chain_in(root: Path, files: dict[str, bytes]) -> VendorChain | None:
    tree = tree_of(root, files)
    return find_chain(tree, tree / "images/pxeboot/vmlinuz")


def test_a_fedora_like_chain_is_usable(tmp_path: Path, chain_kit: ChainKit) -> None:
    assert chain_in(tmp_path, chain_kit.tree_files()) == KIT_CHAIN


def test_names_are_found_in_any_case_and_kept_as_they_are(tmp_path: Path, chain_kit: ChainKit) -> None:
    files = {rel.lower() if rel.startswith("EFI") else rel: data for rel, data in chain_kit.tree_files().items()}
    del files["efi/boot/mmx64.efi"]
    chain = chain_in(tmp_path, files)
    assert chain is not None and chain.usable
    assert (chain.shim, chain.grub, chain.manager) == ("efi/boot/bootx64.efi", "efi/boot/grubx64.efi", "")


def test_no_shim_is_no_chain(tmp_path: Path, chain_kit: ChainKit) -> None:
    files = chain_kit.tree_files()
    del files["EFI/BOOT/BOOTX64.EFI"]
    assert chain_in(tmp_path, files) is None
    assert chain_in(tmp_path / "empty", {"images/pxeboot/vmlinuz": b"MZ"}) is None


def test_a_shim_without_a_vendor_certificate_is_not_usable(tmp_path: Path, chain_kit: ChainKit) -> None:
    files = {**chain_kit.tree_files(), "EFI/BOOT/BOOTX64.EFI": chain_kit.unsigned.read_bytes()}
    chain = chain_in(tmp_path, files)
    assert chain is not None and not chain.usable and chain.vendor == ""
    assert chain.reason == "its shim (EFI/BOOT/BOOTX64.EFI) carries no vendor certificate: it trusts no vendor"
    garbage = chain_in(tmp_path / "garbage", {**files, "EFI/BOOT/BOOTX64.EFI": b"MZ" + b"\xff" * 300})
    assert garbage is not None and not garbage.usable
    assert garbage.reason.startswith("its shim (EFI/BOOT/BOOTX64.EFI) cannot be read as one (")


def test_a_grub_signed_by_a_stranger_is_not_usable(tmp_path: Path, chain_kit: ChainKit) -> None:
    chain = chain_in(tmp_path, chain_kit.tree_files(grub=chain_kit.grub_stranger))
    assert chain is not None and not chain.usable and chain.vendor == "Test Vendor CA"
    assert chain.reason == (
        "its GRUB is not signed by Test Vendor CA: signed by Stranger Signer, which this shim does not trust "
        "(it trusts Test Vendor CA)"
    )
    unsigned = chain_in(tmp_path / "unsigned", chain_kit.tree_files(grub=chain_kit.grub_net_unsigned))
    assert unsigned is not None and unsigned.reason == "its GRUB is not signed by Test Vendor CA: unsigned GRUB"


def test_a_cd_grub_without_tftp_cannot_read_from_the_network(tmp_path: Path, chain_kit: ChainKit) -> None:
    """Debian's and Ubuntu's CD image shape: efinet, no tftp, an embedded config and a memdisk (which makes
    grub-mkimage put the prefix on the memdisk: not on the TFTP server)."""
    chain = chain_in(tmp_path, chain_kit.tree_files(grub=chain_kit.grub_cd))
    assert chain is not None and not chain.usable
    assert chain.reason == (
        "its GRUB has no tftp module: it cannot read from the network "
        "(its GRUB runs an embedded configuration and carries a memdisk)"
    )
    assert chain.config_dirs == ("efi64",)


def test_a_kernel_not_signed_by_the_vendor_is_not_usable(tmp_path: Path, chain_kit: ChainKit) -> None:
    chain = chain_in(tmp_path, chain_kit.tree_files(kernel=DEBIAN_GRUB))
    assert chain is not None and not chain.usable
    assert chain.reason.startswith("its kernel is not signed by Test Vendor CA: signed by Debian Secure Boot Signer")
    unsigned = chain_in(tmp_path / "unsigned", chain_kit.tree_files(kernel=chain_kit.unsigned))
    assert unsigned is not None and unsigned.reason == "its kernel is not signed by Test Vendor CA: unsigned kernel"


def test_no_grub_beside_the_shim_is_not_usable(tmp_path: Path, chain_kit: ChainKit) -> None:
    files = chain_kit.tree_files()
    del files["EFI/BOOT/grubx64.efi"]
    chain = chain_in(tmp_path, files)
    assert chain is not None and not chain.usable and chain.manager == "EFI/BOOT/mmx64.efi"
    assert chain.reason == "the ISO carries no GRUB beside its shim (EFI/BOOT/grubx64.efi)"


# --- symbolic links: followed only inside the tree ---------------------------------------------------------


def test_a_shim_linked_out_of_the_tree_is_not_followed(tmp_path: Path, chain_kit: ChainKit) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copyfile(chain_kit.shim, outside / "shim.efi")
    files = chain_kit.tree_files()
    del files["EFI/BOOT/BOOTX64.EFI"]
    tree = tree_of(tmp_path / "tree", files)
    (tree / "EFI/BOOT/BOOTX64.EFI").symlink_to(outside / "shim.efi")
    chain = find_chain(tree, tree / "images/pxeboot/vmlinuz")
    assert chain is not None and not chain.usable and chain.vendor == ""
    assert chain.reason == "its shim (EFI/BOOT/BOOTX64.EFI) is a symbolic link out of the ISO: not followed"
    (tree / "EFI/BOOT/BOOTX64.EFI").unlink()
    (tree / "EFI/BOOT/BOOTX64.EFI").symlink_to("../../../outside/shim.efi")
    relative = find_chain(tree, tree / "images/pxeboot/vmlinuz")
    assert relative is not None and "symbolic link out of the ISO" in relative.reason


def test_a_folder_linked_out_of_the_tree_is_not_followed(tmp_path: Path, chain_kit: ChainKit) -> None:
    elsewhere = tree_of(tmp_path / "elsewhere", chain_kit.tree_files())
    tree = tree_of(tmp_path / "tree", {"images/pxeboot/vmlinuz": chain_kit.kernel.read_bytes()})
    (tree / "EFI").symlink_to(elsewhere / "EFI")
    chain = find_chain(tree, tree / "images/pxeboot/vmlinuz")
    assert chain is not None and not chain.usable
    assert chain.reason == "its shim (EFI) is a symbolic link out of the ISO: not followed"


def test_a_link_inside_the_tree_is_followed_to_its_real_path(tmp_path: Path, chain_kit: ChainKit) -> None:
    files = chain_kit.tree_files()
    files["images/grub.efi"] = files.pop("EFI/BOOT/grubx64.efi")
    tree = tree_of(tmp_path, files)
    (tree / "EFI/BOOT/grubx64.efi").symlink_to("../../images/grub.efi")
    chain = find_chain(tree, tree / "images/pxeboot/vmlinuz")
    assert chain is not None and chain.usable and chain.grub == "images/grub.efi"


def test_a_fifo_as_grub_is_no_grub_and_does_not_block(tmp_path: Path, chain_kit: ChainKit) -> None:
    files = chain_kit.tree_files()
    del files["EFI/BOOT/grubx64.efi"]
    tree = tree_of(tmp_path, files)
    os.mkfifo(tree / "EFI/BOOT/grubx64.efi")
    chain = find_chain(tree, tree / "images/pxeboot/vmlinuz")
    assert chain is not None and chain.reason == "the ISO carries no GRUB beside its shim (EFI/BOOT/grubx64.efi)"


def test_one_deadline_covers_the_whole_finding(tmp_path: Path, chain_kit: ChainKit) -> None:
    tree = tree_of(tmp_path, chain_kit.tree_files())
    chain = find_chain(tree, tree / "images/pxeboot/vmlinuz", seconds=0)
    assert chain is not None and not chain.usable
    assert chain.reason == "its chain could not be checked in time (0 s)"


# --- GRUB's built-in objects -----------------------------------------------------------------------------


def test_debians_own_images_are_read_as_grub_itself_reads_them() -> None:
    """docs/secure-boot-vendors.md section 1: the CD image has efinet but no tftp, the net image has tftp;
    both carry an embedded config and a memdisk."""
    cd = grub_built_in(DEBIAN_CD_GRUB, Deadline(5))
    assert "efinet" in cd.modules and "tftp" not in cd.modules and "http" not in cd.modules
    assert (cd.prefix, cd.config, cd.memdisk) == ("/boot/grub", True, True)
    assert config_dirs(cd.prefix, BOOT_FOLDER) == ("efi64", "boot/grub")
    net = grub_built_in(DEBIAN_GRUB, Deadline(5))
    assert {"efinet", "tftp"} <= net.modules and net.prefix == "/grub"


def test_images_made_here_list_what_grub_mkimage_put_in(chain_kit: ChainKit) -> None:
    net = grub_built_in(chain_kit.grub_net, Deadline(5))
    assert {"normal", "linux", "efinet", "tftp", "net"} <= net.modules  # net: tftp's dependency
    assert (net.prefix, net.config, net.memdisk) == ("/EFI/BOOT", False, False)
    cd = grub_built_in(chain_kit.grub_cd, Deadline(5))
    assert "tftp" not in cd.modules and (cd.prefix, cd.config, cd.memdisk) == ("(memdisk)/boot/grub", True, True)


@pytest.mark.parametrize(
    ("prefix", "dirs"),
    [
        ("/EFI/BOOT", ("efi64", "EFI/BOOT")),
        ("/EFI/fedora/", ("efi64", "EFI/fedora")),
        ("()/grub", ("efi64", "grub")),
        ("(hd0,gpt1)/boot/grub", ("efi64",)),
        ("(memdisk)/boot/grub", ("efi64",)),
        ("", ("efi64",)),
        ("/", ("efi64",)),
        ("/efi64", ("efi64",)),
        ("/../../etc", ("efi64",)),
        ("/EFI/BO OT", ("efi64",)),
        ("(EFI/BOOT", ("efi64",)),
    ],
)
def test_config_dirs_are_the_boot_folder_then_the_prefix_on_the_network(prefix: str, dirs: tuple[str, ...]) -> None:
    assert config_dirs(prefix, BOOT_FOLDER) == dirs


def mods_of(image: Path) -> tuple[bytearray, int, int]:
    """The image's bytes, the file offset of its `mods` section and of the first object in it."""
    data = bytearray(image.read_bytes())
    start, _size = read_pe(image).sections["mods"]
    (offset,) = struct.unpack_from("<Q", data, start + 8)
    return data, start, start + offset


def _corrupt_magic(data: bytearray, start: int, _first: int) -> None:
    data[start : start + 4] = b"\0\0\0\0"


def _corrupt_area_end(data: bytearray, start: int, _first: int) -> None:
    struct.pack_into("<Q", data, start + 16, 2**40)


def _corrupt_zero_size(data: bytearray, _start: int, first: int) -> None:
    struct.pack_into("<I", data, first + 4, 0)


def _corrupt_huge_size(data: bytearray, _start: int, first: int) -> None:
    struct.pack_into("<I", data, first + 4, 0xFFFFFFF0)


def _corrupt_elf(data: bytearray, _start: int, first: int) -> None:
    data[first + 8 : first + 12] = b"JUNK"


def _corrupt_section_table(data: bytearray, _start: int, first: int) -> None:
    struct.pack_into("<Q", data, first + 8 + 0x28, 2**40)


def _corrupt_modname(data: bytearray, start: int, _first: int) -> None:
    at = data.index(b".modname\0", start)
    data[at : at + 9] = b".xodname\0"


@pytest.mark.parametrize(
    ("corrupt", "said"),
    [
        (_corrupt_magic, "its mods section holds no GRUB module info"),
        (_corrupt_area_end, "its module area lies outside the mods section"),
        (_corrupt_zero_size, "an object of 0 bytes does not fit the module area"),
        (_corrupt_huge_size, "an object of 4294967280 bytes does not fit the module area"),
        (_corrupt_elf, "a built-in module is not a 64-bit little-endian ELF object"),
        (_corrupt_section_table, "a built-in module's section table does not fit it"),
        (_corrupt_modname, "a built-in module has no .modname section"),
    ],
    ids=lambda value: value.__name__ if callable(value) else "",
)
def test_a_malformed_mods_section_is_refused_with_the_reason(
    tmp_path: Path, chain_kit: ChainKit, corrupt: object, said: str
) -> None:
    data, start, first = mods_of(chain_kit.grub_net_unsigned)
    corrupt(data, start, first)  # type: ignore[operator]
    image = tmp_path / "grub.efi"
    image.write_bytes(bytes(data))
    with pytest.raises(NotGrub) as refused:
        grub_built_in(image, Deadline(5))
    assert str(refused.value) == said
    # signed by the vendor, so the signature passes and the chain is refused for its modules
    files = chain_kit.tree_files(grub=sbsign(chain_kit.signer, image, tmp_path / "signed.efi"))
    chain = chain_in(tmp_path / "tree", files)
    assert chain is not None and not chain.usable
    assert chain.reason == f"its GRUB's built-in modules cannot be read: {said}"


def test_a_truncated_image_is_refused(tmp_path: Path, chain_kit: ChainKit) -> None:
    data, start, _first = mods_of(chain_kit.grub_net_unsigned)
    image = tmp_path / "grub.efi"
    image.write_bytes(bytes(data[: start + 4096]))
    with pytest.raises(NotGrub, match="its mods section runs past the end of the file"):
        grub_built_in(image, Deadline(5))


def with_objects(chain_kit: ChainKit, tmp_path: Path, count: int) -> Path:
    """The network image with its module area replaced by `count` empty objects of an unknown type."""
    data, start, first = mods_of(chain_kit.grub_net_unsigned)
    _offset, size = read_pe(chain_kit.grub_net_unsigned).sections["mods"]
    assert (first - start) + 8 * count <= size
    for index in range(count):
        struct.pack_into("<II", data, first + 8 * index, 9, 8)
    struct.pack_into("<Q", data, start + 16, (first - start) + 8 * count)
    image = tmp_path / f"objects-{count}.efi"
    image.write_bytes(bytes(data))
    return image


def test_huge_object_counts_are_refused_fast(tmp_path: Path, chain_kit: ChainKit) -> None:
    many = with_objects(chain_kit, tmp_path, 40_000)
    started = time.monotonic()
    with pytest.raises(NotGrub, match=f"more than {MAX_OBJECTS} objects in its module area"):
        grub_built_in(many, Deadline(5))
    assert time.monotonic() - started < 1.0
    at_the_bound = grub_built_in(with_objects(chain_kit, tmp_path, MAX_OBJECTS), Deadline(5))
    assert at_the_bound.modules == frozenset() and at_the_bound.prefix == ""


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_changed_bytes_in_the_mods_section_are_read_or_refused_never_anything_else(
    chain_kit: ChainKit, data: st.DataObject
) -> None:
    image, start, first = mods_of(chain_kit.grub_net_unsigned)
    for _ in range(data.draw(st.integers(1, 6))):
        at = data.draw(st.one_of(st.integers(start, first + 64), st.integers(first, first + 4096)))
        image[at] = data.draw(st.integers(0, 255))
    path = chain_kit.folder / "mutated-grub.efi"
    path.write_bytes(bytes(image))
    started = time.monotonic()
    try:
        built_in = grub_built_in(path, Deadline(5))
    except NotGrub:
        return
    finally:
        assert time.monotonic() - started < 1.0
    assert all(name.isprintable() and len(name) <= 64 for name in built_in.modules)


# --- the words shown ------------------------------------------------------------------------------------------


def test_status_says_a_refused_kernel_boots_through_a_usable_chain_and_why_not_otherwise() -> None:
    refused = Verdict(False, "Test Vendor Signer", "signed by Test Vendor Signer, which this shim does not trust")
    usable = VendorChain("Test Vendor CA", "EFI/BOOT/BOOTX64.EFI", "EFI/BOOT/grubx64.efi", "", (), True, USABLE)
    assert describe_secure_boot(refused, usable) == (
        f"Secure Boot: {USABLE} (Debian's shim refuses its kernel: signed by Test Vendor Signer, which this shim "
        "does not trust)"
    )
    cd = VendorChain("Canonical", "EFI/BOOT/BOOTX64.EFI", "EFI/BOOT/grubx64.efi", "", (), False, "its GRUB has no")
    said = describe_secure_boot(refused, cd)
    assert said.startswith(
        "Secure Boot: does not boot: signed by Test Vendor Signer, which this shim does not trust; "
        "the ISO's own chain cannot boot it: its GRUB has no; to boot it: switch Secure Boot off"
    )
    assert "as a MOK" in said
    booting = Verdict(True, "Debian", "boots (signed by Debian)")
    assert describe_secure_boot(booting, usable) == "Secure Boot: boots (signed by Debian)"
    assert describe_secure_boot(None, None).startswith("Secure Boot: not checked")
    assert describe_secure_boot(refused, None).startswith("Secure Boot: does not boot: signed by Test")
