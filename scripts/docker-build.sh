#!/usr/bin/env bash
# Builds a static meridian binary (CGO_ENABLED=0) and the FROM-scratch
# image around it; no base image is pulled.
#
#   scripts/docker-build.sh [TAG]      # TAG defaults to $MERIDIAN_IMAGE or meridian:local
#
# The build context is dist/docker (binary and rootfs/ are written there),
# or $MERIDIAN_DOCKER_CONTEXT, a directory the Dockerfile is copied into
# (so that parallel builds do not share files).
set -euo pipefail
cd "$(dirname "$0")/.."
tag="${1:-${MERIDIAN_IMAGE:-meridian:local}}"
ctx="${MERIDIAN_DOCKER_CONTEXT:-dist/docker}"
mkdir -p "$ctx"
if [ "$(cd "$ctx" && pwd)" != "$(pwd)/dist/docker" ]; then
	cp dist/docker/Dockerfile "$ctx/Dockerfile"
fi
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
CGO_ENABLED=0 GOOS=linux go build -buildvcs=false -trimpath -ldflags "-s -w" -o "$ctx/meridian" ./cmd/meridian
rm -rf "$ctx/rootfs"
mkdir -p "$ctx/rootfs/data" "$ctx/rootfs/config" "$ctx/rootfs/tmp"
chmod 0755 "$ctx/rootfs/data" "$ctx/rootfs/config"
chmod 1777 "$ctx/rootfs/tmp"
docker build -q -t "$tag" "$ctx"
echo "built $tag"
