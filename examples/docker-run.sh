#!/usr/bin/env sh
# Send JUnit XML reports to Jux from any CI that can run Docker (or podman: DOCKER=podman).
# Run it from the checkout after the tests, with JUX_API_URL and JUX_API_KEY set
# (the key from your CI's secret store). Any other JUX_* variable is passed on as well.
# DOCKER_RUN_ARGS adds options to `docker run`, e.g. DOCKER_RUN_ARGS=--network=host.
set -eu
: "${JUX_API_URL:?set JUX_API_URL to your Jux server, e.g. https://jux.example.com}"
DOCKER=${DOCKER:-docker}
IMAGE=${JUX_IMAGE:-ghcr.io/jux-tools/submit-action:v1}
# The image's git reads the mounted checkout, but not a .git above $PWD (run from a subfolder):
# pass the branch and commit from the checkout unless already set.
JUX_BRANCH=${JUX_BRANCH:-$(git symbolic-ref --short -q HEAD 2>/dev/null || true)}
JUX_COMMIT_SHA=${JUX_COMMIT_SHA:-$(git rev-parse HEAD 2>/dev/null || true)}
export JUX_BRANCH JUX_COMMIT_SHA
# every JUX_* variable, by name only: values (the key) never appear on the command line
env_args=$(env | sed -n 's/^\(JUX_[A-Z0-9_]*\)=.*/-e \1/p' | tr '\n' ' ')
# -u: run as you, so what jux-submit writes (.jux-outbox) is yours, not root's (rootless podman
# maps -u through its user namespace: add DOCKER_RUN_ARGS=--userns=keep-id there)
# shellcheck disable=SC2086  # env_args and DOCKER_RUN_ARGS are lists of words
exec "$DOCKER" run --rm -u "$(id -u):$(id -g)" -v "$PWD:$PWD" -w "$PWD" -e CI=true $env_args \
    ${DOCKER_RUN_ARGS:-} "$IMAGE" "$@"
