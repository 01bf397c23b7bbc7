#!/usr/bin/env bash
# Make sure a Docker engine answers on this machine, starting one if it can.
#
# Machines of this project have the docker client but no running engine. As root this installs
# Debian's docker.io (and mmdebstrap, for base images: nothing can be pulled here), starts
# dockerd in the background and waits until it answers. Exit 0 when an engine answers, 1 when
# none can be started (the caller decides what that means; .ci/run says so in words).
set -uo pipefail

engine_answers() { docker info >/dev/null 2>&1; }

if engine_answers; then exit 0; fi

if [ "$(id -u)" != 0 ]; then
  echo "docker-engine: no Docker engine answers and this user cannot start one (not root)" >&2
  exit 1
fi

if ! command -v dockerd >/dev/null || ! command -v mmdebstrap >/dev/null; then
  echo "docker-engine: installing Debian's docker.io and mmdebstrap" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io mmdebstrap >/tmp/docker-engine-apt.log 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io mmdebstrap >/tmp/docker-engine-apt.log 2>&1; } \
    || { echo "docker-engine: apt-get install docker.io failed (see /tmp/docker-engine-apt.log)" >&2; exit 1; }
fi

echo "docker-engine: starting dockerd (log: /tmp/dockerd.log)" >&2
nohup dockerd >/tmp/dockerd.log 2>&1 &
for _ in $(seq 1 60); do
  if engine_answers; then exit 0; fi
  sleep 1
done
echo "docker-engine: dockerd did not answer within 60 s; its log ends with:" >&2
tail -n 20 /tmp/dockerd.log >&2
exit 1
