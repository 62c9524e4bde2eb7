"""Sidecar overrides (`NAME.iso.toml`): every key, every error, applied to a real recognised entry."""

from __future__ import annotations

from pathlib import Path

import pytest

from isodrop.extract import IsoTree
from isodrop.families import recognise
from isodrop.model import BootEntry, ServerContext
from isodrop.sidecar import Sidecar, SidecarError, apply, load_sidecar, sidecar_path
from tests.family_layouts import LAYOUTS
from tests.isofactory import build_iso


@pytest.fixture(scope="module")
def gparted(tmp_path_factory: pytest.TempPathFactory) -> BootEntry:
    """A real recognised entry with many parameters (GParted Live's own command line plus NFS)."""
    layout = LAYOUTS["gparted_1_6"]()
    iso = build_iso(tmp_path_factory.mktemp("iso") / "gparted.iso", layout.files, volume_id=layout.volume_id)
    entry = recognise(IsoTree(iso), ServerContext("10.0.0.1", "/srv/tftp/isodrop/gparted", "isodrop/gparted"))
    assert isinstance(entry, BootEntry)
    return entry


def write(tmp_path: Path, text: str) -> Path:
    path = sidecar_path(tmp_path / "gparted.iso")
    path.write_text(text)
    return path


def test_sidecar_lives_beside_the_iso(tmp_path: Path) -> None:
    assert sidecar_path(tmp_path / "a b.iso") == tmp_path / "a b.iso.toml"


def test_missing_sidecar_changes_nothing(tmp_path: Path, gparted: BootEntry) -> None:
    sidecar = load_sidecar(tmp_path / "nothing.iso.toml")
    assert sidecar == Sidecar()
    assert apply(gparted, sidecar) == gparted


def test_label(tmp_path: Path, gparted: BootEntry) -> None:
    entry = apply(gparted, load_sidecar(write(tmp_path, 'label = "  Partition editor  "\n')))
    assert entry.label == "Partition editor"
    assert entry.params == gparted.params


def test_add_params_appends_and_replaces_same_key(tmp_path: Path, gparted: BootEntry) -> None:
    sidecar = load_sidecar(write(tmp_path, 'add_params = ["nomodeset", "loglevel=7", "quiet"]\n'))
    entry = apply(gparted, sidecar)
    assert entry.params[-2:] == ("nomodeset", "loglevel=7")
    assert "loglevel=0" not in entry.params
    assert entry.params.count("quiet") == 1  # already there: not added twice
    assert entry.label == gparted.label


def test_remove_bare_key_removes_it_and_splash(tmp_path: Path, gparted: BootEntry) -> None:
    assert {"quiet", "splash"} <= set(gparted.params)
    entry = apply(gparted, load_sidecar(write(tmp_path, 'remove_params = ["quiet"]\n')))
    assert "quiet" not in entry.params and "splash" not in entry.params
    assert len(entry.params) == len(gparted.params) - 2


def test_remove_key_with_equals_removes_any_value(tmp_path: Path, gparted: BootEntry) -> None:
    entry = apply(gparted, load_sidecar(write(tmp_path, 'remove_params = ["toram=", "noswap"]\n')))
    assert not any(param.startswith("toram=") for param in entry.params)
    assert "noswap" not in entry.params
    assert "username=user" in entry.params


def test_remove_then_add(tmp_path: Path, gparted: BootEntry) -> None:
    text = 'remove_params = ["ip="]\nadd_params = ["ip=10.0.0.50::10.0.0.1:255.255.255.0::eth0:off"]\n'
    entry = apply(gparted, load_sidecar(write(tmp_path, text)))
    assert [p for p in entry.params if p.startswith("ip=")] == ["ip=10.0.0.50::10.0.0.1:255.255.255.0::eth0:off"]


def test_position_and_hidden_are_read(tmp_path: Path) -> None:
    sidecar = load_sidecar(write(tmp_path, "position = -5\nhidden = true\n"))
    assert (sidecar.position, sidecar.hidden) == (-5, True)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("label = [", "not valid TOML"),
        ('lable = "x"\n', "unknown key 'lable'"),
        ("label = 3\n", "label must be a non-empty one-line string"),
        ('label = ""\n', "label must be a non-empty one-line string"),
        ('label = "a\\nb"\n', "label must be a non-empty one-line string"),
        ('add_params = "quiet"\n', "add_params must be a list of strings"),
        ("add_params = [1]\n", "add_params must be a list of strings"),
        ('add_params = ["a b"]\n', "add_params: 'a b' must be one kernel parameter without blanks"),
        ('remove_params = [""]\n', "remove_params: '' must be one kernel parameter"),
        ('position = "1"\n', "position must be an integer"),
        ("position = true\n", "position must be an integer"),
        ("position = 1.5\n", "position must be an integer"),
        ('hidden = "yes"\n', "hidden must be true or false"),
    ],
)
def test_errors_name_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SidecarError) as caught:
        load_sidecar(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


def test_unreadable_sidecar_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    path.write_bytes(b"label = '\xff'\n")
    with pytest.raises(SidecarError, match="cannot read"):
        load_sidecar(path)
