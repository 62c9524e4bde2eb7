"""Debian's shim + signed GRUB network image for x86-64 UEFI clients, Secure Boot on or off.

The chain, as verified on Debian 12's binaries (see README "UEFI and Secure Boot"):
- the client gets `efi64/bootx64.efi` = shimx64.efi.signed (signed by Microsoft's UEFI CA, embeds
  Debian's CA);
- shim fetches `grubx64.efi` over TFTP from the server it came from: with dnsmasq as DHCP server at the
  TFTP root, in proxy mode from its own folder efi64/ (both seen in dnsmasq's log), so Debian's signed
  `grubnetx64.efi.signed` is served under that name at both places;
- that GRUB's built-in prefix is `/grub` on the boot server (the DHCP answer's next-server); its built-in
  config sources `$prefix/x86_64-efi/grub.cfg` if `[ -e ... ]` says it exists, else `$prefix/grub.cfg`.
  Over TFTP `-e` is always false (it never even asks the server: seen in dnsmasq's log), so the menu
  is `grub/grub.cfg`.
- With Secure Boot on GRUB is locked down (`$lockdown` = "y"): it loads only kernels shim trusts and no
  module from disk. `http` is not built into the signed image, so HTTP needs grub-efi-amd64-bin's
  `http.mod` (same GRUB version) and works only with Secure Boot off; otherwise kernels come over TFTP.
  A file whose HTTP fetch fails (web server down, or a connection the server still holds from the
  PC's last boot: GRUB 2.06 reuses the same source ports every start) is loaded over TFTP instead.
"""

from __future__ import annotations

import ipaddress
import textwrap
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import ClassVar
from urllib.parse import urlsplit

from isodrop.config import Config
from isodrop.limits import LINE_MAX
from isodrop.loaders.base import Loader, Section, environment, not_an_option, sections, with_dispatch
from isodrop.pins import HOSTNAME, LOADER_KINDS, NETWORK, Target
from isodrop.render.menu import ISO_NAME_PREFIX, Menu, MenuItem
from isodrop.secureboot import Verdict, menu_notice, untrusted_signer

SHIM = PurePosixPath("efi64/bootx64.efi")  # the stable UEFI boot file name the dnsmasq snippets hand out
# The name shim asks for: at the TFTP root (DHCP mode) or beside itself (proxy mode), see above.
GRUB = PurePosixPath("grubx64.efi")
GRUB_BESIDE_SHIM = PurePosixPath("efi64/grubx64.efi")
MENU = PurePosixPath("grub/grub.cfg")
CLIENTS = PurePosixPath("grub/clients")  # per-PC menus (isodrop.pins), grub.cfg branches to them
MODULES = PurePosixPath("grub/x86_64-efi")
HTTP_MODULES = ("http.mod",)  # its only dependency, net, is built into the signed image
HOTKEYS = "1234567890"
NEEDS_SECURE_BOOT_OFF = " (needs Secure Boot off)"  # the title of an entry shim refuses, on a Secure Boot PC
GRUB_CARDS = 16  # efinet0 .. efinet15: the card names a host name pin looks at
# Hand-over to an ISO's own chain (isodrop.handover): on a Secure Boot PC, choosing an entry whose kernel
# shim refuses but whose ISO carries a usable vendor chain makes GRUB ask for HANDOVER_REQUESTS/<slug>/<MAC>
# ($net_default_mac: lower-case hex pairs with colons, grub-core/net/net.c grub_net_hwaddr_to_str "%02x:").
# No such file exists: dnsmasq logs the request ("file ... not found for ..."), isodrop writes that PC's
# folder, and GRUB restarts the PC after HANDOVER_PAUSE seconds.
HANDOVER_REQUESTS = PurePosixPath("efi64/handover")
HANDOVER_PAUSE = 5  # seconds the notice stays before the restart
HANDOVER_TIMEOUT = 3  # seconds before the vendor GRUB's one entry boots in the per-PC menu
HANDOVER_TEMPLATE = "handover-grub.cfg.j2"


