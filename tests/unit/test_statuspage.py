"""The status page (isodrop.statuspage): made from the status document alone, nothing from an ISO, a
sidecar or a client can become markup in it, written only when changed, and never a failed pass."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from isodrop.config import ConfigError, from_mapping, local_defaults, system_defaults
from isodrop.families import proof
from isodrop.model import BootEntry, Outcome
from isodrop.state import EntryState
from isodrop.status import document
from isodrop.statuspage import PAGE_NAME, TEMPLATE, page_path, publish, render
from tests.harness.pageparse import Page, assert_inert

HOSTILE = [
    "<script>alert(1)</script>.iso",
    '"><img src=x onerror=alert(2)>.iso',
    "evil\u202egnp.iso",  # right-to-left override: would show as "evilosi.png"
    "a" * 3000 + ".iso",
    "x' onmouseover='alert(3).iso",
    "</style><script>alert(4)</script>",
    "<!-- -->]]><svg onload=alert(5)>",
]


def entry(label: str, family: str = "debian-live", guessed: bool = False) -> BootEntry:
    return BootEntry(
        family=family, label=label, kernel="live/vmlinuz", initrds=("live/initrd.img",), params=("boot=live",),
        guessed=guessed,
    )  # fmt: skip


def state(name: str, outcome: Outcome, **values: Any) -> EntryState:
    return EntryState(slug=f"s{abs(hash(name))}", source=name, size=1, mtime_ns=1, outcome=outcome, **values)


def hostile_document(tmp_path: Path, names: list[str]) -> dict[str, Any]:
    """A document as the service makes it, with `names` as ISO names, labels, errors, warnings, ignored
    names, sidecar errors, the server's messages, progress, and parts others add (clients, pins)."""
    config = local_defaults(tmp_path)
    states = {}
    for i, name in enumerate(names):
        served = state(name, Outcome.SERVED, family="debian-live", label=name, warnings=[name])
        states[f"ok{i}"] = dataclasses.replace(served, entry=entry(name, guessed=bool(i % 2)))
        states[f"bad{i}"] = state(name + "-bad", Outcome.FAILED, error=f"cannot read {name}", warnings=[name])
    doc = document(
        config,
        states=states,
        summary=" ".join(names),
        running=True,
        server=names[0],
        sidecar_errors={name: f"sidecar {name} refused" for name in names},
        ignored={name: f"a link to {name}" for name in names},
        system={name: name for name in names},
    )
    doc["extracting"] = [{"iso": name, "percent": 42, "running": True} for name in names]
    doc["waiting"] = [{"iso": name, "size": 2**30} for name in names]
    doc["clients"] = [{"mac": name, "stage": name, name: {"nested": name}} for name in names]
    doc["pins"] = {name: {"iso": name} for name in names}
    doc[names[0]] = names[-1]  # a key of the document itself
    return doc


def test_hostile_names_labels_and_client_data_are_shown_as_text_never_as_markup(tmp_path: Path) -> None:
    doc = hostile_document(tmp_path, HOSTILE)
    html = render(doc)
    page = assert_inert(html)
    text = page.all_text()
    for name in HOSTILE:
        shown_name = name.replace("\u202e", "\\u202e")
        assert shown_name in text, f"{name[:40]!r} is shown as text"
    assert "\u202e" not in html, "bidi controls are shown as escapes, not applied"
    assert "evil\\u202egnp.iso" in text
    assert "<script>" not in html and "<img" not in html and "<svg" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.iso" in html
    assert "a" * 3000 + ".iso" in text, "a long name is shown whole (the page wraps it)"
    assert "overflow-wrap: anywhere" in html
    for section in ("progress", "failed", "served", "ignored", "clients", "pins", "system"):
        assert f'id="{section}"' in html, section


@given(st.text(min_size=1, max_size=80))
def test_any_name_stays_text(name: str) -> None:
    doc = hostile_document(Path("/nonexistent"), [name, name + "<b onclick=x>"])
    assert_inert(render(doc))


