#!/bin/bash
# Prove the README's steps on a fresh minbase Debian 12, as a new root user would run them: unpack a
# fresh `debootstrap --variant=minbase bookworm` tree (the tarball is cached in the test cache, keyed on
# its recipe, rebuilt when the recipe changes, never in git), copy this checkout to /root/isodrop in it
# (mode 0700, as a root user's checkout), give it the host's CA trust, pip's cert setting and
# resolv.conf (registries are reached through a proxy with its own CA), enter it through a private
# mount namespace and run there, in this order:
#   1. `bash contrib/try-it.sh` until it says "ready" (then it is stopped),
#   2. `bash tests/run-all.sh -m "not vm and not nochroot"`: lint, tests/setup.sh (the real apt-get
#      install of tests/apt-packages.txt and the PyPI venv) and the suite without the VM tests and
#      without the few tests marked `nochroot` (NFS served from inside a chroot does not work; they run
#      on the host),
#   3. the README's Debian install: `bash packaging/build-deb.sh dist/`, `apt-get install ./dist/*.deb`,
#      then `isodrop --version` and `isodrop check`.
# Exits non-zero when any step fails. Downloaded .debs are kept in the cache (apt's archive folder is
# bind-mounted) to save time; everything else is installed for real in every run.
# Usage (root): bash tests/fresh-chroot.sh [--keep]   (--keep: leave the chroot folder for a look)
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

# --- a fresh copy per run ---------------------------------------------------------------------------
work=$(mktemp -d /var/tmp/isodrop-fresh-chroot.XXXXXX)
root="$work/root"
cleanup() {
    if [ "$keep" -eq 1 ]; then
        echo "fresh-chroot: kept $root"
    else
        rm -rf --one-file-system "$work"
    fi
}
trap cleanup EXIT
mkdir -m 0755 "$root"
zstd -q -dc "$base" | tar -C "$root" --numeric-owner -xf -
timing "unpacking a fresh minbase tree"

# The checkout, as a root user would have it: /root/isodrop, under the 0700 /root. Tracked and new
# (not ignored) files of the working tree; no .git (minbase has no git).
chmod 0700 "$root/root"
mkdir -m 0700 "$root/root/isodrop"
(cd "$here" && git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
    tar --null -T - -cf -) | tar -C "$root/root/isodrop" -xf -
# The host's trust (a proxy with its own CA stands between us and the registries), pip told to use
# it, and name resolution. Nothing else of the host goes in.
mkdir -p "$root/etc/ssl/certs" "$root/usr/local/share/ca-certificates"
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/" 2>/dev/null || true
printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$root/etc/pip.conf"
cp -L /etc/resolv.conf "$root/etc/resolv.conf"
# apt's downloads survive between runs (installing stays real: every run unpacks and configures).
archives="$cache/fresh-chroot-apt-archives"
mkdir -p "$archives/partial"

inside() {  # the script run inside the chroot, as root in /root/isodrop
    cat <<'EOS'
set -uo pipefail
cd /root/isodrop
rc=0
t0=$(date +%s)
step_time() { echo "fresh-chroot: $1 took $(( $(date +%s) - t0 )) s"; t0=$(date +%s); }

echo "=== fresh-chroot: bash contrib/try-it.sh (until ready)"
log=/tmp/try-it.log
timeout 600 bash contrib/try-it.sh /root/isodrop-demo >"$log" 2>&1 &
pid=$!
for _ in $(seq 600); do
    grep -q "ready: watching" "$log" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 1
done
if grep -q "ready: watching" "$log"; then
    echo "fresh-chroot: try-it.sh got to ready"
else
    echo "fresh-chroot: FAILED: try-it.sh did not get to ready"; rc=1
fi
kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
cat "$log"
step_time "try-it.sh"

echo "=== fresh-chroot: bash tests/run-all.sh -m 'not vm and not nochroot'"
bash tests/run-all.sh -m "not vm and not nochroot" || { echo "fresh-chroot: FAILED: run-all.sh"; rc=1; }
step_time "tests/run-all.sh without VM tests"

echo "=== fresh-chroot: the README's Debian install"
if bash packaging/build-deb.sh dist/ &&
    apt-get install -y -qq ./dist/isodrop_*.deb &&
    isodrop --version && isodrop check; then
    echo "fresh-chroot: the .deb installs and isodrop check passes"
else
    echo "fresh-chroot: FAILED: the README's Debian install"; rc=1
fi
step_time "build-deb.sh + apt install + isodrop check"
exit $rc
EOS
}
inside >"$root/root/fresh-chroot-inside.sh"

echo "fresh-chroot: entering $root"
set +e
unshare --mount --propagation private -- /bin/bash -euc '
    r=$1; archives=$2
    mount --bind "$r" "$r"                # "/" must be a mount point inside, for the tests own unshare
    mount -t proc proc "$r/proc"
    mount --rbind /sys "$r/sys"
    mount --rbind /dev "$r/dev"
    mount -t tmpfs -o mode=0755 tmpfs "$r/run"
    mount --bind "$archives" "$r/var/cache/apt/archives"
    exec chroot "$r" /usr/bin/env -i HOME=/root USER=root LOGNAME=root LANG=C.UTF-8 TERM=dumb \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        /bin/bash /root/fresh-chroot-inside.sh
' fresh-chroot "$root" "$archives"
rc=$?
set -e
timing "everything inside the chroot"
echo "fresh-chroot: finished in $(( $(date +%s) - started )) s, exit $rc"
exit $rc
