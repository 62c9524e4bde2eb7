"""Sidecar overrides (`NAME.iso.toml`): every key, every error, applied to a real recognised entry."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from isodrop.extract import IsoTree
from isodrop.families import recognise
from isodrop.model import BootEntry, ServerContext
from isodrop.sidecar import (
    GUARDED_PARAMS,
    Sidecar,
    SidecarError,
    SidecarPolicy,
    apply,
    change,
    load_drop_sidecar,
    load_sidecar,
)
from tests.harness.family_layouts import LAYOUTS
from tests.harness.isofactory import build_iso


@pytest.fixture(scope="module")
def gparted(tmp_path_factory: pytest.TempPathFactory) -> BootEntry:
    """A real recognised entry with many parameters (GParted Live's own command line plus NFS)."""
    layout = LAYOUTS["gparted_1_6"]()
    iso = build_iso(tmp_path_factory.mktemp("iso") / "gparted.iso", layout.files, volume_id=layout.volume_id)
    entry = recognise(IsoTree(iso), ServerContext("10.0.0.1", "/srv/tftp/isodrop/gparted", "isodrop/gparted"))
    assert isinstance(entry, BootEntry)
    return entry


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gparted.iso.toml"
    path.write_text(text)
    return path


def test_sidecar_lives_beside_the_iso(tmp_path: Path) -> None:
    (tmp_path / "a b.iso.toml").write_text('label = "Beside"\n')
    assert load_drop_sidecar(tmp_path, "a b.iso", SidecarPolicy()) == Sidecar(label="Beside")
    assert load_drop_sidecar(tmp_path, "other.iso", SidecarPolicy()) is None


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


# --- the sidecar policy (sidecar_params, sidecar_keys) --------------------------------------------------


DEFAULT_POLICY = SidecarPolicy()  # what an isodrop.toml without sidecar_params and sidecar_keys gives


def policed(tmp_path: Path, text: str, policy: SidecarPolicy = DEFAULT_POLICY) -> Sidecar | None:
    """The sidecar of tmp_path/gparted.iso as the service reads it under `policy` (default: the default)."""
    write(tmp_path, text)
    return load_drop_sidecar(tmp_path, "gparted.iso", policy)


@pytest.mark.parametrize(
    ("text", "refusal"),
    [
        ('add_params = ["nfsroot=10.6.6.6:/evil"]', "add_params may not set nfsroot= (it locates the root;"),
        ('add_params = ["init=/bin/sh"]', "add_params may not set init= (it chooses the init;"),
        ('add_params = ["fetch=http://evil/x.squashfs"]', "add_params may not set fetch= (it locates the root;"),
        ('add_params = ["\\"init=/bin/sh\\""]', 'add_params may not set "init= (it chooses the init;'),
        ('add_params = ["live_media_path=/evil"]', "may not set live_media_path= (it locates the root;"),
        ('add_params = ["RDINIT=/x"]', "may not set RDINIT= (it chooses the init;"),
        ('add_params = ["initrd=isodrop/other/evil.img"]', "may not set initrd= (it chooses the init;"),
        ('add_params = ["hooks=http://evil/h"]', "may not set hooks= (it loads code or settings from elsewhere;"),
        ('add_params = ["persistence-label=x"]', "(it layers a client's disk over the root;"),
        ('add_params = ["rootpass=x"]', "(it opens the booted system to others;"),
        ('add_params = ["nomodeset", "archiso_nfs_srv=1.2.3.4:/x"]', "may not set archiso_nfs_srv="),
        ('remove_params = ["nfsroot="]', "remove_params may not remove nfsroot= (it locates the root;"),
        ('remove_params = ["boot=live"]', "remove_params may not remove boot= (it locates the root;"),
        ('remove_params = ["ip="]', "remove_params may not remove ip= (it locates the root;"),
    ],
)
def test_default_policy_refuses_what_locates_the_root_or_init_or_loads_code(
    tmp_path: Path, gparted: BootEntry, text: str, refusal: str
) -> None:
    with pytest.raises(SidecarError) as caught:
        policed(tmp_path, text + "\n")
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'gparted.iso.toml'}: ") and refusal in message
    assert message.endswith("see sidecar_params in isodrop.toml)")
    assert policed(tmp_path, text + "\n", SidecarPolicy("any")) is not None, "any allows it"


