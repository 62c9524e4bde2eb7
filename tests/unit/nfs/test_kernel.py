"""isodrop.nfs.kernel: the exports(5) file the kernel NFS server reads."""

from __future__ import annotations

from pathlib import Path

from isodrop.nfs.kernel import KernelNfs


def kernel_exports(trees: list[Path], client_network: str) -> str:
    return KernelNfs(Path("/etc/exports.d/isodrop.exports"), client_network, ()).render(trees)


def test_kernel_exports_are_read_only_for_the_client_network() -> None:
    text = kernel_exports([Path("/srv/tftp/isodrop/b"), Path("/srv/tftp/isodrop/a")], "192.168.1.0/24")
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    assert lines == [
        "/srv/tftp/isodrop/a 192.168.1.0/24(ro,no_subtree_check,insecure,all_squash)",
        "/srv/tftp/isodrop/b 192.168.1.0/24(ro,no_subtree_check,insecure,all_squash)",
    ]
