#!/usr/bin/env bash
# Build PixyProxy's two images from services/*/Dockerfile with podman (or buildah):
#
#   scripts/build_images.sh            # pixyproxy/api:dev and pixyproxy/openai-mock:dev
#   IMAGE_TAG=1.2.3 scripts/build_images.sh
#
# BASE_IMAGE is the Dockerfiles' base. Where no registry can be reached it defaults to a
# local Debian bookworm base made here with debootstrap (localhost/pixyproxy-base:bookworm,
# built once, about 40 s); set BASE_IMAGE=python:3.12.12-slim-bookworm (the Dockerfiles'
# own default) where the registry is reachable. Same Dockerfiles either way.
#
# The machine's CA bundle is mounted into the build (read-only, never copied into an
# image), so pip can reach the package index through a TLS-inspecting proxy.
#
# Other settings: API_IMAGE (pixyproxy/api), MOCK_IMAGE (pixyproxy/openai-mock),
# DEBIAN_MIRROR (default: the first deb.debian.org-style URI of apt's sources),
# CONTAINERS_CONF (default: .ci/containers.conf, the settings this machine needs).
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE_TAG="${IMAGE_TAG:-dev}"
API_IMAGE="${API_IMAGE:-pixyproxy/api}"
MOCK_IMAGE="${MOCK_IMAGE:-pixyproxy/openai-mock}"
LOCAL_BASE="localhost/pixyproxy-base:bookworm"
BASE_IMAGE="${BASE_IMAGE:-$LOCAL_BASE}"
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
export CONTAINERS_CONF="${CONTAINERS_CONF:-$PWD/.ci/containers.conf}"

log() { printf '== %s\n' "$*"; }
now() { date +%s; }

if command -v podman >/dev/null 2>&1; then
  engine=podman
elif command -v buildah >/dev/null 2>&1; then
  engine=buildah
else
  echo "build_images: neither podman nor buildah is installed (apt-get install podman buildah runc)" >&2
  exit 1
fi

debian_mirror() {
  if [ -n "${DEBIAN_MIRROR:-}" ]; then
    echo "$DEBIAN_MIRROR"
    return
  fi
  local uri
  uri="$(grep -hoE '(URIs:|deb) +https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null \
    | awk '{print $2}' | head -n 1)"
  echo "${uri:-http://deb.debian.org/debian}"
}

# The local base: Debian's own Python 3.11 (the project supports >= 3.11) in a minimal
# bookworm, with `python` on PATH like the python:*-slim images.
make_local_base() {
  if buildah inspect --type image "$LOCAL_BASE" >/dev/null 2>&1 \
    || podman image exists "$LOCAL_BASE" 2>/dev/null; then
    return
  fi
  for tool in debootstrap podman; do
    command -v "$tool" >/dev/null 2>&1 || { echo "build_images: $tool is needed to make $LOCAL_BASE" >&2; exit 1; }
  done
  local rootfs started
  rootfs="$(mktemp -d /tmp/pixyproxy-base.XXXXXX)"
  trap 'rm -rf "$rootfs"' RETURN
  started=$(now)
  log "debootstrap bookworm into $rootfs ($(debian_mirror))"
  debootstrap --variant=minbase --include=python3,python3-venv,python-is-python3,ca-certificates \
    bookworm "$rootfs" "$(debian_mirror)" >/dev/null
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/usr/share/doc/* \
    "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/*
  find "$rootfs"/usr/share/locale -mindepth 1 -maxdepth 1 ! -name 'C.*' -exec rm -rf {} +
  tar -C "$rootfs" -c . | podman import \
    --change 'ENV=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV=LANG=C.UTF-8' - "$LOCAL_BASE" >/dev/null
  log "$LOCAL_BASE made in $(($(now) - started)) s"
}

build() {
  local dockerfile="$1" image="$2" started
  started=$(now)
  local mount=()
  [ -f "$CA_BUNDLE" ] && mount=(-v "$CA_BUNDLE:$CA_BUNDLE:ro")
  log "$engine build $image:$IMAGE_TAG from $dockerfile (BASE_IMAGE=$BASE_IMAGE)"
  if [ "$engine" = podman ]; then
    podman build --format docker --network host "${mount[@]}" \
      --build-arg "BASE_IMAGE=$BASE_IMAGE" -f "$dockerfile" -t "$image:$IMAGE_TAG" .
  else
    buildah bud --format docker --network host "${mount[@]}" \
      --build-arg "BASE_IMAGE=$BASE_IMAGE" -f "$dockerfile" -t "$image:$IMAGE_TAG" .
  fi
  log "$image:$IMAGE_TAG built in $(($(now) - started)) s"
}

if [ "$BASE_IMAGE" = "$LOCAL_BASE" ]; then
  make_local_base
fi
build services/api/Dockerfile "$API_IMAGE"
build services/openai-mock/Dockerfile "$MOCK_IMAGE"
$engine images --format '{{.Repository}}:{{.Tag}} {{.Size}}' \
  | grep -E "^(localhost/)?($API_IMAGE|$MOCK_IMAGE):$IMAGE_TAG " || true
