"""isodrop.families.dracut: Fedora's initrd decides how the root is fetched (NFS, else HTTP when configured, else
not bootable)."""

from __future__ import annotations

from isodrop.families import recognise
from isodrop.model import BootEntry, NotBootable, ServerContext
from tests.harness.family_layouts import SERVER, context


def test_fedora_initrd_without_nfs_module_uses_http_when_configured(make_tree) -> None:
    tree = make_tree("fedora_41_without_nfs")
    result = recognise(tree, context("f"))
    assert isinstance(result, NotBootable)
    assert "has dracut's livenet module but not its nfs module" in result.reason
    ctx = ServerContext(SERVER, "/srv/tftp/isodrop/f", "isodrop/f", http_url="http://192.168.50.1/isodrop/f/")
    entry = recognise(tree, ctx)
    assert isinstance(entry, BootEntry)
    assert entry.cmdline == "root=live:http://192.168.50.1/isodrop/f/LiveOS/squashfs.img rd.live.image ip=dhcp"
    # livenet downloads an HTTP image whole into the initramfs's tmpfs: the entry says how much RAM that takes
    image = tree.size("LiveOS/squashfs.img")
    assert image and entry.copies_to_ram_bytes == image
    assert entry.ram_needed_bytes == image + 512 * 1024 * 1024
    assert f"needs at least {-(-entry.ram_needed_bytes // 2**20)} MiB of RAM" in entry.root_line()
    assert BootEntry.from_dict(entry.to_dict()) == entry, "the record keeps the figure"


def test_fedora_initrd_without_livenet_cannot_boot_from_the_network(make_tree) -> None:
    ctx = ServerContext(SERVER, "/srv/tftp/isodrop/f", "isodrop/f", http_url="http://192.168.50.1/isodrop/f")
    result = recognise(make_tree("fedora_41_without_livenet"), ctx)
    assert isinstance(result, NotBootable)
    assert result.family == "fedora" and "no dracut livenet module" in result.reason
