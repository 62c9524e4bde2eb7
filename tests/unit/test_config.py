from pathlib import Path

import pytest

from isodrop.config import ConfigError, load, local_defaults, system_defaults
from isodrop.units import resolve


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "isodrop.toml"
    path.write_text(text)
    return path


def test_defaults_are_consistent() -> None:
    config = system_defaults()
    assert config.trees_dir.parent == config.tftp_root
    assert config.exports_file == Path("/etc/exports.d/isodrop.exports")
    assert config.exports_reload_command == ("exportfs", "-ra")
    local = local_defaults(Path("/tmp/demo"))
    assert local.local_mode and local.drop_dir == Path("/tmp/demo/drop") and local.exports_reload_command == ()


def test_values_are_read_and_trees_dir_follows_tftp_root(tmp_path: Path) -> None:
    config = load(write(tmp_path, 'tftp_root = "/x/tftp"\nmenu_timeout = 50\nserver_address = "10.1.2.3"\n'))
    assert config.trees_dir == Path("/x/tftp/isodrop")
    assert config.menu_timeout == 50 and config.server_address == "10.1.2.3"
    assert config.source.endswith("isodrop.toml")


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('nfs_server = "samba"', "nfs_server"),
        ('menu_timeout = "soon"', "menu_timeout"),
        ('drop_dir = "relative/path"', "drop_dir"),
        ('server_address = "pxe.example"', "server_address"),
        ('exports_reload_command = "exportfs -ra"', "exports_reload_command"),
        ('trees_dir = "/elsewhere"', "trees_dir"),
        ('tftp_root = "/srv/tftp"\ntrees_dir = "/srv/tftp/my isos"', "trees_dir"),
        ("parallel_extractions = 0", "parallel_extractions"),
        ("expected_clients = 0", "expected_clients"),
        ('expected_clients = "many"', "expected_clients"),
        ("handover_minutes = 0", "handover_minutes"),
        ("handover_minutes = 1441", "handover_minutes"),
        ("handover_minutes = 2.5", "handover_minutes"),
        ("colour = 1", "colour"),
        ("verify_checksums = 1", "verify_checksums"),
        ('sidecar_params = "all"', "sidecar_params"),
        ("sidecar_params = true", "sidecar_params"),
        ('sidecar_params = ["vga=791"]', "sidecar_params"),
        ('sidecar_params = ["no modeset"]', "sidecar_params"),
        ('sidecar_keys = ["label", "params"]', "sidecar_keys"),
        ('sidecar_keys = "label"', "sidecar_keys"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    """Types and ranges fail in load; the names of units (nfs_server, sidecar words and keys) when the
    registries resolve them, as every command does right after loading."""
    with pytest.raises(ConfigError, match=repr(key)):
        resolve(load(write(tmp_path, text)))


def test_bad_toml_and_missing_file_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(write(tmp_path, "drop_dir = "))
    with pytest.raises(ConfigError, match="no such config file"):
        load(tmp_path / "missing.toml")


def test_sidecar_policy_is_read(tmp_path: Path) -> None:
    assert (system_defaults().sidecar_params, system_defaults().sidecar_keys[0]) == ("safe", "label")
    config = load(write(tmp_path, 'sidecar_params = ["nomodeset", "vga="]\nsidecar_keys = ["add_params"]\n'))
    assert config.sidecar_params == ("nomodeset", "vga") and config.sidecar_keys == ("add_params",)
    assert load(write(tmp_path, 'sidecar_params = "any"\n')).sidecar_params == "any"


def test_unit_names_fail_with_the_key_named_when_resolved(tmp_path: Path) -> None:
    """The registries word their errors as config validation always did: file, key, what is allowed."""
    path = write(tmp_path, 'nfs_server = "samba"\n')
    with pytest.raises(ConfigError) as caught:
        resolve(load(path))
    assert caught.value.reason == f"""{path}: key 'nfs_server': must be "kernel" or "ganesha", got 'samba'"""
    with pytest.raises(ConfigError) as caught:
        resolve(load(write(tmp_path, 'sidecar_params = "all"\n')))
    assert caught.value.reason.endswith("""key 'sidecar_params': expected "safe", "any", "none" or a list of \
parameter keys, got 'all'""")
    units = resolve(load(write(tmp_path, 'nfs_server = "ganesha"\nclient_network = "10.0.0.0/8"\n')))
    assert (units.nfs_server.name, units.nfs_server.client_network) == ("ganesha", "10.0.0.0/8")
    assert [loader.name for loader in units.loaders] == ["ipxe", "grub", "syslinux-efi", "pxelinux"]


def test_config_imports_no_unit() -> None:
    """The config is a floor below every unit: it may import only the leaves errors and limits."""
    import ast

    import isodrop.config

    tree = ast.parse(Path(isodrop.config.__file__).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert {name for name in imported if name.startswith("isodrop")} == {"isodrop.errors", "isodrop.limits"}
