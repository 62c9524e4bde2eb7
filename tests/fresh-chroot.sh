#!/bin/bash
# Prove the README's steps on a fresh minbase Debian 12, as a new root user would run them (CI runs this
# from .ci/run before the full suite on the host). A `debootstrap --variant=minbase bookworm` tree is
# packed once into the test cache (keyed on its recipe below, rebuilt when that changes, never in git)
# and unpacked fresh for each run; the checkout goes to /root/isodrop (under the 0700 /root, as a root
# user's checkout); the chroot gets the host's CA trust, pip's cert setting and resolv.conf (registries
# are reached through a proxy with its own CA); it is entered through a private mount namespace. Then:
#   1. `bash contrib/try-it.sh` (the README's first command) until it says "ready", then it is stopped;
#   2. `bash tests/run-all.sh -m "not vm"` (the README's second command, without the VM tests; tests
#      marked `nochroot` are skipped with their printed reason, tests/conftest.py; all run on the host):
#      lint, tests/setup.sh with its real apt-get install of tests/apt-packages.txt and PyPI venv, and
#      the suite twice;
#   3. on a second fresh tree, the README's "Install it as a Debian service" commands, read from the
#      README itself, then `isodrop --version`, the unit's presence and `isodrop check`.
# Exits non-zero when any step fails; prints each step's time. apt's downloaded .debs are kept in the
# cache (bind-mounted archive folder) and test fixtures the host already built are shared read-only;
# everything else is installed for real in every run. Services are not started (policy-rc.d).
# Usage (root): bash tests/fresh-chroot.sh [--keep]   (--keep: leave the chroot folders for a look)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cache="${ISODROP_TEST_CACHE:-/var/cache/isodrop-tests}"
keep=0
[ "${1:-}" = "--keep" ] && keep=1
if [ "$(id -u)" -ne 0 ]; then
    echo "tests/fresh-chroot.sh: run as root (debootstrap, chroot, mount namespaces)" >&2
    exit 2
fi
for tool in debootstrap zstd unshare chroot tar; do
    command -v "$tool" >/dev/null || { echo "tests/fresh-chroot.sh: $tool is missing (tests/setup.sh)" >&2; exit 2; }
done

started=$(date +%s)
last=$started
timing() {  # timing WHAT: print how long the step since the last call took
    local now
    now=$(date +%s)
    echo "fresh-chroot: $1 took $((now - last)) s (total $((now - started)) s)"
    last=$now
}

mirror() {  # the host's bookworm Debian archive (not the security one)
    local file
    for file in /etc/apt/sources.list.d/*.sources; do
        [ -f "$file" ] || continue
        awk 'BEGIN{RS=""} /Suites:[^\n]*bookworm/ && !/security/ {
                 if (match($0, /URIs:[ \t]*[^ \t\n]+/)) { u=substr($0, RSTART, RLENGTH); sub(/URIs:[ \t]*/, "", u); print u; exit } }' \
            "$file"
    done | head -n1 | grep . && return
    for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$file" ] || continue
        awk '$1 == "deb" { for (i = 2; i < NF; i++) if ($i !~ /^\[/ && $(i+1) == "bookworm" && $i !~ /security/) { print $i; exit } }' "$file"
    done | head -n1 | grep . && return
    echo "tests/fresh-chroot.sh: no bookworm archive in the host's apt sources" >&2
    return 1
}

# --- the cached base tarball -----------------------------------------------------------------------
MIRROR=$(mirror)
build_base() {  # build_base TARBALL: debootstrap a minbase bookworm tree and pack it
    local tree="$1.tree"
    rm -rf --one-file-system "$tree"
    debootstrap --variant=minbase bookworm "$tree" "$MIRROR" >"$1.log" 2>&1 ||
        { tail -n 20 "$1.log" >&2; return 1; }
    rm -rf "$tree"/var/cache/apt/archives/*.deb
    tar -C "$tree" --numeric-owner -cf - . | zstd -q -T0 -3 -o "$1"
    rm -rf --one-file-system "$tree" "$1.log"
}
key=$( { echo "bookworm minbase $MIRROR"; declare -f build_base; } | sha256sum | cut -c1-16)
base="$cache/fresh-minbase-$key.tar.zst"
mkdir -p "$cache"
if [ ! -f "$base" ]; then
    echo "fresh-chroot: building the minbase base tarball (recipe $key) from $MIRROR"
    build_base "$base.part"
    mv "$base.part" "$base"
    find "$cache" -maxdepth 1 -name 'fresh-minbase-*.tar.zst' ! -name "${base##*/}" -delete
    timing "debootstrap --variant=minbase (cold cache)"
