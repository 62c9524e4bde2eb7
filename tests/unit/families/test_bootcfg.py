"""An ISO's own boot configuration is hostile content: reading it is bounded per ISO.

Each config file is read once per ISO however many menus include it, INCLUDE/source chains are
followed without recursion, and a budget that is hit (files, bytes, include depth) becomes the ISO's
reason, never an exception. Trees are built here as folders (DirTree) with a read counter; one test
runs `isodrop scan` on a real image next to a good one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from isodrop.families import DirTree, bootcfg, recognise
from isodrop.families.bootcfg import BootConfigTooLarge, default_entry, grub_entries, split_params, syslinux_entries
from isodrop.families.generic import GENERIC
from isodrop.model import BootEntry, NotBootable, ServerContext
from tests.harness.family_layouts import Layout, initramfs, write_tree
from tests.harness.isofactory import build_iso
from tests.harness.servicekit import REPO, build_debian_live

CTX = ServerContext(server="192.168.50.1", nfs_path="/srv/tftp/isodrop/x", tftp_path="isodrop/x")
LIVE_INITRD = initramfs({"init": b"#!/bin/sh\n", "lib/live/boot/9990-main.sh": b"Live ()\n"})


class CountingTree(DirTree):
    """A DirTree that counts the reads of each file."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.reads: dict[str, int] = {}

    def read_bytes(self, rel: str, limit: int = 256 * 1024) -> bytes | None:
        self.reads[rel] = self.reads.get(rel, 0) + 1
        return super().read_bytes(rel, limit)


def tree_of(root: Path, files: dict[str, str | bytes]) -> CountingTree:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content)
        else:
            path.write_bytes(content)
    return CountingTree(root)


LINUX_ENTRY = "LABEL live\n  KERNEL /live/vmlinuz\n  APPEND initrd=/live/initrd.img boot=live components quiet\n"
BOOT_FILES = {"live/vmlinuz": b"kernel", "live/initrd.img": LIVE_INITRD}


def including_each_other(count: int, linux_in_last: bool) -> dict[str, str | bytes]:
    """A top menu INCLUDE-ing `count` menus, each of which INCLUDEs a shared style file and the top menu
    again (Debian's installer menus on a larger scale; reading this was quadratic)."""
    names = [f"menu{i:03}.cfg" for i in range(count)]
    files: dict[str, str | bytes] = {
        "isolinux/isolinux.cfg": "DEFAULT live\n" + "".join(f"INCLUDE {name}\n" for name in names),
        "isolinux/stdmenu.cfg": "MENU COLOR title 1;36;44\nINCLUDE isolinux.cfg\n",
    }
    for index, name in enumerate(names):
        text = f"MENU INCLUDE stdmenu.cfg\nINCLUDE isolinux.cfg\nLABEL tool{index}\n  KERNEL hdt.c32\n"
        files[f"isolinux/{name}"] = text + (LINUX_ENTRY if linux_in_last and index == count - 1 else "")
    return {**files, **BOOT_FILES}


def include_chain(depth: int, folder: str = "isolinux", first: str = "isolinux.cfg") -> dict[str, str | bytes]:
    """`first` INCLUDEs link1.cfg, which INCLUDEs link2.cfg, ... `depth` levels, a Linux entry at the end."""
    files: dict[str, str | bytes] = {f"{folder}/{first}": "DEFAULT live\nINCLUDE link1.cfg\n"}
    for level in range(1, depth):
        files[f"{folder}/link{level}.cfg"] = f"INCLUDE link{level + 1}.cfg\n"
    files[f"{folder}/link{depth}.cfg"] = LINUX_ENTRY
    return {**files, **BOOT_FILES}


def test_menus_including_each_other_are_each_read_once(tmp_path: Path) -> None:
    tree = tree_of(tmp_path, including_each_other(120, linux_in_last=True))
    result = recognise(tree, CTX)
    assert isinstance(result, BootEntry), result
    assert result.family == "generic" and result.kernel == "live/vmlinuz"
    configs = {rel: count for rel, count in tree.reads.items() if rel.endswith(".cfg")}
    assert len(configs) == 122 and set(configs.values()) == {1}, configs


def test_menus_without_linux_are_walked_once_not_once_per_root(tmp_path: Path) -> None:
    """The generic fallback tries every isolinux/*.cfg as a root; a config already included by an
    earlier root without a Linux entry is skipped, so 120 roots do not cost 120 walks."""
    tree = tree_of(tmp_path, including_each_other(120, linux_in_last=False))
    result = recognise(tree, CTX)
    assert isinstance(result, NotBootable) and result.guessed
    assert "no known live system found" in result.reason
    reader = bootcfg._READERS[tree]
    assert set(tree.reads.values()) == {1} and len(reader.lines) == 122
    assert reader.steps == 120 + 2 + 120 * 3  # one walk over every item (entries, includes) of every file


