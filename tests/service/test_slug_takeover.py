"""No drop-folder name can take over a served ISO's slug (its tree, export, URL, record and menu id),
and trees made by the old slug rule converge to the new one after an upgrade, with nothing left behind.

A real `isodrop serve` / `isodrop scan` on temporary folders (tests/harness/servicekit.py), and the reconciler
in process where the old, colliding slug rule is put back to show that a held slug stays held."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from isodrop import config as config_module
from isodrop import plan as plan_module
from isodrop.reconciler import Reconciler
from isodrop.site import Site
from isodrop.state import legacy_slug_for, slug_for
from tests.harness.servicekit import ServiceRun, build_debian_live

VICTIM = "my~iso.iso"  # hashed; sorts after every name made from its slug ("my_iso...", '_' < '~')
HOUR_AGO = time.time() - 3600


@pytest.fixture
def service(tmp_path: Path) -> Iterator[ServiceRun]:
    run = ServiceRun(tmp_path / "svc")
    yield run
    run.stop()


def drop_iso(run: ServiceRun, source: Path, name: str) -> None:
    """Copy an ISO into the drop folder, complete (an hour old: no copy can be in progress)."""
    shutil.copy(source, run.drop / name)
    os.utime(run.drop / name, (HOUR_AGO, HOUR_AGO))


def served_as(run: ServiceRun) -> dict[str, str]:
    """ISO name -> slug of every served ISO, from its record."""
    records = (json.loads(p.read_text()) for p in (run.trees / ".state").glob("*.json"))
    return {r["source"]: r["slug"] for r in records if r["outcome"] == "served"}


def in_menu(run: ServiceRun, name: str) -> bool:
    """Is `name` served and on the menu?"""
    slug = served_as(run).get(name)
    return slug is not None and f"LABEL iso-{slug}\n" in run.menu()


def victim_view(run: ServiceRun, slug: str) -> tuple[int, str, list[str], bytes]:
    """What must not change for the served victim: its tree's inode, its record, its menu entry, its kernel."""
    tree = run.trees / slug
    # its LABEL, LINUX, INITRD and APPEND lines (titles of equal labels name the files: a newcomer's title may)
    menu = [line for line in run.menu().splitlines() if slug in line and "MENU LABEL" not in line]
    assert menu, run.menu()
    record = (run.trees / ".state" / f"{slug}.json").read_text()
    return tree.stat().st_ino, record, menu, (tree / "live" / "vmlinuz").read_bytes()


def test_names_made_from_a_served_isos_slug_take_nothing_from_it(service: ServiceRun, tmp_path: Path) -> None:
    """The attack: the victim is served; later, names equal to its slug (new and old rule, other case)
    and loader names arrive, all sorting first. Each is served under a slug of its own."""
    drop_iso(service, build_debian_live(tmp_path / "victim.iso", "victim"), VICTIM)
    service.start()
    service.wait_for(lambda: in_menu(service, VICTIM), 30, "the victim served")
    slug = served_as(service)[VICTIM]
    before = victim_view(service, slug)
    attacker = build_debian_live(tmp_path / "attacker.iso", "attacker")
    names = [f"{slug}.iso", f"{legacy_slug_for(VICTIM)}.iso", f"{slug.upper()}.iso", "LOCAL.iso"]
    assert all(name < VICTIM for name in names)
    for name in names:
        drop_iso(service, attacker, name)
    service.wait_for(lambda: all(in_menu(service, name) for name in names), 60, "every newcomer served")
    slugs = served_as(service)
    assert slugs[VICTIM] == slug and len(set(slugs.values())) == len(slugs), slugs
    assert victim_view(service, slug) == before, "the victim's tree, record, menu entry or kernel changed"
    assert not service.status()["ignored"], service.status()["ignored"]
    assert slugs["LOCAL.iso"] != "LOCAL" and "\nLABEL LOCAL\n" not in service.menu()


# --- the holder keeps its slug even when slugs collide ---------------------------------------------------


def test_a_held_slug_stays_with_its_iso_under_a_colliding_rule(tmp_path: Path, monkeypatch, caplog) -> None:
    """With the old 24-bit rule put back (a safe name then equals the victim's slug), the newcomer sorting
    first is ignored with the reason while the victim is there, and gets the slug once it is gone."""
    monkeypatch.setattr(plan_module, "slug_for", legacy_slug_for)
    run = ServiceRun(tmp_path / "svc")
    run.write_config()
    reconciler = Reconciler(Site.make(config_module.load(run.config), "192.0.2.10"))
    reconciler.prepare()
    try:
        drop_iso(run, build_debian_live(tmp_path / "victim.iso", "victim"), VICTIM)
        reconciler.run_until_idle(wait_for_copies=0)
        slug = legacy_slug_for(VICTIM)
        newcomer = f"{slug}.iso"
        assert served_as(run) == {VICTIM: slug} and newcomer < VICTIM
        before = victim_view(run, slug)
        drop_iso(run, build_debian_live(tmp_path / "attacker.iso", "attacker"), newcomer)
        with caplog.at_level(logging.WARNING, logger="isodrop"):
            reconciler.run_until_idle(wait_for_copies=0)
        assert victim_view(run, slug) == before, "the newcomer took over the victim's tree, record or entry"
        reason = reconciler.ignored[newcomer]
        assert reason.startswith("slug conflict") and repr(VICTIM) in reason and repr(slug) in reason, reason
        assert f"{newcomer}: ignored: slug conflict" in caplog.text
        (run.drop / VICTIM).unlink()
        reconciler.run_until_idle(wait_for_copies=0)  # the pass that retires the victim plans again at once
        assert served_as(run) == {newcomer: slug} and newcomer not in reconciler.ignored
        assert b"kernel-attacker" in (run.trees / slug / "live" / "vmlinuz").read_bytes()
    finally:
        reconciler.shutdown()


