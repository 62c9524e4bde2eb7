#!/bin/bash
# Set up and run isodrop on a fresh Debian 12 or 13 machine (a minbase one too), without a config file:
# installs Python and Debian's packages of isodrop's libraries and boot loaders, then runs
# `isodrop serve` on a local layout under ./isodrop-demo (or $1). Drop an ISO into ./isodrop-demo/drop
# and watch the log. Run as root (bash contrib/try-it.sh), or as a user with sudo for the apt-get step.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
root="$(realpath -m "${1:-./isodrop-demo}")"

need=(python3 python3-pycdlib python3-watchdog python3-jinja2 python3-sdnotify pxelinux syslinux-common
      syslinux-efi iproute2)
missing=()
for package in "${need[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "try-it: installing ${missing[*]}"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    # dpkg's progress lines are noise here; errors still go to stderr and stop the script
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

mkdir -p "$root/drop"
echo "try-it: copy an ISO into $root/drop; the menu appears in $root/tftp/pxelinux.cfg/default"
echo "try-it: in another terminal: PYTHONPATH=$here python3 -m isodrop status --root $root"
cd "$root"
PYTHONPATH="$here" exec /usr/bin/python3 -m isodrop serve --root "$root"
