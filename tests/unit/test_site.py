"""The Site: made once from the config and the server address, the same way for every command."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest

from isodrop import address
from isodrop.config import local_defaults
from isodrop.model import ServerContext
from isodrop.site import Site


def test_a_site_makes_http_url_concrete_and_serves_each_slug_under_the_trees(tmp_path: Path) -> None:
    config = dataclasses.replace(local_defaults(tmp_path), http_url="auto")
    site = Site.make(config, "192.0.2.7")
    assert site.server == "192.0.2.7" and site.how == "given"
    assert site.config.http_url == "http://192.0.2.7/isodrop/" and config.http_url == "auto"
    ctx = site.context("debian-live-12")
    assert ctx.server == "192.0.2.7"
    assert ctx.nfs_path == f"{config.trees_dir}/debian-live-12"
    assert ctx.tftp_path == f"{config.trees_dir.relative_to(config.tftp_root)}/debian-live-12"
    assert ctx.http_url == "http://192.0.2.7/isodrop/debian-live-12/"
    assert site.trees.root == config.trees_dir and [loader.name for loader in site.loaders]


def test_trees_that_are_the_tftp_root_are_served_from_its_top(tmp_path: Path) -> None:
    config = dataclasses.replace(local_defaults(tmp_path), trees_dir=tmp_path / "tftp", tftp_root=tmp_path / "tftp")
    assert Site.make(config, "192.0.2.7").context("a").tftp_path == "a"


def test_the_address_comes_from_the_config_else_it_is_detected(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(address, "detect_server_address", lambda: ("198.51.100.4", "detected in the test"))
    config = local_defaults(tmp_path)
    detected = Site.make(config)
    assert (detected.server, detected.how) == ("198.51.100.4", "detected in the test")
    configured = Site.make(dataclasses.replace(config, server_address="192.0.2.9"))
    assert (configured.server, configured.how) == ("192.0.2.9", "server_address in the config")


def test_a_site_at_another_address_keeps_its_trees_loaders_and_nfs_server(tmp_path: Path) -> None:
    site = Site.make(local_defaults(tmp_path), "192.0.2.7")
    moved = site.at("192.0.2.8")
    assert moved.server == "192.0.2.8" and moved.context("a").server == "192.0.2.8"
    assert moved.trees is site.trees and moved.loaders is site.loaders and moved.nfs is site.nfs


def test_the_context_places_the_tree_for_nfs_tftp_and_http() -> None:
    config = dataclasses.replace(
        local_defaults(Path("/srv")), tftp_root=Path("/srv/tftp"), trees_dir=Path("/srv/tftp/isodrop")
    )
    assert Site.make(config, "10.0.0.1").context("live") == ServerContext(
        server="10.0.0.1", nfs_path="/srv/tftp/isodrop/live", tftp_path="isodrop/live", http_url=""
    )
    at_root = dataclasses.replace(config, trees_dir=Path("/srv/tftp"), http_url="http://10.0.0.1/isodrop/")
    ctx = Site.make(at_root, "10.0.0.1").context("live")
    assert (ctx.tftp_path, ctx.http_url) == ("live", "http://10.0.0.1/isodrop/live/")


def test_the_site_logs_the_address_and_how_it_was_found(caplog: pytest.LogCaptureFixture) -> None:
    config = dataclasses.replace(local_defaults(Path("/nonexistent")), server_address="192.0.2.7")
    with caplog.at_level(logging.INFO, logger="isodrop"):
        Site.make(config).log_address()
    assert "clients reach this server at 192.0.2.7 (server_address in the config)" in caplog.text