def test_an_include_cycle_ends(tmp_path: Path) -> None:
    files = {
        "isolinux/isolinux.cfg": "DEFAULT live\nINCLUDE a.cfg\n",
        "isolinux/a.cfg": "INCLUDE b.cfg\nINCLUDE isolinux.cfg\n",
        "isolinux/b.cfg": "INCLUDE a.cfg\n" + LINUX_ENTRY + "INCLUDE b.cfg\n",
        **BOOT_FILES,
    }
    tree = tree_of(tmp_path, files)
    entries, default = syslinux_entries(tree, "isolinux/isolinux.cfg")
    assert [entry.name for entry in entries] == ["live"] and default == "live"
    entry = default_entry(tree)
    assert entry is not None and entry.kernel == "live/vmlinuz" and entry.initrds == ["live/initrd.img"]
    assert {rel: n for rel, n in tree.reads.items() if rel.endswith(".cfg")} == {
        "isolinux/isolinux.cfg": 1,
        "isolinux/a.cfg": 1,
        "isolinux/b.cfg": 1,
    }


def test_a_grub_source_cycle_ends(tmp_path: Path) -> None:
    files = {
        "boot/grub/grub.cfg": "set default=1\nsource /boot/grub/a.cfg\n",
        "boot/grub/a.cfg": (
            "source /boot/grub/grub.cfg\nmenuentry 'Tools' {\n  linux /memdisk\n}\n"
            "menuentry 'Live' --id live {\n  linux /live/vmlinuz boot=live\n  initrd /live/initrd.img\n}\n"
        ),
        **BOOT_FILES,
    }
    tree = tree_of(tmp_path, files)
    entries, default = grub_entries(tree, "boot/grub/grub.cfg")
    assert [entry.name for entry in entries] == ["Tools", "live"] and default == "1"
    entry = default_entry(tree)
    assert entry is not None and entry.name == "live" and entry.params == ["boot=live"]


def test_a_chain_of_1100_includes_gets_the_depth_reason(tmp_path: Path) -> None:
    tree = tree_of(tmp_path, include_chain(1100))
    with pytest.raises(BootConfigTooLarge, match=r"included 33 levels deep from isolinux/isolinux.cfg"):
        syslinux_entries(tree, "isolinux/isolinux.cfg")
    result = recognise(tree, CTX)  # the same reason as the ISO's verdict, no RecursionError
    assert isinstance(result, NotBootable) and result.guessed and result.family == "generic"
    assert result.reason.startswith("boot configuration too large: isolinux/link33.cfg is included 33 levels")
    configs = [rel for rel in tree.reads if rel.endswith(".cfg")]
    assert len(configs) == bootcfg.MAX_INCLUDE_DEPTH + 1  # the root and 32 levels, nothing deeper


def test_a_chain_within_the_depth_budget_is_followed(tmp_path: Path) -> None:
    tree = tree_of(tmp_path, include_chain(bootcfg.MAX_INCLUDE_DEPTH))
    entry = default_entry(tree)
    assert entry is not None and entry.name == "live" and entry.source.endswith("link32.cfg")


def test_a_huge_config_file_gets_the_size_reason(tmp_path: Path) -> None:
    huge = "# padding " + "x" * (2 * 1024 * 1024) + "\n" + LINUX_ENTRY
    tree = tree_of(tmp_path, {"isolinux/isolinux.cfg": huge, **BOOT_FILES})
    result = recognise(tree, CTX)
    assert isinstance(result, NotBootable), result
    assert (
        result.reason
        == "boot configuration too large: isolinux/isolinux.cfg is larger than 1.0 MiB, the budget per file"
    )


def test_many_large_config_files_get_the_byte_budget_reason(tmp_path: Path) -> None:
    big = "# " + "y" * (900 * 1024) + "\n"
    files: dict[str, str | bytes] = {"isolinux/isolinux.cfg": "".join(f"INCLUDE part{i}.cfg\n" for i in range(6))}
    files.update({f"isolinux/part{i}.cfg": big for i in range(6)})
    tree = tree_of(tmp_path, {**files, **BOOT_FILES})
    with pytest.raises(BootConfigTooLarge, match=r"read 4\.0 MiB of 6 files, the budget is 4\.0 MiB per ISO"):
        default_entry(tree)
    with pytest.raises(BootConfigTooLarge):  # and the same on every later look at the same ISO
        default_entry(tree)