@dataclass(frozen=True, slots=True)
class GrubEntry:
    """One menu item in GRUB's language: every value already one quoted GRUB word (or words)."""

    name: str  # the slug, for comments
    title: str  # the menuentry title, " (no Secure Boot)" added when shim would refuse the kernel
    id: str
    hotkey: str  # "" for none
    refused_with_secure_boot: str  # the quoted reason when the kernel fails the Secure Boot check, else ""
    # With Secure Boot on such an entry says why (its title and quoted echo lines); when a sound signature
    # by a key shim does not trust is the only obstacle it first tries the kernel (a MOK may trust it)
    secure_boot_title: str
    secure_boot_notice: tuple[str, ...]
    secure_boot_tries: bool
    # With Secure Boot on, an entry handed over to the ISO's own chain (MenuItem.handover) asks for its
    # per-PC folder, says so and restarts the PC: its title, the request's path as GRUB words, the notice
    handover_title: str
    handover_request: str
    handover_notice: tuple[str, ...]
    kernel: str  # over TFTP: '/isodrop/x/vmlinuz'
    params: str  # the kernel command line: " " and a quoted word per parameter ("" for none)
    initrds: str  # over TFTP, quoted and space-separated; "" for none
    kernel_http: str  # '(http,host:port)/...' or "" when HTTP is off or GRUB cannot fetch the URL
    initrds_http: str  # "" for none
    loading_http: str  # quoted echo lines
    loading_tftp: str


class GrubLoader(Loader):
    name: ClassVar[str] = "grub"
    firmware: ClassVar[str] = "efi64"
    template: ClassVar[str] = "grub.cfg.j2"
    max_line: ClassVar[int] = LINE_MAX["grub"]
    continuation: ClassVar[str] = "\\"  # outside quotes a backslash-newline joins two lines

    def files(self, config: Config) -> dict[PurePosixPath, Path]:
        wanted = {SHIM: config.shim_file, GRUB: config.grub_efi_file, GRUB_BESIDE_SHIM: config.grub_efi_file}
        if config.http_url:
            wanted |= {MODULES / m: config.grub_modules_dir / m for m in HTTP_MODULES}
        return wanted

    def render(self, menu: Menu) -> dict[PurePosixPath, str]:
        shown = sections(menu, self.firmware, self.entry, lambda title: self.quote(not_an_option(title)))
        text = self.render_template(
            menu=menu,
            sections=shown,
            q=self.quote,
            timeout=grub_timeout(menu.timeout),
            serial=grub_serial(menu.serial),
            http=any(entry.kernel_http for section in shown for entry in section.entries),
            grub_url=lambda item: grub_path(item.kernel_url),
            grub_path=grub_path,
            hotkey=hotkey,
            default_id=default_id(menu, shown),
            default_path=default_path(menu, shown, lockdown=False),
            lockdown_default_path=default_path(menu, shown, lockdown=True),
            handover_pause=HANDOVER_PAUSE,
        )
        branches = self.dispatch(menu.clients)
        return {MENU: self.checked(with_dispatch(text, branches)) if branches else text}

    def dispatch(self, keys: tuple[Target, ...]) -> list[str]:
        """The lines that hand the PCs of each pin their own menu, most specific pin first. Debian's
        GRUB network images (2.06, 2.12) ask the server only for grub/grub.cfg (no grub.cfg-01-<mac>:
        seen in dnsmasq's log), so the shared menu branches on what GRUB's network stack knows:
        $net_default_mac (the MAC it booted from, lower case with colons), $net_default_ip (its DHCP
        address, matched with `regexp`, built into the signed image) and the host name of the booting
        card, net_<card>_hostname (DHCP option 12; GRUB's script has no indirect variables, so a line per
        card name efinet0..). `configfile` shows that file's menu at once; if it is missing, or Escape
        leaves it, this menu goes on."""
        keys = tuple(key for key in keys if key.kind in LOADER_KINDS[self.name])
        if not keys:
            return []
        lines = []
        if any(key.kind == HOSTNAME for key in keys):
            lines.append("set isodrop_hostname=")
            lines += [
                f'if [ "$net_default_interface" = efinet{n} ]; then set isodrop_hostname="$net_efinet{n}_hostname"; fi'
                for n in range(GRUB_CARDS)
            ]
        for number, key in enumerate(keys):
            path = self.quote("/" + str(CLIENTS / f"{key.file_id}.cfg"))
            lines.append(f"{'elif' if number else 'if'} {self.condition(key)}; then configfile {path}")
        return [*lines, "fi"]

    def condition(self, key: Target) -> str:
        if key.kind == HOSTNAME:
            return f'[ "$isodrop_hostname" = {self.quote(key.value)} ]'
        if key.kind == NETWORK:
            return f'regexp {self.quote(address_regexp(key.network))} "$net_default_ip"'
        return f'[ "$net_default_mac" = {self.quote(key.value)} ]'

    def client_globs(self) -> tuple[str, ...]:
        return (str(CLIENTS / "*.cfg"),)

    def client_paths(self, path: PurePosixPath, key: Target) -> tuple[PurePosixPath, ...]:
        return (CLIENTS / f"{key.file_id}.cfg",) if path == MENU else ()

    def entry(self, item: MenuItem, index: int) -> GrubEntry:
        q = self.quote
        refused = item.secure_boot if item.secure_boot is not None and not item.secure_boot.boots else None
        handover = bool(refused and item.handover)
        kernel_http = grub_path(item.kernel_url)
        return GrubEntry(
            name=item.name,
            title=q(not_an_option(item.title + (" (no Secure Boot)" if refused else ""))),
            id=q(item.name),
            hotkey=hotkey(index),
            refused_with_secure_boot=q(refused.reason) if refused else "",
            secure_boot_title=q(not_an_option(item.title + NEEDS_SECURE_BOOT_OFF)) if refused else "",
            secure_boot_notice=tuple(quote_words(list(menu_notice(item.title, refused)))) if refused else (),
            secure_boot_tries=bool(refused and untrusted_signer(refused)),
            handover_title=q(not_an_option(item.title + handover_suffix(item.handover))) if handover else "",
            handover_request=q("/" + handover_request(item.name.removeprefix(ISO_NAME_PREFIX))) + '"$net_default_mac"'
            if handover
            else "",
            handover_notice=tuple(quote_words(list(handover_notice(item.title, item.handover, refused))))
            if handover
            else (),
            kernel=q("/" + item.kernel),
            params="".join(" " + word for word in quote_words(item.append.split())),
            initrds=" ".join(quote_words(["/" + i for i in item.initrds])),
            kernel_http=q(kernel_http) if kernel_http else "",
            initrds_http=" ".join(quote_words([grub_path(u) for u in item.initrd_urls])) if kernel_http else "",
            loading_http=q(f"Loading {item.name} over HTTP ..."),
            loading_tftp=q(f"Loading {item.name} over TFTP ..."),
        )

    def handover_menu(self, item: MenuItem, vendor: str, serial: str, minutes: int) -> str:
        """The grub.cfg of a PC handed over to `item`'s own chain (isodrop.handover): that vendor's GRUB
        boots the entry after HANDOVER_TIMEOUT seconds with the shared menu's command line; a second entry
        says how this PC gets isodrop's menu again. `serial`: Menu.serial ("" for none)."""
        entry = self.entry(item, 0)
        back = (
            f"This PC boots {item.title} through {vendor}'s own shim and GRUB, from a folder this"
            f" server keeps for this PC alone: until the PC has fetched the initrd, or for {minutes} minutes"
            " (for a PC pinned to this entry: until `isodrop unpin`).",
            "Restart the PC after that to get isodrop's menu again.",
            "Press Escape to return to this menu.",
        )
        template = environment(self.templates_dir).get_template(HANDOVER_TEMPLATE)
        text = template.render(
            entry=entry,
            title=self.quote(not_an_option(item.title)),
            back_title=self.quote("How to get back to isodrop's menu"),
            back=tuple(quote_words(list(wrapped(back)))),
            timeout=HANDOVER_TIMEOUT,
            serial=grub_serial(serial),
        )
        return self.checked(text)

    @staticmethod
    def quote(text: str) -> str:
        """One GRUB word that means exactly `text`: single quotes keep `$`, `${}`, `;`, `#`, `"`, `\\`
        and spaces literal; a `'` is closed, escaped and reopened (`'\\''`). Line breaks (and other
        control characters) become spaces, since a quoted newline would still end up inside a title."""
        clean = str(text)
        if not clean.isprintable():  # printable text has no control characters: the common case
            clean = "".join(" " if ord(ch) < 32 or ord(ch) == 127 else ch for ch in clean)
        return "'" + clean.replace("'", "'\\''") + "'"


