#!/usr/bin/env bash
# Install what the tests need and run the whole test suite.
#  - ngspice (Debian package) via apt-get when run as root; otherwise ngspice tests are skipped
#    with a reason, except under CI=true, where a missing ngspice fails them.
#  - the package with its test extra, into ./.venv
# Extra arguments go to pytest.
set -uo pipefail
cd "$(dirname "$0")/.."

if ! command -v ngspice >/dev/null 2>&1; then
    if [ "$(id -u)" = "0" ]; then
        echo "installing ngspice (apt-get)"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ngspice >/dev/null \
            || { echo "error: apt-get could not install ngspice"; exit 1; }
    else
        echo "note: ngspice is not installed and this is not root: ngspice tests will be skipped"
    fi
fi

if [ ! -x .venv/bin/python ]; then
    if ! python3 -m venv .venv 2>/dev/null; then
        if [ "$(id -u)" = "0" ]; then
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
            python3 -m venv .venv || exit 1
        else
            echo "error: python3 -m venv failed (install python3-venv)"; exit 1
        fi
    fi
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]' || exit 1

.venv/bin/python -m pytest "$@"
status=$?
if [ "$status" = "5" ]; then
    echo "error: pytest collected no tests"
fi
exit "$status"
