"""Small test-side readers of generated menus that follow each boot loader's own parsing rules, to
read back what a PC would actually boot at the timeout and what each entry would load.

- GRUB: grub-core/script lexer quoting (`words`), grub_arg_parse for `menuentry`/`submenu` options
  (grub-core/lib/arg.c: a word starting with "-" is an option; "--" ends them), `set default` resolved
  as grub-core/normal/menu.c does (a number, else the first entry whose title or id equals it; out of
  range: entry 0; "N>M" into a submenu), `if [ "$lockdown" ... ]` blocks (and `else`) for Secure Boot on and off;
  other `if`/`elif` blocks (per-PC branches, `grub_dispatch`) read as on a PC none of them matches.
- SYSLINUX 6.04: a 4096-byte line buffer (a longer line is read as several), directives matched
  case-insensitively, DEFAULT naming the first LABEL of that name, ONTIMEOUT overriding it.
- Per-PC lookups (`Nic`: what the loader knows about the PC): pxelinux's config file search (01-<mac>,
  the address in upper-case hex one digit shorter each time, default); GRUB's `set`, `if`/`elif`/`fi`
  with `[ A = B ]` and `regexp` (regexec: a search, POSIX extended) ending in `configfile`; iPXE's
  `iseq A B && chain FILE ||` with ${mac}, ${ip} and ${hostname}.
- iPXE: process_script's backslash continuation, whitespace tokens, getopt that stops at the first
  word not starting with "-" ("--" ends options), `choose --default`, `goto`, `:label` lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

SYSLINUX_LINE_BUFFER = 4096


@dataclass
class Boot:
    """What a menu entry loads: kernel path, initrd paths, command line words; or local boot."""

    kernel: str = ""
    initrds: tuple[str, ...] = ()
    params: tuple[str, ...] = ()
    local: bool = False
    name: str = ""


class ParseError(AssertionError):
    """The loader would not read this menu as isodrop meant it."""


# --- GRUB ---------------------------------------------------------------------------------------


def words(line: str) -> list[str]:
    """Split one GRUB script line into words as GRUB does: '...' literal, "..." with \\ escapes,
    \\ outside quotes (at the end of a line: a continuation, refused), # starting a comment at a word
    start, ; ending a word, braces as words of their own."""
    out: list[str] = []
    word: list[str] | None = None
    i = 0
    while i < len(line):
        ch = line[i]
        if ch == "'":
            end = line.index("'", i + 1)  # an unterminated quote raises: the test fails
            word = (word or []) + [line[i + 1 : end]]
            i = end + 1
        elif ch == '"':
            i += 1
            part = []
            while line[i] != '"':
                if line[i] == "\\" and line[i + 1] in '"\\$':
                    i += 1
                part.append(line[i])
                i += 1
            word = (word or []) + ["".join(part)]
            i += 1
        elif ch == "\\":
            if i + 1 == len(line):
                raise ParseError(f"line continues on the next one: {line[:80]!r}")
            word = (word or []) + [line[i + 1]]
            i += 2
        elif ch in " \t":
            if word is not None:
                out.append("".join(word))
            word = None
            i += 1
        elif ch == "#" and word is None:
            break
        elif ch == ";":  # a metacharacter: it ends the word it follows
            if word is not None:
                out.append("".join(word))
            word = None
            out.append(ch)
            i += 1
        elif ch in "{}" and word is None:
            out.append(ch)
            i += 1
        else:
            word = (word or []) + [ch]
            i += 1
    if word is not None:
        out.append("".join(word))
    return out


MENUENTRY_OPTIONS = {"class": True, "users": True, "unrestricted": False, "hotkey": True, "source": True, "id": True}


def grub_arguments(args: list[str]) -> tuple[list[str], dict[str, str]]:
    """grub_arg_parse for menuentry/submenu: (positional words, options). An unknown option fails."""
    positional: list[str] = []
    options: dict[str, str] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            positional += args[i + 1 :]
            break
        if not arg.startswith("-") or len(arg) == 1:
            positional.append(arg)
        elif arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            if name not in MENUENTRY_OPTIONS:
                raise ParseError(f"unknown argument {arg!r}")
            if MENUENTRY_OPTIONS[name] and not eq:
                if i + 1 >= len(args) or args[i + 1].startswith("-"):
                    raise ParseError(f"missing mandatory option for {name!r}")
                i += 1
                value = args[i]
            options[name] = value
        else:
            raise ParseError(f"unknown argument {arg!r}")  # isodrop never writes short options
        i += 1
    if not positional:
        raise ParseError("menuentry is missing title")
    return positional, options


@dataclass
class GrubItem:
    title: str
    id: str
    body: list[list[str]] = field(default_factory=list)  # words of each line
    children: list[GrubItem] | None = None  # a submenu's entries


@dataclass
class GrubMenu:
    items: list[GrubItem]
    default: str | None


def parse_grub(text: str, *, lockdown: bool) -> GrubMenu:
    """The top-level menu GRUB builds from `text` with $lockdown "y" (Secure Boot on) or unset.
    Every menuentry's arguments are parsed, run or not, so a bad one fails the test in either state."""
    root: list[GrubItem] = []
    stack: list[list[GrubItem]] = [root]
    blocks: list[bool] = []  # for each open `if [ "$lockdown" ... ]`: whether its body runs
    entry: GrubItem | None = None
    default: str | None = None
    for line in text.splitlines():
        w = words(line)
        if not w:
            continue
        if entry is not None:  # inside a menuentry body, up to its closing brace
            if w == ["}"]:
                entry = None
            else:
                entry.body.append(w)
            continue
        running = all(blocks)
        if w[:3] == ["if", "[", "$lockdown"]:
            holds = (w[3] == "=") == lockdown and w[4] == "y"
            rest = w[w.index("then") + 1 :]
            if rest:  # one line: if [ ... ]; then set default=X; fi
                if rest[-2:] != [";", "fi"]:
                    raise ParseError(f"unexpected one-line if: {w}")
                if running and holds and rest[0] == "set" and rest[1].startswith("default="):
                    default = rest[1].partition("=")[2]
                continue
            blocks.append(holds)
        elif w == ["else"]:
            if not blocks:
                raise ParseError("else outside an if")
            blocks[-1] = not blocks[-1]
        elif w[0] == "if" and "then" in w:  # a per-PC branch (grub_dispatch): here the PC matched none
            if w[-2:] != [";", "fi"]:
                blocks.append(False)
        elif w[0] == "elif" and "then" in w:
            pass
        elif w == ["fi"]:
            blocks.pop()
        elif w[0] == "set" and w[1].startswith("default="):
            if running:
                default = w[1].partition("=")[2]
        elif w[0] in ("menuentry", "submenu"):
            if w[-1] != "{":
                raise ParseError(f"{w[0]} without a block: {w}")
            positional, options = grub_arguments(w[1:-1])
            item = GrubItem(positional[0], options.get("id", ""))
            if running:
                stack[-1].append(item)
            if w[0] == "menuentry":
                entry = item
            else:
                item.children = []
                stack.append(item.children)
        elif w == ["}"]:
            stack.pop()
    if blocks or len(stack) != 1 or entry is not None:
        raise ParseError("unbalanced if/fi or braces")
    return GrubMenu(root, default)