def test_sections_follow_the_document(tmp_path: Path) -> None:
    """Parts the document does not have are not on the page; parts others add (any key this page does
    not know: a list, a mapping of mappings, a plain value) appear with their fields and counts."""
    config = local_defaults(tmp_path)
    empty = render(document(config, states={}, summary="serving 0 ISOs", running=True))
    page = Page(empty)
    assert "No ISOs yet: copy one into the drop folder" in page.all_text()
    ids = {attrs.get("id") for _, attrs in page.tags} - {None}
    assert ids == set(), f"empty sections shown: {ids}"
    doc = document(
        config,
        states={"a": dataclasses.replace(state("a.iso", Outcome.SERVED), entry=entry("Alpha Live"))},
        summary="serving 1 ISO",
        running=True,
    )
    doc |= {
        "clients": [{"mac": "52:54:00:aa:bb:cc", "stage": "kernel loaded", "iso": "a.iso"}],
        "pins": {"52:54:00:aa:bb:cc": {"iso": "a.iso", "since": "monday"}},
        "clients_seen": 7,
    }
    html = render(doc)
    page = Page(html)
    text = page.all_text()
    assert 'id="clients"' in html and 'id="pins"' in html and 'id="served"' in html
    assert 'id="failed"' not in html and 'id="ignored"' not in html and 'id="progress"' not in html
    assert "Clients (1)" in text and "kernel loaded" in text and "Pins (1)" in text and "monday" in text
    assert "clients seen" in text and "7" in text
    assert "Alpha Live" in text and "file: a.iso" in text and "proven: booted in a VM" in text


def test_counts_state_and_refresh_at_a_glance(tmp_path: Path) -> None:
    config = local_defaults(tmp_path)
    states = {
        "a": dataclasses.replace(state("a.iso", Outcome.SERVED), entry=entry("Alpha", "generic", guessed=True)),
        "b": state("b.iso", Outcome.UNRECOGNISED, error="no family recognises it"),
    }
    doc = document(
        config, states=states, summary="", running=True, retries={states["b"].slug: {"attempts": 2, "retry_in": 29.6}}
    )
    doc["extracting"] = [{"iso": "c.iso", "percent": 37, "running": True}]
    html = render(doc)
    counts = html.split('aria-label="summary"')[1].split("</section>")[0]
    shown_counts = [Page("<div" + part).all_text().strip() for part in counts.split("<div")[1:] if "count" in part]
    assert shown_counts == ["1served", "1not bootable", "0ignored", "1in progress"], shown_counts
    text = Page(html).all_text()
    assert "no family recognises it" in text and "tried 2 times; next try in 30 s" in text
    assert "guessed" in text and "extracting: 37%" in text
    assert '<progress max="100" value="37">' in html
    assert 'content="5"' in html, "busy: reload often"
    stopped = render(doc | {"running": False, "stopped": True, "extracting": []})
    assert (
        "the isodrop service is stopped" in Page(stopped).all_text() and 'http-equiv="refresh" content="30"' in stopped
    )


def test_publish_writes_only_when_changed_and_atomically(tmp_path: Path) -> None:
    config = local_defaults(tmp_path)
    doc = document(config, states={}, summary="", running=True)
    path = page_path(config)
    assert path == tmp_path / "run" / "www" / PAGE_NAME
    assert publish(config, doc) is None and "No ISOs yet" in path.read_text()
    before = path.stat()
    assert publish(config, doc) is None
    assert path.stat().st_ino == before.st_ino and path.stat().st_mtime_ns == before.st_mtime_ns, "unchanged"
    assert publish(config, doc | {"server": "192.0.2.99"}) is None
    assert "192.0.2.99" in path.read_text() and path.stat().st_ino != before.st_ino, "replaced, not edited"
    assert sorted(p.name for p in path.parent.iterdir()) == [PAGE_NAME], "no temporary files left"
    assert path.stat().st_mode & 0o777 == 0o644, "nginx's workers read it"
    assert publish(dataclasses.replace(config, status_page_dir=None), doc) is None, "no folder: no page"


