#!/bin/sh
# Build isodrop_VERSION_all.deb from this source tree with Debian's tools only.
# Usage: packaging/build-deb.sh [OUTPUT_DIR]     (default: ./dist; prints the .deb's path)
# Copies the tree to a temporary folder, puts packaging/debian/ at its top and runs
# `dpkg-buildpackage -us -uc -b` there, so the working tree is never written to.
# Needs: dpkg-dev debhelper dh-python pybuild-plugin-pyproject python3-all python3-setuptools.
set -eu
# Only Debian's tools: a python3 from pyenv or a venv first on PATH would lack python3-build etc.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
unset PYTHONPATH VIRTUAL_ENV PYENV_VERSION

here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$here/dist}
mkdir -p "$out"
out=$(cd "$out" && pwd)

work=$(mktemp -d "${TMPDIR:-/tmp}/isodrop-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
src="$work/isodrop"
mkdir "$src"

cd "$here"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	# Tracked files and new files not ignored (so an uncommitted change is packaged too).
	git ls-files -z --cached --others --exclude-standard |
		grep -zv '^packaging/debian/' |
		xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
		tar --null -T - -cf - | tar -xf - -C "$src"
else
	tar --exclude=./.git --exclude=./dist --exclude='__pycache__' -cf - . | tar -xf - -C "$src"
fi
cp -a packaging/debian "$src/debian"

cd "$src"
version=$(dpkg-parsechangelog -S Version)
dpkg-buildpackage -us -uc -b >"$work/build.log" 2>&1 || {
	tail -n 60 "$work/build.log" >&2
	echo "build-deb.sh: dpkg-buildpackage failed (log above)" >&2
	exit 1
}
cp "$work/isodrop_${version}_all.deb" "$out/"
echo "$out/isodrop_${version}_all.deb"