def _menuentry_eq(name: str, spec: str) -> bool:
    """grub-core/normal/menu.c menuentry_eq: `name` equals `spec` up to its first single ">"."""
    first = re.split(r"(?<!>)>(?!>)", spec, maxsplit=1)[0]
    return name == first.replace(">>", ">")


def _entry_number(items: list[GrubItem], value: str | None) -> int:
    """get_entry_number: grub_strtoul(value, 0, 0) (base 0, trailing text ignored), and only when
    that finds no number the first entry whose title or id equals it; -1 for none."""
    if value is None:
        return -1
    number = re.match(r"\s*(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)", value)
    if number:
        digits = number.group(1)
        return int(digits, 16) if digits[:2].lower() == "0x" else int(digits, 8 if digits.startswith("0") else 10)
    for index, item in enumerate(items):
        if _menuentry_eq(item.title, value) or _menuentry_eq(item.id, value):
            return index
    return -1


def grub_timeout_entry(menu: GrubMenu) -> GrubItem:
    """The entry GRUB boots at the timeout: `default` resolved level by level."""
    items, value = menu.items, menu.default
    while True:
        number = _entry_number(items, value)
        if number < 0 or number >= len(items):
            number = 0
        item = items[number]
        if item.children is None:
            return item
        tail = re.split(r"(?<!>)>(?!>)", value or "", maxsplit=1)
        value = tail[1] if len(tail) == 2 and tail[1] else None
        items = item.children
        if not items:
            raise ParseError(f"submenu {item.title!r} is empty")


