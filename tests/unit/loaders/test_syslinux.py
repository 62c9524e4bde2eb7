"""isodrop.loaders.syslinux: both SYSLINUX loaders render their menus from a template, which templates_dir overrides."""

from __future__ import annotations

from pathlib import Path

from isodrop.render.menu import build_menu
from tests.harness.menu_entries import BIOS_MENU, CONFIG, render_menus


def test_templates_dir_overrides_shipped_template(tmp_path: Path) -> None:
    (tmp_path / "pxelinux.cfg.j2").write_text("custom {{ menu.title }} {{ firmware }}\n")
    rendered = render_menus(build_menu([], CONFIG), tmp_path)
    assert rendered[BIOS_MENU] == "custom isodrop network boot bios\n"