def test_an_unwritable_folder_or_a_broken_template_is_a_reason_not_an_exception(tmp_path: Path) -> None:
    config = local_defaults(tmp_path)
    doc = document(config, states={}, summary="", running=True)
    (tmp_path / "file").write_text("")
    blocked = dataclasses.replace(config, status_page_dir=tmp_path / "file" / "www")
    problem = publish(blocked, doc)
    assert problem.startswith(f"no status page: cannot write {tmp_path}/file/www/{PAGE_NAME}: "), problem
    overrides = tmp_path / "templates"
    overrides.mkdir()
    (overrides / TEMPLATE).write_text("{{ doc.nothing.here }}")
    broken = dataclasses.replace(config, templates_dir=overrides)
    assert publish(broken, doc).startswith(f"no status page: template {TEMPLATE} failed: UndefinedError")
    (overrides / TEMPLATE).write_text("{% for x in %}")
    assert "TemplateSyntaxError" in publish(broken, doc)
    (overrides / TEMPLATE).write_text("<p>{{ doc.summary }} ({{ served|length }})</p>\n")
    assert publish(broken, doc | {"summary": "<b>x</b>"}) is None
    assert page_path(config).read_text() == "<p>&lt;b&gt;x&lt;/b&gt; (0)</p>\n", "an override is autoescaped too"


def test_service_pass_with_an_unwritable_page_folder_still_writes_status(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The page is the service's last step after a pass: a folder it cannot write is a warning in the
    status document and, once, in the log; status.json is still written, and the page comes back when
    the folder does."""
    from isodrop.service import Service

    (tmp_path / "blocker").write_text("")
    config = dataclasses.replace(local_defaults(tmp_path), status_page_dir=tmp_path / "blocker" / "www")
    config.drop_dir.mkdir(parents=True)
    service = Service(config)
    service.reconciler.prepare()
    service.run_pass()
    service.run_pass()
    written = json.loads((config.state_dir / "status.json").read_text())
    assert written["system"]["status page"].startswith("no status page: cannot write")
    assert not service.retry_soon, "not a failed pass"
    warnings = [r for r in caplog.records if "no status page" in r.getMessage()]
    assert [r.levelname for r in warnings] == ["WARNING"], "logged once, when it starts"
    (tmp_path / "blocker").unlink()
    service.run_pass()
    written = json.loads((config.state_dir / "status.json").read_text())
    assert "status page" not in written["system"]
    page = (tmp_path / "blocker" / "www" / PAGE_NAME).read_text()
    assert "No ISOs yet" in page and "no status page" not in page, "the page does not carry its own old warning"
    service.reconciler.shutdown()


def test_config_key(tmp_path: Path) -> None:
    base = system_defaults()
    assert base.status_page_dir == Path("/run/isodrop/www")
    moved = from_mapping({"state_dir": f"{tmp_path}/run"}, base, "t")
    assert moved.status_page_dir == tmp_path / "run" / "www", "follows state_dir unless set"
    assert from_mapping({"status_page_dir": ""}, base, "t").status_page_dir is None
    assert from_mapping({"status_page_dir": "/var/www/x"}, base, "t").status_page_dir == Path("/var/www/x")
    for value, words in (
        ("www", "expected an absolute path"),
        ("/srv/tftp/isodrop/www", "must not be inside trees_dir"),
        ("/srv/isodrop/www", "must not be inside drop_dir"),
        (3, "expected a path as a string"),
    ):
        with pytest.raises(ConfigError, match="status_page_dir") as caught:
            from_mapping({"status_page_dir": value}, base, "t")
        assert words in str(caught.value)


def test_served_entries_say_guessed_and_proven(tmp_path: Path) -> None:
    """The page reads "guessed" and "proven" from the document's entries, as `isodrop inspect` says them."""
    config = local_defaults(tmp_path)
    served = state("g.iso", Outcome.SERVED, family="generic")
    states = {"g": dataclasses.replace(served, entry=entry("G", "generic", guessed=True))}
    doc = document(config, states=states, summary="", running=True)
    (item,) = doc["entries"]
    assert item["guessed"] is True and item["proven"] == proof("generic") and item["proven"]
    text = Page(render(doc)).all_text()
    assert f"proven: {proof('generic')}" in text and "generic · guessed" in text
    failed = document(config, states={"f": state("f.iso", Outcome.FAILED)}, summary="", running=True)
    assert (failed["entries"][0]["guessed"], failed["entries"][0]["proven"]) == (False, "")