# --- upgrading from the old slug rule ------------------------------------------------------------------


def make_old_rule_trees(run: ServiceRun) -> dict[str, str]:
    """Turn the trees folder of `isodrop scan` into what the old rule made: every tree and record whose
    slug differs under the old rule renamed, and the slug in its record's paths with it. Returns ISO
    name -> old slug of those."""
    renamed = {}
    for source, new in served_as(run).items():
        old = legacy_slug_for(source)
        if old == new:
            continue
        (run.trees / new).rename(run.trees / old)
        record = run.trees / ".state" / f"{new}.json"
        (run.trees / ".state" / f"{old}.json").write_text(record.read_text().replace(new, old))
        record.unlink()
        renamed[source] = old
    return renamed


def leftovers(run: ServiceRun) -> set[str]:
    """Names in the trees folder that no record accounts for, and temporaries."""
    slugs = {p.stem for p in (run.trees / ".state").glob("*.json")}
    trees = {p.name for p in run.trees.iterdir() if not p.name.startswith(".")}
    records_without_iso = {slug for slug in slugs if slug not in served_as(run).values()}
    temporaries = {f".tmp/{p.name}" for p in (run.trees / ".tmp").iterdir()}
    return (trees ^ slugs) | records_without_iso | temporaries


def test_an_upgrade_moves_old_rule_trees_to_their_new_slug_and_leaves_nothing_behind(tmp_path: Path) -> None:
    run = ServiceRun(tmp_path / "svc")
    run.write_config()
    names = [VICTIM, "kept-as-is.iso", "local.iso", "broken tree.iso"]
    for number, name in enumerate(names):
        drop_iso(run, build_debian_live(tmp_path / f"{number}.iso", f"iso{number}"), name)
    assert run.command("scan").returncode == 0
    old = make_old_rule_trees(run)
    assert sorted(old) == sorted(set(names) - {"kept-as-is.iso"}), old
    shutil.rmtree(run.trees / old["broken tree.iso"])  # a tree lost (a crash): this one cannot be moved
    inodes = {name: (run.trees / slug).stat().st_ino for name, slug in old.items() if name != "broken tree.iso"}
    newcomer = f"{old[VICTIM]}.iso"  # named like the victim's old slug, sorting first
    waits = f"{old['broken tree.iso']}.iso"  # named like an old slug whose record stays until the plan retires it
    for name in (newcomer, waits):
        drop_iso(run, build_debian_live(tmp_path / "attacker.iso", "attacker"), name)

    scan = run.command("scan")
    assert scan.returncode == 0, scan.stdout + scan.stderr
    slugs = served_as(run)
    assert slugs == {name: slug_for(name) for name in [*names, newcomer, waits]}, slugs
    for name, inode in inodes.items():
        assert (run.trees / slugs[name]).stat().st_ino == inode, f"{name} was extracted again, not moved"
    victim = json.loads((run.trees / ".state" / f"{slugs[VICTIM]}.json").read_text())
    assert slugs[VICTIM] in victim["entry"]["kernel"] + json.dumps(victim["context"])
    assert old[VICTIM] not in json.dumps(victim), "the moved record still points at the old paths"
    assert f"/{slugs[VICTIM]}/live/vmlinuz" in run.menu() and f"/{old['local.iso']}/" not in run.menu()
    exported = {line.split()[0] for line in run.exports.read_text().splitlines() if not line.startswith("#")}
    assert exported == {str(run.trees / slug) for slug in slugs.values()}, exported
    assert leftovers(run) == set()
    assert f"{VICTIM}: moved from {old[VICTIM]} to {slugs[VICTIM]}" in scan.stderr, scan.stderr
    assert "broken tree.iso: its tree cannot move" in scan.stderr, scan.stderr
    held = f"{waits}: ignored: slug conflict: its folder name {old['broken tree.iso']!r} is held by 'broken tree.iso'"
    assert held in scan.stderr, "the old record holds its slug until the pass that retires it"

    again = run.command("scan")
    assert again.returncode == 0 and served_as(run) == slugs and leftovers(run) == set()
    assert "moved from" not in again.stderr and "extracting" not in again.stderr, again.stderr
    assert (run.trees / slugs[VICTIM]).stat().st_ino == inodes[VICTIM]


@pytest.mark.parametrize("step", ["new record written", "tree moved"])
def test_an_upgrade_stopped_in_the_middle_of_a_move_converges(tmp_path: Path, step: str) -> None:
    """Trees.rename writes the new record, moves the tree, drops the old record: a stop after either of
    the first two steps is finished by the next start, with the tree kept and nothing left behind."""
    run = ServiceRun(tmp_path / "svc")
    run.write_config()
    drop_iso(run, build_debian_live(tmp_path / "victim.iso", "victim"), VICTIM)
    assert run.command("scan").returncode == 0
    new = served_as(run)[VICTIM]
    record = (run.trees / ".state" / f"{new}.json").read_text()
    inode = (run.trees / new).stat().st_ino
    old = make_old_rule_trees(run)[VICTIM]
    (run.trees / ".state" / f"{new}.json").write_text(record)  # as a stop after the first step leaves it
    if step == "tree moved":
        (run.trees / old).rename(run.trees / new)
    scan = run.command("scan")
    assert scan.returncode == 0, scan.stderr
    assert served_as(run) == {VICTIM: new} and (run.trees / new).stat().st_ino == inode
    assert leftovers(run) == set() and not (run.trees / old).exists()
    assert "extracting" not in scan.stderr, scan.stderr
