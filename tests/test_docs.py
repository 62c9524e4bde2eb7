"""The documents a sysadmin reads: README.md and docs/*.md link only to files and sections that exist, and
docs/configuration.md describes every config key (as contrib/isodrop.toml does, tests/test_config_example.py).

Links are checked the way GitHub renders them: a heading's anchor is its text in lower case, without
punctuation, spaces as hyphens.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from isodrop import config

REPO = Path(__file__).resolve().parents[1]
DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
INTERNAL_KEYS = {"local_mode", "source"}  # not settable from a file


def anchors(markdown: Path) -> set[str]:
    """The anchors GitHub gives the headings of `markdown` (code blocks skipped)."""
    found: set[str] = set()
    in_code = False
    for line in markdown.read_text().splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and line.startswith("#"):
            text = line.lstrip("#").strip().lower()
            found.add(re.sub(r"[^\w\- ]", "", text).replace(" ", "-"))
    return found


def links(markdown: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", markdown.read_text(), flags=re.S)
    return [target for target in LINK.findall(text) if not re.match(r"[a-z]+:", target)]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_internal_links_resolve(document: Path):
    broken = []
    for target in links(document):
        path, _, anchor = target.partition("#")
        linked = (document.parent / path).resolve() if path else document
        if not linked.exists():
            broken.append(f"{target}: no file {linked}")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}: no heading with anchor #{anchor} in {linked.name}")
    assert broken == []


def test_configuration_doc_names_every_key():
    text = (REPO / "docs" / "configuration.md").read_text()
    keys = {field.name for field in dataclasses.fields(config.Config)} - INTERNAL_KEYS
    assert {key for key in keys if f"`{key}`" not in text} == set()


def test_readme_stays_short():
    assert len((REPO / "README.md").read_text().splitlines()) <= 200
