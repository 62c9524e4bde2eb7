#!/bin/bash
# Install what the test suite needs on a Debian 12 or 13 machine (run as root): the Debian packages in
# tests/apt-packages.txt, and a virtualenv with the newest PyPI releases of isodrop's libraries,
# so every test runs against both Debian's versions and the newest ones.
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
if [ "$(id -u)" -ne 0 ]; then
    echo "tests/setup.sh: run as root (it installs Debian packages)" >&2
    exit 2
fi
mapfile -t packages < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' tests/apt-packages.txt | sort -u)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "tests/setup.sh: installing ${missing[*]}"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

cache="${ISODROP_TEST_CACHE:-/var/cache/isodrop-tests}"
venv="$cache/venv-latest"
mkdir -p "$cache"
# made anew when missing, a day old, or lacking a library this list names (a list that grew)
if [ ! -x "$venv/bin/python" ] || [ "$(find "$venv" -maxdepth 0 -mtime +1 2>/dev/null)" ] ||
    ! "$venv/bin/python" -c "import pycdlib, watchdog, jinja2, sdnotify, pytest, hypothesis" 2>/dev/null; then
    rm -rf "$venv"
    /usr/bin/python3 -m venv "$venv"
    # pip's notes about unused local index locations are noise here; real errors still stop the script
    "$venv/bin/pip" install -q --upgrade pip pycdlib watchdog jinja2 sdnotify pytest hypothesis ruff 2> >(grep -v "is ignored" >&2)
fi
"$venv/bin/python" - <<'PY'
from importlib.metadata import version
print("tests/setup.sh: newest PyPI releases:", ", ".join(f"{p} {version(p)}" for p in
      ("pycdlib", "watchdog", "jinja2", "sdnotify", "pytest", "hypothesis", "ruff")))
PY
/usr/bin/python3 - <<'PY'
from importlib.metadata import version
print("tests/setup.sh: Debian's releases:", ", ".join(f"{p} {version(p)}" for p in
      ("pycdlib", "watchdog", "jinja2", "sdnotify", "pytest", "hypothesis")))
PY