def grub_boot(item: GrubItem, *, http: bool = False) -> Boot:
    """What a GRUB entry loads over TFTP (the first `linux` / `initrd` lines not fetching over HTTP)."""
    if any(w == ["exit"] for w in item.body):
        return Boot(local=True, name=item.id)
    linux = next((w for w in item.body if w[0] == "linux" or (w[:2] == ["if", "linux"] and http)), None)
    if linux is None:  # an entry that tries one kernel over TFTP: `if linux ...; then`
        linux = next((w[1:-2] for w in item.body if w[:2] == ["if", "linux"] and w[-2:] == [";", "then"]), None)
    if linux is None:
        raise ParseError(f"entry {item.id!r} loads no kernel: {item.body}")
    initrd = next((w for w in item.body if w[0] == "initrd"), ["initrd"])
    return Boot(linux[1], tuple(initrd[1:]), tuple(linux[2:]), name=item.id)


NOTICE_WAIT = ["sleep", "--interruptible", "3600"]


def grub_notice(item: GrubItem) -> list[str]:
    """What a Secure Boot notice entry prints: its `echo` lines up to the wait for Escape. The entry must
    load nothing, or (the form that tries the kernel first) print them exactly when `linux` fails:
    ParseError otherwise."""
    body = item.body
    if body.count(NOTICE_WAIT) != 1:
        raise ParseError(f"entry {item.id!r} does not wait for Escape once: {body}")
    wait = body.index(NOTICE_WAIT)
    start = wait
    while start > 0 and body[start - 1][0] == "echo":
        start -= 1
    if any(len(w) != 2 for w in body[start:wait]):
        raise ParseError(f"entry {item.id!r}: an echo line of more than one word: {body}")
    if start == 0 and wait == len(body) - 1:
        return [w[1] for w in body[start:wait]]
    before, after = body[:start], body[wait + 1 :]
    tries = len(before) >= 3 and before[0][0] == "echo" and before[1][:2] == ["if", "linux"]
    if not (tries and before[-1] == ["else"] and all(w[0] == "initrd" for w in before[2:-1]) and after == [["fi"]]):
        raise ParseError(f"entry {item.id!r}: its notice does not follow a failed `linux` only: {body}")
    return [w[1] for w in body[start:wait]]


def grub_entries(menu: GrubMenu) -> list[GrubItem]:
    return [leaf for item in menu.items for leaf in (item.children if item.children is not None else [item])]


@dataclass(frozen=True)
class Nic:
    """What a network loader knows about the PC it runs on (from its NIC and the DHCP answer)."""

    mac: str  # 52:54:00:aa:bb:01
    ip: str = ""  # 192.168.10.5
    hostname: str = ""  # DHCP option 12, "" when the server sent none
    card: str = "efinet0"  # GRUB's name of the card it booted from


def grub_dispatch(text: str, nic: Nic) -> str | None:
    """The file GRUB's shared menu hands this PC to with `configfile` (relative to the TFTP root), else
    None: runs the script lines before the first menuentry/submenu that have the shapes isodrop writes
    (`set`, single-line and multi-line `if`/`elif`/`else`/`fi`); anything else there is skipped."""
    env = {
        "net_default_mac": nic.mac,
        "net_default_ip": nic.ip,
        "net_default_interface": nic.card,
        f"net_{nic.card}_hostname": nic.hostname,
    }

    def value(word: str) -> str:
        return env.get(word[1:], "") if word.startswith("$") else word

    def condition(w: list[str]) -> bool:
        if w[:1] == ["["] and len(w) == 5 and w[2] in ("=", "!=") and w[4] == "]":  # $lockdown: unset
            return (value(w[1]) == value(w[3])) == (w[2] == "=")
        if w[:1] == ["regexp"] and len(w) == 3:
            return re.search(w[1], value(w[2])) is not None
        raise AssertionError(f"a condition isodrop does not write: {w}")

    def run(w: list[str]) -> str | None:
        for command in " ".join(w).split(" ; ") if ";" in w else [" ".join(w)]:
            parts = command.split()
            if parts[:1] == ["set"]:
                name, _, assigned = parts[1].partition("=")
                env[name] = value(assigned)
            elif parts[:1] == ["configfile"]:
                return parts[1].lstrip("/")
        return None

    ifs: list[str] = []  # per open `if`: "looking" (no branch taken yet), "running", "done", "skipped"
    for line in text.splitlines():
        w = words(line)
        if w[:1] in (["menuentry"], ["submenu"]):
            break
        if not w:
            continue
        if w[0] in ("if", "elif") and "then" in w:
            test, rest = w[1 : w.index("then")], w[w.index("then") + 1 :]
            test = test[:-1] if test[-1:] == [";"] else test
            single = rest[-2:] == [";", "fi"]
            if w[0] == "if":
                ifs.append("looking" if not ifs or ifs[-1] == "running" else "skipped")
            elif ifs[-1] == "running":
                ifs[-1] = "done"
            if ifs[-1] == "looking" and condition(test):
                ifs[-1] = "running"
                if (found := run(rest[:-2] if single else rest)) is not None:
                    return found
            if single:
                ifs.pop()
        elif w[0] == "fi":
            ifs.pop()
        elif (not ifs or ifs[-1] == "running") and (found := run(w)) is not None:
            return found
    return None


