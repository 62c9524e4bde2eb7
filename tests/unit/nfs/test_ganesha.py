"""isodrop.nfs.ganesha: EXPORT blocks for nfs-ganesha."""

from __future__ import annotations

from pathlib import Path

from isodrop.nfs.ganesha import Ganesha


def ganesha_exports(trees: list[Path], client_network: str) -> str:
    return Ganesha(Path("/etc/ganesha/isodrop.conf"), client_network, None).render(trees)


def test_ganesha_exports_have_stable_distinct_ids() -> None:
    trees = [Path(f"/srv/tftp/isodrop/t{i}") for i in range(20)]
    text = ganesha_exports(trees, "*")
    ids = [line.split("=")[1].strip(" ;") for line in text.splitlines() if "Export_Id" in line]
    assert len(ids) == 20 == len(set(ids))
    assert ganesha_exports(trees[:1], "*").split("Export_Id = ")[1][:5] == text.split("Export_Id = ")[1][:5]
    assert 'Path = "/srv/tftp/isodrop/t0";' in text and "Protocols = 3;" in text and "Access_Type = RO;" in text
