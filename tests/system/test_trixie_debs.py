"""The Debian 13 loader fetcher of the VM tests (tests/e2e/trixie_debs.py) without network: it reads the
hashes from the right places, refuses a file whose hash differs, and says so when the archive is
unreachable (or falls back to an earlier complete download)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.harness.e2e import trixie_debs
from tests.harness.e2e.trixie_debs import ArchiveUnreachable, Deb, checked, index_sha256, parse_stanzas, trixie_loaders

RELEASE = """\
Origin: Debian
Codename: trixie
MD5Sum:
 203e1451a4c2e0edf3646a5da3cec2d8  9679304 main/binary-amd64/Packages.xz
SHA256:
 aaaa  100 main/binary-i386/Packages.xz
 be3d7d96a040eda0505c1808cccc67f183bbc05dff0842c50f88e6c396557412  9679304 main/binary-amd64/Packages.xz
 bbbb  200 main/binary-amd64/Packages.xz.extra
"""

PACKAGES = """\
Package: ipxe
Architecture: all
Version: 1.21.1
Filename: pool/main/i/ipxe/ipxe_1.21.1_all.deb
SHA256: 1111

Package: shim-signed
Architecture: arm64
Version: 9
Filename: pool/main/s/shim-signed/shim-signed_9_arm64.deb
SHA256: 2222

Package: shim-signed
Architecture: amd64
Version: 1.51
Description: Secure Boot chain-loading bootloader
 Version: not this one
Filename: pool/main/s/shim-signed/shim-signed_1.51_amd64.deb
SHA256: 3333
"""


def test_the_sha256_of_amd64_packages_xz_from_the_sha256_section() -> None:
    assert index_sha256(RELEASE) == "be3d7d96a040eda0505c1808cccc67f183bbc05dff0842c50f88e6c396557412"
    with pytest.raises(RuntimeError, match="no SHA256"):
        index_sha256(RELEASE.split("SHA256:")[0])


def test_stanzas_of_amd64_or_all_only_and_missing_packages_named() -> None:
    found = parse_stanzas(PACKAGES, ("ipxe", "shim-signed"))
    assert found["shim-signed"] == Deb(
        "shim-signed", "1.51", "pool/main/s/shim-signed/shim-signed_1.51_amd64.deb", "3333"
    )
    assert found["ipxe"].filename == "pool/main/i/ipxe/ipxe_1.21.1_all.deb"
    with pytest.raises(RuntimeError, match="no package pxelinux"):
        parse_stanzas(PACKAGES, ("ipxe", "pxelinux"))


def test_a_file_whose_hash_differs_is_refused() -> None:
    data = b"a .deb"
    assert checked(data, hashlib.sha256(data).hexdigest(), "x.deb") == data
    with pytest.raises(RuntimeError, match="x.deb: SHA256"):
        checked(data + b"!", hashlib.sha256(data).hexdigest(), "x.deb")


def test_unreachable_archive_fails_saying_so_unless_an_earlier_download_is_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ISODROP_TEST_CACHE", str(tmp_path))
    monkeypatch.setenv("ISODROP_DEBIAN_MIRROR", "http://127.0.0.1:9/debian")  # discard port: refused
    with pytest.raises(
        ArchiveUnreachable, match=r"not cached and cannot download http://127\.0\.0\.1:9/debian/dists/trixie/InRelease"
    ):
        trixie_loaders()
    earlier = tmp_path / f"{trixie_debs.LOADERS_KIND}-0123456789abcdef"
    (earlier / "root").mkdir(parents=True)
    (earlier / trixie_debs.MANIFEST).write_text("ipxe 1.21.1 pool/main/i/ipxe/ipxe_1.21.1_all.deb 1111\n")
    (earlier / ".complete").write_text("0123456789abcdef\n")
    loaders = trixie_loaders()
    assert loaders.root == earlier / "root" and loaders.version("ipxe") == "1.21.1"
    assert "Debian's archive unreachable" in capsys.readouterr().out