fi

# --- the README's commands, read from the README itself ---------------------------------------------
readme_block() {  # readme_block HEADING: the command lines of the first ```sh block under "## HEADING"
    awk -v want="## $1" '
        $0 == want { inside = 1; next }
        inside && /^## / { exit }
        inside && /^```sh/ { block = 1; next }
        block && /^```/ { exit }
        block { sub(/[ \t]+#.*$/, ""); if ($0 !~ /^[ \t]*(#|$)/) print }
    ' "$here/README.md"
}
two_commands=$(readme_block "The two commands")
expected=$'bash contrib/try-it.sh\nbash tests/run-all.sh'
if [ "$two_commands" != "$expected" ]; then
    printf 'tests/fresh-chroot.sh: the README'"'"'s two commands changed; update this script:\n%s\n' "$two_commands" >&2
    exit 2
fi
install_steps=$(readme_block "Install it as a Debian service")
[ -n "$install_steps" ] || { echo "tests/fresh-chroot.sh: no install commands in the README" >&2; exit 2; }

# --- fresh copies -------------------------------------------------------------------------------------
work=$(mktemp -d /var/tmp/isodrop-fresh-chroot.XXXXXX)
cleanup() {
    if [ "$keep" -eq 1 ]; then
        echo "fresh-chroot: kept $work"
    else
        rm -rf --one-file-system "$work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM  # so that the EXIT trap cleans up after a signal too
archives="$cache/fresh-chroot-apt-archives"  # apt's downloads survive between runs; installing stays real
mkdir -p "$archives/partial"

fresh_tree() {  # fresh_tree DIR: a fresh minbase tree with the checkout in /root/isodrop
    local root=$1
    mkdir -m 0755 "$root"
    zstd -q -dc "$base" | tar -C "$root" --numeric-owner -xf -
    # The checkout as a root user has it: /root/isodrop under the 0700 /root. Tracked and new (not
    # ignored) files of the working tree, symlinks as they are (packaging/debian/isodrop.service only
    # resolves once copied to debian/); no .git (minbase has no git).
    chmod 0700 "$root/root"
    mkdir -m 0700 "$root/root/isodrop"
    (cd "$here" && git ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' f; do { [ -e "$f" ] || [ -L "$f" ]; } && printf '%s\0' "$f"; done |
        tar --null -T - -cf -) | tar -C "$root/root/isodrop" -xf -
    # The host's trust (a proxy with its own CA stands between this machine and the registries), pip
    # told to use it, and name resolution. Nothing else of the host goes in.
    mkdir -p "$root/etc/ssl/certs" "$root/usr/local/share/ca-certificates"
    cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
    cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/" 2>/dev/null || true
    printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$root/etc/pip.conf"
    cp -L /etc/resolv.conf "$root/etc/resolv.conf"
    # A chroot is no booted machine: packages must not start their services (nginx, dnsmasq, rpcbind)
    # on the host's network. apt answers its questions with "yes", as the person typing would.
    printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
    chmod 0755 "$root/usr/sbin/policy-rc.d"
    echo 'APT::Get::Assume-Yes "true";' >"$root/etc/apt/apt.conf.d/90isodrop-ci-yes"
    # A throw-away tree: dpkg need not fsync every file it unpacks (minutes saved, nothing skipped).
    echo force-unsafe-io >"$root/etc/dpkg/dpkg.cfg.d/90isodrop-ci-unsafe-io"
}

in_chroot() {  # in_chroot ROOT SCRIPT: run SCRIPT (text) with bash as root in /root/isodrop inside ROOT
    local root=$1
    printf '%s\n' "$2" >"$root/root/fresh-chroot-step.sh"
    # Test fixtures the host has built already (live ISOs, debootstrap trees: not install steps) are
    # shared read-only, so the chroot does not spend minutes rebuilding them; venv-latest is not.
    local shared=()
    local entry
    for entry in "$cache"/*-*; do
        case "${entry##*/}" in venv-* | fresh-* | .*) continue ;; esac
        [ -e "$entry/.complete" ] && shared+=("${entry##*/}")
    done
    unshare --mount --propagation private -- /bin/bash -euc '
        r=$1; archives=$2; cache=$3; shift 3
        mount --bind "$r" "$r"               # "/" must be a mount point inside, for the tests own unshare
        mount -t proc proc "$r/proc"
        mount --rbind /sys "$r/sys"
        mount --rbind /dev "$r/dev"
        mount -t tmpfs -o mode=0755 tmpfs "$r/run"
        mount --bind "$archives" "$r/var/cache/apt/archives"
        for name in "$@"; do
            mkdir -p "$r/var/cache/isodrop-tests/$name"
            mount --bind "$cache/$name" "$r/var/cache/isodrop-tests/$name"
            mount -o remount,bind,ro "$r/var/cache/isodrop-tests/$name"
        done
        exec chroot "$r" /usr/bin/env -i HOME=/root USER=root LOGNAME=root LANG=C.UTF-8 TERM=dumb DEBIAN_FRONTEND=noninteractive ISODROP_FRESH_CHROOT=1 \
            PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
            /bin/bash -c "cd /root/isodrop && exec bash /root/fresh-chroot-step.sh"
    ' fresh-chroot "$root" "$archives" "$cache" "${shared[@]}"
}

failed=()

# 1 + 2: the README's two commands, in the order a new user runs them.
fresh_tree "$work/one"
timing "unpacking a fresh minbase tree and copying the checkout"
echo "=== fresh-chroot: bash contrib/try-it.sh, until it says ready"
if in_chroot "$work/one" '
    log=/tmp/try-it.log
    timeout 600 bash contrib/try-it.sh >"$log" 2>&1 &
    pid=$!
    for _ in $(seq 600); do
        grep -q "ready: watching" "$log" && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 1
    done
    kill "$pid" 2>/dev/null; wait "$pid"
    if grep -q "ready: watching" "$log"; then grep -v "^\(Selecting\|Preparing\|Unpacking\|Setting up\|(Reading\)" "$log"; exit 0; fi
    cat "$log"; echo "try-it.sh did not get to ready"; exit 1'; then
    echo "fresh-chroot: try-it.sh got to ready"
else
    failed+=("bash contrib/try-it.sh")
fi
timing "bash contrib/try-it.sh"

echo "=== fresh-chroot: bash tests/run-all.sh -m 'not vm'"
in_chroot "$work/one" 'bash tests/run-all.sh -m "not vm"' || failed+=("bash tests/run-all.sh")
timing "bash tests/run-all.sh without VM tests (tests/setup.sh's installs included)"

# 3: the README's Debian install, on another fresh tree (nothing tests/setup.sh installed may help it).
rm -rf --one-file-system "$work/one"
fresh_tree "$work/two"
echo "=== fresh-chroot: the README's Debian install:"
printf '    %s\n' "$install_steps"
# (dpkg's per-package progress lines are left out of the log; errors and apt's summary stay)
if in_chroot "$work/two" "set -ex
$install_steps
isodrop --version
test -f /lib/systemd/system/isodrop.service
isodrop check" | grep --line-buffered -v -E '^(Selecting previously|Preparing to unpack|Unpacking|Setting up|\(Reading database)'; then
    echo "fresh-chroot: the .deb builds and installs, isodrop check passes"
else
    failed+=("the README's Debian install")
fi
timing "the README's Debian install"

echo "fresh-chroot: finished in $(( $(date +%s) - started )) s"
if [ "${#failed[@]}" -gt 0 ]; then
    printf 'fresh-chroot: FAILED: %s\n' "${failed[@]}"
    exit 1
fi
echo "fresh-chroot: all steps passed"
