"""isodrop.extract.manifest: files that share data extents become hard links, symlinks are followed
inside the image only, and extracted modes are read-only for everyone."""

from __future__ import annotations

from isodrop.extract.manifest import Manifest, Node, dir_mode, file_mode


def manifest() -> Manifest:
    return Manifest(
        "x.iso",
        "X",
        10 * 2048,
        [
            Node("boot", "d", 0o755),
            Node("boot/vmlinuz", "f", 0o644, ((4096, 100),)),
            Node("boot/vmlinuz-copy", "f", 0o644, ((4096, 100),)),
            Node("boot/initrd", "f", 0o644, ((8192, 50),)),
            Node("vmlinuz", "l", target="boot/vmlinuz"),
            Node("escape", "l", target="../../etc/passwd"),
        ],
    )


def test_files_sharing_their_extents_are_hard_links_and_counted_once() -> None:
    m = manifest()
    assert m.hard_links == {"boot/vmlinuz-copy": "boot/vmlinuz"}
    assert m.data_bytes == 150


def test_a_symlink_is_followed_to_a_regular_file_inside_the_image_only() -> None:
    m = manifest()
    assert m.file("vmlinuz") is m.by_rel["boot/vmlinuz"]
    assert m.file("escape") is None and m.file("boot") is None


def test_modes_are_read_only_without_set_id_bits() -> None:
    assert file_mode(0o4777) == 0o555 and file_mode(0o600) == 0o444
    assert dir_mode(0o700) == 0o555
