#!/usr/bin/env bash
# Build a local stand-in for the Dockerfile's base image (python:3.12-slim) from Debian, for
# machines that cannot reach Docker Hub. Never push it: it carries Debian's Python
# (bookworm: 3.11; SUITE=trixie: 3.13), laid out like the official image (python and pip in
# /usr/local/bin, through a venv rooted at /usr/local). It also carries rsync, which
# gitlab-ci-local needs in its helper image to copy artifacts out of podman volumes.
# Usage: make-base-image.sh [image-name]    (root; needs debootstrap and podman)
set -euo pipefail
IMAGE=${1:-docker.io/library/python:3.12-slim}
WORK=${WORK:-$(mktemp -d /tmp/jux-base.XXXXXX)}
SUITE=${SUITE:-bookworm}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
trap 'rm -rf "$WORK"' EXIT
ROOTFS=$WORK/rootfs
mkdir -p "$ROOTFS"
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates,rsync \
    "$SUITE" "$ROOTFS" "$MIRROR" > "$WORK/debootstrap.log" \
    || { tail -n 30 "$WORK/debootstrap.log" >&2; exit 1; }
chroot "$ROOTFS" /usr/bin/python3 -m venv /usr/local
chroot "$ROOTFS" /usr/local/bin/pip --version
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/* \
       "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/locale/* \
       "$ROOTFS"/var/log/*.log "$ROOTFS"/var/cache/debconf/*-old
find "$ROOTFS" -name __pycache__ -prune -exec rm -rf {} +
tar --numeric-owner -C "$ROOTFS" -c . | podman import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    - "$IMAGE"
podman image ls "$IMAGE"