# --- SYSLINUX -----------------------------------------------------------------------------------


def syslinux_lines(text: str) -> list[str]:
    """The lines SYSLINUX 6.04 reads: each physical line in pieces of at most 4095 bytes."""
    out = []
    for line in text.encode("utf-8", "surrogateescape").split(b"\n"):
        while len(line) >= SYSLINUX_LINE_BUFFER:
            out.append(line[: SYSLINUX_LINE_BUFFER - 1].decode("utf-8", "replace"))
            line = line[SYSLINUX_LINE_BUFFER - 1 :]
        out.append(line.decode("utf-8", "replace"))
    return out


@dataclass
class SyslinuxMenu:
    labels: dict[str, Boot]  # the first LABEL of each name (as SYSLINUX finds them)
    order: list[str]  # every LABEL in order, duplicates too
    default: str  # DEFAULT, "" without
    ontimeout: str
    timeout: int
    menu_defaults: list[str]  # labels marked MENU DEFAULT


def parse_syslinux(text: str) -> SyslinuxMenu:
    labels: dict[str, Boot] = {}
    order: list[str] = []
    default = ontimeout = ""
    timeout = 0
    menu_defaults: list[str] = []
    current: Boot | None = None
    in_text = False
    for raw in syslinux_lines(text):
        line = raw.strip()
        if in_text:
            in_text = line.upper() != "ENDTEXT"
            continue
        keyword, _, rest = line.partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "MENU":
            sub, _, value = rest.partition(" ")
            if sub.upper() == "DEFAULT" and current is not None:
                menu_defaults.append(current.name)
            continue
        if keyword == "TEXT":
            in_text = True
        elif keyword == "LABEL":
            current = Boot(name=rest)
            order.append(rest)
            labels.setdefault(rest, current)
        elif keyword == "DEFAULT":
            default = rest
        elif keyword == "ONTIMEOUT":
            ontimeout = rest
        elif keyword == "TIMEOUT":
            timeout = int(rest)
        elif keyword in ("LINUX", "KERNEL") and current is not None:
            current.kernel = rest
        elif keyword == "INITRD" and current is not None:
            current.initrds = tuple(rest.split(","))
        elif keyword == "APPEND" and current is not None:
            current.params = tuple(rest.split())
        elif keyword == "LOCALBOOT" and current is not None:
            current.local = True
    return SyslinuxMenu(labels, order, default, ontimeout, timeout, menu_defaults)


def syslinux_timeout_entry(menu: SyslinuxMenu) -> Boot | None:
    """What SYSLINUX boots at the timeout; None when it waits (TIMEOUT 0)."""
    if menu.timeout == 0:
        return None
    target = menu.ontimeout or menu.default
    if target not in menu.labels:
        raise ParseError(f"the default {target!r} is no LABEL")
    if menu.menu_defaults and menu.menu_defaults != [target]:
        raise ParseError(f"MENU DEFAULT {menu.menu_defaults} is not DEFAULT {target!r}")
    return menu.labels[target]


def pxelinux_config(files: dict[str, str], folder: str, nic: Nic) -> str:
    """The config file pxelinux (and syslinux.efi) reads on this PC: the first of folder/01-<mac>,
    folder/<the address in upper-case hex, shortened one digit at a time>, folder/default that exists."""
    names = ["01-" + nic.mac.replace(":", "-")]
    if nic.ip:
        hexed = "".join(f"{int(octet):02X}" for octet in nic.ip.split("."))
        names += [hexed[:length] for length in range(8, 0, -1)]
    return next(f"{folder}/{name}" for name in [*names, "default"] if f"{folder}/{name}" in files)


# --- iPXE ---------------------------------------------------------------------------------------


def ipxe_lines(text: str) -> list[str]:
    """process_script: a trailing CR dropped, a line ending in a backslash joined with the next."""
    out, pending = [], ""
    for line in text.split("\n"):
        line = pending + line.removesuffix("\r")
        if line.endswith("\\"):
            pending = line[:-1]
            continue
        pending = ""
        out.append(line)
    return out