def test_default_policy_allows_what_does_not_redirect_the_boot(tmp_path: Path, gparted: BootEntry) -> None:
    text = (
        'label = "Partitions"\nposition = -3\nhidden = false\n'
        'add_params = ["nomodeset", "vga=791", "rd.live.overlay.overlayfs=1", "console=ttyS1", "toram"]\n'
        'remove_params = ["quiet", "noswap"]\n'
    )
    sidecar = policed(tmp_path, text)
    assert sidecar is not None and apply(gparted, sidecar).params[-5:] == (
        "nomodeset",
        "vga=791",
        "rd.live.overlay.overlayfs=1",
        "console=ttyS1",
        "toram",
    )


def test_any_lets_a_sidecar_redirect_the_root_and_change_shows_what_it_did(tmp_path: Path, gparted: BootEntry) -> None:
    sidecar = policed(
        tmp_path, 'add_params = ["nfsroot=10.6.6.6:/evil"]\nremove_params = ["quiet"]\n', SidecarPolicy("any")
    )
    assert sidecar is not None
    entry = apply(gparted, sidecar)
    assert "nfsroot=10.6.6.6:/evil" in entry.params
    old = next(param for param in gparted.params if param.startswith("nfsroot="))
    what = change(gparted, sidecar)
    assert what.added == ("nfsroot=10.6.6.6:/evil",) and set(what.removed) == {old, "quiet", "splash"}
    assert what.describe() == f"added nfsroot=10.6.6.6:/evil; removed {' '.join(what.removed)}"
    assert change(gparted, Sidecar(label="X", hidden=True)).describe() == "label 'X'; hidden from the menu"


def test_none_and_allow_lists_narrow_the_parameters(tmp_path: Path) -> None:
    with pytest.raises(SidecarError, match='add_params may not set nomodeset \\(sidecar_params = "none"'):
        policed(tmp_path, 'add_params = ["nomodeset"]\n', SidecarPolicy("none"))
    assert policed(tmp_path, 'label = "fine"\n', SidecarPolicy("none")) == Sidecar(label="fine")
    allow = SidecarPolicy(("nomodeset", "vga", "rd.live.*"))
    assert policed(tmp_path, 'add_params = ["nomodeset", "vga=791", "rd.live.ram"]\n', allow) is not None
    with pytest.raises(SidecarError, match="add_params may not set quiet \\(not in sidecar_params"):
        policed(tmp_path, 'add_params = ["quiet"]\n', allow)
    assert policed(tmp_path, 'add_params = ["nfsroot=1.2.3.4:/x"]\n', SidecarPolicy(("nfsroot",))) is not None


@pytest.mark.parametrize("key", ["label", "position", "hidden", "add_params"])
def test_sidecar_keys_can_refuse_labels_order_and_hiding(tmp_path: Path, key: str) -> None:
    values = {"label": '"Free Wi-Fi"', "position": "-100", "hidden": "true", "add_params": '["nomodeset"]'}
    policy = SidecarPolicy(keys=tuple(k for k in values if k != key))
    with pytest.raises(SidecarError, match=f"{key} is not allowed \\(sidecar_keys in isodrop.toml allows: "):
        policed(tmp_path, f"{key} = {values[key]}\n", policy)
    assert policed(tmp_path, f"{key} = {values[key]}\n") is not None, "allowed by default"


def test_every_guarded_parameter_is_listed_in_the_man_page() -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "isodrop.1").read_text()
    listed = {key.lower().replace("-", "_") for key in re.findall(r"[A-Za-z0-9_./*-]+", page.replace("\\-", "-"))}
    assert set(GUARDED_PARAMS) - listed == set()