def test_too_many_config_files_get_the_file_budget_reason(tmp_path: Path) -> None:
    count = bootcfg.MAX_CONFIG_FILES + 10
    files: dict[str, str | bytes] = {"isolinux/isolinux.cfg": "".join(f"INCLUDE m{i}.cfg\n" for i in range(count))}
    files.update({f"isolinux/m{i}.cfg": "" for i in range(count)})
    tree = tree_of(tmp_path, {**files, **BOOT_FILES})
    with pytest.raises(BootConfigTooLarge, match=f"more than {bootcfg.MAX_CONFIG_FILES} files"):
        default_entry(tree)
    assert len(tree.reads) == bootcfg.MAX_CONFIG_FILES


def test_the_walk_step_budget(tmp_path: Path, monkeypatch) -> None:
    """Entries and includes walked over are counted per ISO (lowered here: the real budget needs megabytes)."""
    monkeypatch.setattr(bootcfg, "MAX_CONFIG_STEPS", 50)
    tree = tree_of(tmp_path, including_each_other(120, linux_in_last=True))
    with pytest.raises(BootConfigTooLarge, match="following its includes took more than 50 steps"):
        default_entry(tree)


def test_a_long_menuentry_line_without_a_brace_is_read_in_linear_time(tmp_path: Path) -> None:
    """The old pattern backtracked quadratically on such a line (minutes for 200 KiB)."""
    line = "menuentry " + "a" * 200_000 + "\n"
    files = {"boot/grub/grub.cfg": line + "menuentry 'Live' {\n  linux /live/vmlinuz boot=live\n}\n", **BOOT_FILES}
    entries, _ = grub_entries(tree_of(tmp_path, files), "boot/grub/grub.cfg")
    assert [entry.title for entry in entries] == ["Live"]


def test_entries_handed_out_are_copies(tmp_path: Path) -> None:
    """Parsed entries are memoised per ISO: what one caller changes must not reach the next."""
    tree = tree_of(tmp_path, {"isolinux/isolinux.cfg": LINUX_ENTRY, **BOOT_FILES})
    first = default_entry(tree)
    assert first is not None
    first.params.append("changed")
    second = default_entry(tree)
    assert second is not None and "changed" not in second.params and second.is_default


def test_generic_reports_the_budget_as_its_guessed_verdict(tmp_path: Path) -> None:
    tree = tree_of(tmp_path, include_chain(40))
    with pytest.raises(NotBootable) as caught:
        GENERIC.recognise(tree, CTX)
    assert caught.value.guessed and caught.value.family == "generic"
    assert "boot configuration too large" in caught.value.reason


def test_a_budget_exceeding_iso_fails_alone_in_a_scan(tmp_path: Path) -> None:
    """`isodrop scan` of a good ISO next to one whose menus nest 40 deep: the good one is served, the
    other has the budget reason in `isodrop status`."""
    root = tmp_path / "demo"
    drop = root / "drop"
    drop.mkdir(parents=True)
    build_debian_live(drop / "good.iso")
    build_iso(drop / "deep-menus.iso", include_chain(40), volume_id="DEEPMENUS")
    long_ago = time.time() - 120
    for path in drop.iterdir():
        os.utime(path, (long_ago, long_ago))
    env = dict(os.environ, PYTHONPATH=str(REPO))
    command = [sys.executable, "-m", "isodrop"]
    scan = subprocess.run(
        [*command, "scan", "--root", str(root)], capture_output=True, text=True, env=env, timeout=300, check=False
    )
    assert "Traceback" not in scan.stdout + scan.stderr
    status = subprocess.run(
        [*command, "status", "--json", "--root", str(root)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    entries = {entry["iso"]: entry for entry in json.loads(status.stdout)["entries"]}
    assert entries["good.iso"]["outcome"] == "served", entries["good.iso"]
    deep = entries["deep-menus.iso"]
    assert deep["outcome"] != "served" and "boot configuration too large" in json.dumps(deep), deep
    assert "link33.cfg is included 33 levels deep" in json.dumps(deep), deep


def test_split_params_keeps_quoted_values() -> None:
    assert split_params('a=1  ocs_live_run="ocs-live-general x" b ""') == [
        "a=1",
        'ocs_live_run="ocs-live-general x"',
        "b",
        '""',
    ]


def test_grub_default_by_index_and_by_id(tmp_path: Path) -> None:
    cfg = (
        'set default="1"\nmenuentry "one" {\n linux /a root=x\n}\n'
        "menuentry 'two' --id second {\n linux /b one=1\n initrd /b.img\n}\n"
    )
    tree = DirTree(write_tree(tmp_path / "a", Layout({"boot/grub/grub.cfg": cfg}, "")))
    entry = default_entry(tree)
    assert entry is not None and (entry.kernel, entry.initrds, entry.params) == ("b", ["b.img"], ["one=1"])
    cfg2 = cfg.replace('set default="1"', "set default=second")
    tree2 = DirTree(write_tree(tmp_path / "b", Layout({"boot/grub/grub.cfg": cfg2}, "")))
    entry2 = default_entry(tree2)
    assert entry2 is not None and entry2.title == "two"
