# jux-submit container image: the GitHub Action's image, the GitLab template's image and the
# image for `docker run` in any other CI. Build: docker build -t jux-submit .
# BASE_IMAGE lets air-gapped builds use a local stand-in with the same layout.
ARG BASE_IMAGE=python:3.12-slim

# --- stage 1: build the wheel (build backend comes from PyPI, stays in this stage) ----------
FROM ${BASE_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md* ./
COPY src ./src
RUN python -m pip wheel --no-cache-dir --no-deps --wheel-dir /dist .

# --- stage 2: the runtime image: the wheel plus pinned dependencies, nothing else ----------
FROM ${BASE_IMAGE}
ARG VERSION=1.0.0
LABEL org.opencontainers.image.title="jux-submit" \
      org.opencontainers.image.description="Submit JUnit XML test reports from any CI pipeline to a Jux server" \
      org.opencontainers.image.source="https://github.com/jux/submit-action" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
# Runs as any uid (docker run -u "$(id -u):$(id -g)") with an unwritable HOME: no bytecode cache,
# no pip cache, no git config is ever written at run time.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
# git: branch, commit and remote of the mounted checkout when the CI exports none (plain
# `docker run`). Debian's package, unpinned so any Debian-based BASE_IMAGE builds. The checkout
# is usually owned by another uid than the container's: safe.directory=* system-wide (in
# /etc/gitconfig, so it holds whatever HOME is), for jux-submit and for scripts using git here.
# Lean: no recommends, and git's manuals, translations and docs (15 MB) left out (the
# copyright files stay); apt's lists and caches go with the layer.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        -o Dpkg::Options::='--path-exclude=/usr/share/doc/*' \
        -o Dpkg::Options::='--path-include=/usr/share/doc/*/copyright' \
        -o Dpkg::Options::='--path-exclude=/usr/share/man/*' \
        -o Dpkg::Options::='--path-exclude=/usr/share/locale/*' \
        git \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/* /var/log/apt/* /var/log/dpkg.log \
    && git config --system --add safe.directory '*' \
    && git --version
COPY docker/constraints.txt /tmp/constraints.txt
# COPY (not a RUN bind mount) so every builder keys its layer cache on the wheel's content
COPY --from=build /dist /tmp/dist
# --only-binary: every dependency has a wheel, so no compiler is ever needed or left behind
RUN python -m pip install --no-cache-dir --no-compile --only-binary=:all: \
        --constraint /tmp/constraints.txt /tmp/dist/*.whl \
    && rm -rf /tmp/dist /tmp/constraints.txt \
    && jux-submit --version
# No USER line on purpose: GitHub runs container actions as root (and so must we, to write
# the mounted workspace and the runner's file-command files). Elsewhere (Jenkins, docker run)
# pass -u "$(id -u):$(id -g)" so what jux-submit writes belongs to the invoking user. No
# WORKDIR either: the runner and GitLab set the working directory to the checkout.
# The console script calls jux_submit.cli.run, exactly as entrypoint.py does.
ENTRYPOINT ["jux-submit"]