def ipxe_getopt(tokens: list[str], takes_value: dict[str, bool]) -> tuple[dict[str, str], list[str]]:
    """iPXE getopt_long: options up to the first word not starting with "-", "--" ends them."""
    options: dict[str, str] = {}
    i = 0
    while i < len(tokens) and tokens[i].startswith("-"):
        token = tokens[i]
        if token == "--":
            i += 1
            break
        name = token.lstrip("-")
        if name not in takes_value:
            raise ParseError(f"Unrecognised option {token!r}")
        if takes_value[name]:
            i += 1
            if i >= len(tokens):
                raise ParseError(f"option {token!r} requires an argument")
            options[name] = tokens[i]
        else:
            options[name] = ""
        i += 1
    return options, tokens[i:]


ITEM_OPTIONS = {"key": True, "default": False, "gap": False, "menu": True}
CHOOSE_OPTIONS = {"timeout": True, "default": True, "menu": True, "keep": False}
IMAGE_OPTIONS = {"name": True, "timeout": True, "autofree": False, "replace": False}


@dataclass
class IpxeScript:
    lines: list[str]
    labels: dict[str, int]  # label -> line number

    def section(self, label: str) -> list[list[str]]:
        """The token lists of the commands after `:label`, up to the next label."""
        out = []
        for line in self.lines[self.labels[label] + 1 :]:
            if line.strip().startswith(":"):
                break
            tokens = line.split()
            if tokens and not tokens[0].startswith("#"):
                out.append(tokens)
        return out


def parse_ipxe(text: str) -> IpxeScript:
    lines = ipxe_lines(text)
    labels: dict[str, int] = {}
    for number, line in enumerate(lines):
        if line.strip().startswith(":"):
            labels.setdefault(line.strip()[1:].split()[0], number)
    return IpxeScript(lines, labels)


def ipxe_timeout_target(script: IpxeScript) -> str | None:
    """The label the start menu's `choose` goes to at its timeout; None when it waits for a key."""
    items, choose = [], None
    for tokens in script.section("start"):
        if tokens[0] == "menu":
            ipxe_getopt(tokens[1:], {"name": True, "delete": False})
        elif tokens[0] == "item":
            options, rest = ipxe_getopt(tokens[1:], ITEM_OPTIONS)
            if "gap" not in options:
                items.append(rest[0])
        elif tokens[0] == "choose":
            choose = tokens
            break
    assert choose is not None
    options, _ = ipxe_getopt(choose[1 : choose.index("||")] if "||" in choose else choose[1:], CHOOSE_OPTIONS)
    if "timeout" not in options:
        return None
    return options.get("default") if options.get("default") in items else items[0]


def ipxe_boot(script: IpxeScript, label: str) -> Boot:
    """What the commands after `:label` load over TFTP (the last alternative of each `||` chain)."""
    boot = Boot(name=label)
    for tokens in script.section(label):
        if tokens[0] in ("sanboot", "exit"):
            return Boot(local=True, name=label)
        if tokens[0] not in ("kernel", "initrd"):
            continue
        alternatives = " ".join(tokens).split(" || ")
        tftp = [alt.split() for alt in alternatives if alt.split()[0] == tokens[0]][-1]
        _, rest = ipxe_getopt(tftp[1:], IMAGE_OPTIONS)
        if tokens[0] == "kernel":
            boot.kernel, boot.params = rest[0], tuple(rest[1:])
        else:
            boot.initrds += (rest[0],)
    return boot


def ipxe_dispatch(text: str, script: str, nic: Nic) -> str | None:
    """The script a platform script chains on this PC (relative to the TFTP root), else None: the first
    `iseq A B && chain [--autofree] FILE ||` line whose two words are equal once ${mac}, ${ip} and
    ${hostname} are filled in (an unset setting is empty)."""
    settings = {"${mac}": nic.mac, "${ip}": nic.ip, "${hostname}": nic.hostname}
    folder = script.rpartition("/")[0]
    for line in ipxe_lines(text):
        tokens = line.split()
        if tokens[:1] != ["iseq"]:
            continue
        assert tokens[3:5] == ["&&", "chain"] and tokens[-1] == "||", line
        if settings.get(tokens[1], tokens[1]) == settings.get(tokens[2], tokens[2]):
            target = [t for t in tokens[5:-1] if not t.startswith("-")][0]
            return f"{folder}/{target}" if folder else target
    return None
