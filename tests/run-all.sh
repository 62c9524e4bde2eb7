#!/bin/bash
# Set up and run every test: lint, the whole suite on Debian's library versions (including the
# network and virtual-machine tests), and the suite minus the VM/network tests on the newest PyPI
# releases. Exits non-zero when anything fails. Run as root on Debian 12 or 13 (a minbase one too):
# bash tests/run-all.sh (or sudo bash tests/run-all.sh). Extra arguments go to both pytest runs;
# ISODROP_TESTS (default: tests) names the test files or folders both pytest runs collect.
set -uo pipefail
cd "$(dirname "$0")/.."
bash tests/setup.sh || exit 2

cache="${ISODROP_TEST_CACHE:-/var/cache/isodrop-tests}"
venv="$cache/venv-latest"
read -r -a test_paths <<<"${ISODROP_TESTS:-tests}"
failed=()
started=$(date +%s)

step() {  # step NAME COMMAND...: run, note a failure (pytest's "no tests ran", 5, is a failure too)
    local name=$1
    shift
    echo
    echo "=== $name: $*"
    "$@"
    local rc=$?
    [ "$rc" -eq 0 ] || failed+=("$name (exit $rc)")
}

step "ruff" "$venv/bin/ruff" check isodrop tests bench
step "ruff format" "$venv/bin/ruff" format --check isodrop tests bench
step "pytest, Debian's libraries, everything" \
    /usr/bin/python3 -m pytest -p no:cacheprovider -ra --durations=15 "${test_paths[@]}" "$@"
step "pytest, newest PyPI libraries, without VMs" \
    "$venv/bin/python" -m pytest -p no:cacheprovider -ra -m "not vm" "${test_paths[@]}" "$@"

echo
echo "=== all tests finished in $(( $(date +%s) - started )) s"
if [ "${#failed[@]}" -gt 0 ]; then
    printf 'FAILED: %s\n' "${failed[@]}"
    exit 1
fi
echo "all steps passed"