def handover_request(slug: str) -> str:
    """The file GRUB asks for to hand a PC over to `slug`'s chain, without the MAC GRUB appends."""
    return f"{HANDOVER_REQUESTS}/{slug}/"


def handover_suffix(vendor: str) -> str:
    """What an entry's title says on a Secure Boot PC when choosing it restarts the PC into `vendor`'s chain."""
    return f" (restarts into {vendor}'s chain)"


def handover_notice(title: str, vendor: str, verdict: Verdict) -> tuple[str, ...]:
    """The lines GRUB prints before it restarts a Secure Boot PC into `vendor`'s own chain."""
    return wrapped(
        (
            f"{title}: its kernel is {verdict.reason}.",
            f"This PC now restarts and boots it through {vendor}'s own shim and GRUB, which this server"
            " hands to this PC alone for its next network boot.",
            f"Restarting in {HANDOVER_PAUSE} seconds ...",
        )
    )


def wrapped(paragraphs: tuple[str, ...], width: int = 76) -> tuple[str, ...]:
    """Paragraphs as lines of at most `width` characters, a blank line between two."""
    lines: list[str] = []
    for paragraph in paragraphs:
        lines += textwrap.wrap(paragraph, width, break_long_words=True) + [""]
    return tuple(lines[:-1])


