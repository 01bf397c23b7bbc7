#!/usr/bin/env bash
# Build the Runyard images with BuildKit, one Dockerfile target each (`make images` runs this):
#
#   [IMAGE_REGISTRY/]runyard-{server,agent,operator,job}:IMAGE_TAG
#
# Settings come from the environment (the Makefile passes its variables):
#   IMAGE_REGISTRY, IMAGE_TAG   names, as the chart expects them (default tag: pyproject's version)
#   BASE_IMAGE, NODE_IMAGE      the Dockerfile's base images (default: the public ones)
#   CA_BUNDLE                   the CA file pip and npm trust inside the build, passed as the
#                               BuildKit secret `ca` (never written into a layer); default: the
#                               file the host's pip is configured with (PIP_CERT or `cert`)
#   IMAGE_SOURCE                org.opencontainers.image.source (default: git remote origin)
#   IMAGES                      targets to build (default: server agent operator job)
#   DOCKER                      the docker client; default: one that can use BuildKit (a client
#                               from 23 on needs the buildx plugin; older ones have it built in)
set -euo pipefail
cd "$(dirname "$0")/.."

# A docker client that builds with BuildKit: `docker` when it has buildx or predates 23 (where
# BuildKit is built in), else Debian's docker.io client, which hack/docker-engine.sh installs.
buildkit_client() {
  local client major
  for client in docker /usr/bin/docker; do
    command -v "$client" >/dev/null 2>&1 || continue
    if "$client" buildx version >/dev/null 2>&1; then echo "$client"; return 0; fi
    major="$("$client" version --format '{{.Client.Version}}' 2>/dev/null | cut -d. -f1 || true)"
    if [[ "$major" =~ ^[0-9]+$ ]] && [ "$major" -lt 23 ]; then echo "$client"; return 0; fi
  done
  return 1
}

# The CA file the host's pip trusts: what the build's pip must trust to reach the same index.
host_ca_bundle() {
  local cert="${PIP_CERT:-}"
  if [ -z "$cert" ]; then
    cert="$(python3 -m pip config get global.cert 2>/dev/null || true)"
  fi
  if [ -z "$cert" ] && [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    cert=/etc/ssl/certs/ca-certificates.crt
  fi
  echo "$cert"
}

docker_cmd="${DOCKER:-}"
if [ -z "$docker_cmd" ]; then
  docker_cmd="$(buildkit_client)" || {
    echo "build-images: no docker client here can build with BuildKit (the Dockerfile mounts" \
      "the CA bundle as a secret): install the buildx plugin, or Debian's docker.io" >&2
    exit 1
  }
fi
registry="${IMAGE_REGISTRY:-}"
tag="${IMAGE_TAG:-$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)}"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)"
revision="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
source_url="${IMAGE_SOURCE:-$(git config --get remote.origin.url 2>/dev/null || true)}"
source_url="${source_url:-unknown}"
ca="${CA_BUNDLE:-$(host_ca_bundle)}"

args=(--progress=plain)
[ -n "${BASE_IMAGE:-}" ] && args+=(--build-arg "BASE_IMAGE=${BASE_IMAGE}")
[ -n "${NODE_IMAGE:-}" ] && args+=(--build-arg "NODE_IMAGE=${NODE_IMAGE}")
args+=(--build-arg "VERSION=${version}" --build-arg "REVISION=${revision}")
args+=(--build-arg "SOURCE=${source_url}")
if [ -n "$ca" ]; then
  if [ ! -r "$ca" ]; then
    echo "build-images: CA_BUNDLE=$ca is not a readable file: point it at a PEM bundle" >&2
    exit 1
  fi
  args+=(--secret "id=ca,src=${ca}")
fi

start=$SECONDS
for target in ${IMAGES:-server agent operator job}; do
  name="${registry:+${registry}/}runyard-${target}:${tag}"
  DOCKER_BUILDKIT=1 "$docker_cmd" build "${args[@]}" --target "$target" -t "$name" .
done
echo "build-images: built ${IMAGES:-server agent operator job} in $((SECONDS - start)) s" >&2
