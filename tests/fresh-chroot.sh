#!/bin/bash
# Prove the README's steps on fresh minbase Debian 13 (trixie) and Debian 12 (bookworm) trees, as a new
# root user would run them (CI runs this from .ci/run before the full suite on the host, a Debian 12).
# For each release a `debootstrap --variant=minbase RELEASE` tree is packed once into the test cache
# (keyed on the release and its recipe below, rebuilt when that changes, never in git) and unpacked fresh
# for each run; the checkout goes to /root/isodrop (under the 0700 /root, as a root user's checkout);
# the chroot gets the host's CA trust, pip's cert setting and resolv.conf (registries are reached through
# a proxy with its own CA); it is entered through a private mount namespace. In each release:
#   1. `bash contrib/try-it.sh` (the README's first command) until it says "ready", then it is stopped;
#   2. the README's second command, `bash tests/run-all.sh`, without the VM tests: lint, tests/setup.sh
#      with its real apt-get install of tests/apt-packages.txt and PyPI venv, and pytest twice (Debian's
#      libraries, the newest PyPI ones); tests marked `nochroot` are skipped with their printed reason
#      (tests/conftest.py) and run on the host. What pytest collects differs by release:
#        Debian 13: the whole suite (`-m "not vm"`): Python 3.13, watchdog 6, pycdlib 1.12, lintian and
#                   debhelper of Debian 13 are new there;
#        Debian 12: tests/system/test_deb_package.py only (ISODROP_TESTS): the package built and lintian-checked
#                   with Debian 12's tools in a fresh tree; the whole suite runs on Debian 12 anyway,
#                   on the host, right after this script (.ci/run, VM tests included);
#   3. on a second fresh tree, the install commands of the README's "Quick start: boot a PC" (its first
#      sh block), read from the README itself, then `isodrop --version`, the unit where that release's systemd reads units, and
#      `isodrop check` (with no FAIL but "dnsmasq is not running": no service runs in a chroot).
# Exits non-zero when any step fails; prints each step's time. apt's downloaded .debs are kept in the
# cache (a bind-mounted archive folder per release) and test fixtures the host already built are shared
# read-only; everything else is installed for real in every run. Services are not started (policy-rc.d).
# Usage (root): bash tests/fresh-chroot.sh [--keep] [RELEASE...]
#   (--keep: leave the chroot folders for a look; RELEASE: trixie and/or bookworm, default both)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cache="${ISODROP_TEST_CACHE:-/var/cache/isodrop-tests}"
keep=0
releases=()
for arg in "$@"; do
    case "$arg" in
        --keep) keep=1 ;;
        trixie | bookworm) releases+=("$arg") ;;
        *) echo "usage: bash tests/fresh-chroot.sh [--keep] [trixie] [bookworm]" >&2; exit 2 ;;
    esac
done
[ "${#releases[@]}" -gt 0 ] || releases=(trixie bookworm)
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

