#!/usr/bin/env bash
# The whole test suite, from a fresh clone: creates .venv, installs jux-submit with its test
# extras, installs the packaging tools when running as root (podman, act, gitlab-ci-local,
# linters: see .ci/install-packaging-tools.sh), then runs pytest.
#   bash scripts/test.sh            # everything
#   bash scripts/test.sh -k enrich  # extra arguments go to pytest
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

if ! [ -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'

if [ "$(id -u)" = 0 ] && [ -z "${JUX_SKIP_PACKAGING_TOOLS:-}" ]; then
    bash .ci/install-packaging-tools.sh
fi

# The suite runs in two parts: the fast ones in parallel, then the packaging checks (which
# share one podman store and image) on their own.
status=0
.venv/bin/python -m pytest -n 2 -m "not packaging" "$@" || status=$?
if [ "$status" -eq 0 ]; then
    .venv/bin/python -m pytest -m packaging "$@" || status=$?
    # exit code 5 means "no tests collected" (e.g. a -k filter that selects none of them)
    [ "$status" -eq 5 ] && status=0
fi
exit "$status"