def quote_words(words: list[str]) -> list[str]:
    """GrubLoader.quote of each word; words with nothing to escape (nearly all) in one step."""
    if "'" in (joined := "".join(words)) or not joined.isprintable():
        return [GrubLoader.quote(word) for word in words]
    return [f"'{word}'" for word in words]


def grub_timeout(tenths: int) -> int:
    """Config timeout (tenths of a second, 0 = forever) -> GRUB's (whole seconds, -1 = forever)."""
    return -1 if tenths <= 0 else max(1, (tenths + 9) // 10)


def grub_serial(serial: str) -> str:
    """Menu.serial ("0 115200", pxelinux's SERIAL form) -> "--unit=0 --speed=115200"."""
    if not serial:
        return ""
    port, _, speed = serial.partition(" ")
    return f"--unit={int(port)} --speed={int(speed or 115200)}"


def grub_path(url: str) -> str:
    """ "http://10.0.0.1:8080/isodrop/x/vmlinuz" -> "(http,10.0.0.1:8080)/isodrop/x/vmlinuz"; "" for
    anything GRUB's http module cannot fetch (https, no host)."""
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        return ""
    host = parts.hostname + (f":{parts.port}" if parts.port else "")
    return f"(http,{host}){parts.path or '/'}"


def hotkey(index: int) -> str:
    """The key that picks the index-th line of a (sub)menu: 1 ... 9, 0, then none."""
    return HOTKEYS[index] if index < len(HOTKEYS) else ""


def default_id(menu: Menu, shown: tuple[Section[GrubEntry], ...]) -> str:
    """The default entry's id, "group-N>id" inside the N-th submenu: for templates written for isodrop
    0.1 only. GRUB matches a name against titles too, and titles come from ISOs: the shipped template
    uses `default_path`."""
    for section in shown[1:]:
        if any(entry.name == menu.default for entry in section.entries):
            return f"group-{section.number}>{menu.default}"
    return menu.default


def default_path(menu: Menu, shown: tuple[Section[GrubEntry], ...], *, lockdown: bool) -> str:
    """GRUB's `default` as entry numbers ("3", or "2>0" for the first entry of the third top-level
    item, a submenu) for the menu GRUB builds with Secure Boot `lockdown` on or off. Every entry is
    defined in both states (with lockdown, one whose kernel shim refuses only says why), so the
    numbers are the same; but when the default is such an entry, with lockdown it is local boot, never
    that entry (it boots nothing) nor another.

    Numbers, because a name is not safe: GRUB (grub-core/normal/menu.c, get_entry_number, the same in
    2.02 (coreos/grub) and 2.13-dev (AOSC-Tracking/grub, 2fd91392), so in Debian's 2.06 and 2.12 too)
    reads `default` with grub_strtoul; only when that is no number does it take the FIRST entry whose
    title OR id equals it (menuentry_eq: up to the first single ">", ">>" standing for a ">"), and
    titles come from ISOs (an ISO labelled "local" would win). A number stops at the ">"; when the
    entry runs, grub_menu_execute_entry hands the rest after the ">" to the submenu as its `default`.
    A number past the end (or an unknown name) falls back to entry 0, which sidecars' `position`
    decides: so every number here counts the entries defined exactly."""
    top = shown[0].entries
    places = [(str(number), entry) for number, entry in enumerate(top)]
    for section in shown[1:]:  # each submenu after the top-level entries
        places += [(f"{len(top) + section.number - 1}>{n}", entry) for n, entry in enumerate(section.entries)]
    for place, entry in places:
        if entry.name == menu.default and not (lockdown and entry.refused_with_secure_boot):
            return place
    return str(len(top) + len(shown) - 1)  # local boot: the last top-level item


def address_regexp(network: ipaddress.IPv4Network) -> str:
    """An extended regular expression (GRUB's `regexp`) matching exactly the dotted addresses in
    `network`: the whole octets literally, the partial octet as alternatives, the rest any number."""
    octets = network.network_address.packed
    whole, rest = divmod(network.prefixlen, 8)
    parts = [str(octet) for octet in octets[:whole]]
    if rest:
        first = octets[whole]
        parts.append("(" + "|".join(str(value) for value in range(first, first + (1 << (8 - rest)))) + ")")
    parts += ["[0-9]+"] * (4 - len(parts))
    return "^" + "\\.".join(parts) + "$"
