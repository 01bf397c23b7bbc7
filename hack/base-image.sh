#!/usr/bin/env bash
# Build a Debian base image from Debian's packages with mmdebstrap and import it into Docker.
#
#   hack/base-image.sh TAG [PACKAGE...]
#
# Images cannot be pulled on these machines, so every image Runyard builds or tests here starts
# from one made this way. Extra packages (e.g. python3 python3-venv ca-certificates) go into the
# image; the same TAG with the same packages is built only once.
set -euo pipefail
tag="${1:?usage: hack/base-image.sh TAG [PACKAGE...]}"
shift
packages="$(printf '%s\n' "$@" | sort -u | paste -sd, -)"
label="runyard.base.packages=${packages:-none}"

if [ -n "$(docker images -q --filter "label=${label}" "$tag" 2>/dev/null)" ]; then
  exit 0
fi

suite="${DEBIAN_SUITE:-bookworm}"
tarball="$(mktemp --suffix=.tar)"
trap 'rm -f "$tarball"' EXIT
include=()
if [ -n "$packages" ]; then include=(--include="$packages"); fi
echo "base-image: mmdebstrap $suite ${packages:+with $packages} -> $tag" >&2
mmdebstrap --quiet --variant=minbase "${include[@]}" "$suite" "$tarball"
docker import --change "LABEL ${label}" --change 'CMD ["/bin/bash"]' "$tarball" "$tag" >/dev/null