mirror() {  # the host's Debian archive (its bookworm entry, not the security one); it serves trixie too
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

# --- the cached base tarballs, one per release ----------------------------------------------------
MIRROR=$(mirror)
build_base() {  # build_base RELEASE TARBALL: debootstrap a minbase tree of RELEASE and pack it
    local tree="$2.tree"
    rm -rf --one-file-system "$tree"
    debootstrap --variant=minbase "$1" "$tree" "$MIRROR" >"$2.log" 2>&1 ||
        { tail -n 20 "$2.log" >&2; return 1; }
    rm -rf "$tree"/var/cache/apt/archives/*.deb
    tar -C "$tree" --numeric-owner -cf - . | zstd -q -T0 -3 -o "$2"
    rm -rf --one-file-system "$tree" "$2.log"
}
base_tarball() {  # base_tarball RELEASE: set base to the cached tarball's path, built first when missing
    local key
    key=$( { echo "$1 minbase $MIRROR"; declare -f build_base; } | sha256sum | cut -c1-16)
    base="$cache/fresh-minbase-$1-$key.tar.zst"
    if [ ! -f "$base" ]; then
        echo "fresh-chroot: building the minbase $1 base tarball (recipe $key) from $MIRROR"
        build_base "$1" "$base.part"
        mv "$base.part" "$base"
        # older recipes of this release, and those of the time before releases were named
        find "$cache" -maxdepth 1 -name 'fresh-minbase-*.tar.zst' ! -name "${base##*/}" \
            \( -name "fresh-minbase-$1-*" -o -name 'fresh-minbase-????????????????.tar.zst' \) -delete
        timing "debootstrap --variant=minbase $1 (cold cache)"
    fi
}
mkdir -p "$cache"
rm -rf "$cache/fresh-chroot-apt-archives"  # the one folder of the time before releases were named

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
install_steps=$(readme_block "Quick start: boot a PC")
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
fresh_tree() {  # fresh_tree TARBALL DIR: a fresh minbase tree with the checkout in /root/isodrop
    local root=$2
    mkdir -m 0755 "$root"
    zstd -q -dc "$1" | tar -C "$root" --numeric-owner -xf -
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
    # apt's downloads survive between runs (one folder per release); installing stays real
    local archives="$cache/fresh-chroot-apt-archives-$release"
    mkdir -p "$archives/partial"
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

prove() {  # prove RELEASE: the README's commands in fresh minbase trees of RELEASE (steps 1-3 above)
    release=$1
    local test_step
    base_tarball "$release"
    case "$release" in
        trixie) test_step='bash tests/run-all.sh -m "not vm"' ;;
        bookworm) test_step='ISODROP_TESTS=tests/system/test_deb_package.py bash tests/run-all.sh -m "not vm"' ;;
    esac

    # 1 + 2: the README's two commands, in the order a new user runs them.
    fresh_tree "$base" "$work/$release-one"
    timing "$release: unpacking a fresh minbase tree and copying the checkout"
    echo "=== fresh-chroot ($release): bash contrib/try-it.sh, until it says ready"
    if in_chroot "$work/$release-one" '
        grep PRETTY_NAME /etc/os-release
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
        echo "fresh-chroot ($release): try-it.sh got to ready"
    else
        failed+=("$release: bash contrib/try-it.sh")
    fi
    timing "$release: bash contrib/try-it.sh"

    echo "=== fresh-chroot ($release): $test_step"
    in_chroot "$work/$release-one" "$test_step" || failed+=("$release: bash tests/run-all.sh")
    timing "$release: $test_step (tests/setup.sh's installs included)"

    # 3: the README's Debian install, on another fresh tree (nothing tests/setup.sh installed may help it).
    rm -rf --one-file-system "$work/$release-one"
    fresh_tree "$base" "$work/$release-two"
    echo "=== fresh-chroot ($release): the README's Debian install:"
    printf '    %s\n' "$install_steps"
    # The unit must be where this release's systemd reads packaged units (debhelper chose the folder):
    # /lib/systemd/system on Debian 12, /usr/lib/systemd/system on Debian 13.
    local unit_dir=/usr/lib/systemd/system
    [ "$release" = bookworm ] && unit_dir=/lib/systemd/system
    # (dpkg's per-package progress lines are left out of the log; errors and apt's summary stay)
    if in_chroot "$work/$release-two" "set -ex
$install_steps
isodrop --version
dpkg -L isodrop | grep -qx $unit_dir/isodrop.service
test -f $unit_dir/isodrop.service
isodrop check >/tmp/isodrop-check.txt || true
cat /tmp/isodrop-check.txt
grep -q '^ok    configuration' /tmp/isodrop-check.txt
# policy-rc.d starts no service in a chroot: \"dnsmasq is not running\" is the one FAIL allowed here
! grep '^FAIL' /tmp/isodrop-check.txt | grep -v '^FAIL  dnsmasq is not running'" | grep --line-buffered -v -E '^(Selecting previously|Preparing to unpack|Unpacking|Setting up|\(Reading database)'; then
        echo "fresh-chroot ($release): the .deb builds and installs, isodrop check passes"
    else
        failed+=("$release: the README's Debian install")
    fi
    [ "$keep" -eq 1 ] || rm -rf --one-file-system "$work/$release-two"
    timing "$release: the README's Debian install"
}

for release in "${releases[@]}"; do
    prove "$release"
done

echo "fresh-chroot: finished in $(( $(date +%s) - started )) s"
if [ "${#failed[@]}" -gt 0 ]; then
    printf 'fresh-chroot: FAILED: %s\n' "${failed[@]}"
    exit 1
fi
echo "fresh-chroot: all steps passed (${releases[*]})"
