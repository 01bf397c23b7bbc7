# Runyard container images, one target each (`make images` builds them all with BuildKit):
#
#   server     tracking server   runyard[server], the web UI bundle built here from npm
#   agent      launch agent      runyard[launch]
#   operator   kopf operator     runyard[operator]
#   job        base image of launched jobs: Python and the official wandb client
#
# Base images are build arguments. BASE_IMAGE is any Debian bookworm image with python3 (3.11)
# and python3-venv: the public python:3.11-slim-bookworm by default, or one made from Debian's
# packages with `hack/base-image.sh` where nothing can be pulled (`make test-images` does that).
# NODE_IMAGE has node and npm (node:20-bookworm-slim, or Debian's nodejs + npm the same way).
# Python packages go into a venv at /opt/venv, so pip never touches the base's own Python.
#
# CA bundle: pip and npm trust what the building host trusts through the BuildKit secret `ca`
# (`--secret id=ca,src=/etc/ssl/certs/ca-certificates.crt`). A secret is mounted only for the
# RUN that names it and is never written into a layer; without one, the base's own CAs apply.
#
# Every image runs as the unprivileged user 10001 (numeric, so Kubernetes' runAsNonRoot can
# verify it) and works with a read-only root filesystem: writable state lives in /data
# (server) or /tmp. Labels: org.opencontainers.image.{version,revision,source} from the
# VERSION, REVISION and SOURCE arguments, set last so a new commit reuses every cached layer.

ARG BASE_IMAGE=python:3.11-slim-bookworm
ARG NODE_IMAGE=node:20-bookworm-slim

# --- the web UI's scripts: uPlot and esbuild from npm, bundled into the server's static files ---
# Bundles are never committed: every image builds them from web/package-lock.json.
FROM ${NODE_IMAGE} AS web
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then \
      export NODE_EXTRA_CA_CERTS=/run/secrets/ca npm_config_cafile=/run/secrets/ca; \
    fi; \
    npm ci --no-audit --no-fund
COPY web/src ./src
# Writes ../runyard/server/ui/static/build, i.e. /src/runyard/server/ui/static/build.
RUN npm run build

# --- Python in a venv, quiet and cache-free -------------------------------------------------------
FROM ${BASE_IMAGE} AS python
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/venv

# --- the runyard wheel, built once and installed by the targets below -------------------------
FROM python AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY runyard ./runyard
COPY launch ./launch
COPY operator ./operator
COPY --from=web /src/runyard/server/ui/static/build ./runyard/server/ui/static/build
# The build backend (setuptools) comes from PyPI.
RUN --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi; \
    pip wheel --no-deps --wheel-dir /wheels /src

# --- common runtime: the non-root user ----------------------------------------------------------
FROM python AS runtime
RUN groupadd --system --gid 10001 runyard \
    && useradd --system --uid 10001 --gid 10001 --home-dir /home/runyard --create-home \
       --shell /usr/sbin/nologin runyard
WORKDIR /home/runyard

# --- tracking server -----------------------------------------------------------------------------
FROM runtime AS server
RUN --mount=type=bind,from=wheel,source=/wheels,target=/wheels \
    --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi; \
    pip install --find-links /wheels "runyard[server]"
RUN mkdir -p /data && chown 10001:10001 /data
ENV RUNYARD_HOST=0.0.0.0 \
    RUNYARD_PORT=8080 \
    RUNYARD_DATA_DIR=/data \
    HOME=/home/runyard
VOLUME ["/data"]
EXPOSE 8080
USER 10001:10001
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('RUNYARD_PORT', '8080'), timeout=4)"]
ENTRYPOINT ["runyard", "server"]
ARG VERSION=dev
ARG REVISION=unknown
ARG SOURCE=unknown
LABEL org.opencontainers.image.title="runyard-server" \
      org.opencontainers.image.description="Runyard tracking server (W&B-compatible)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}"

# --- launch agent --------------------------------------------------------------------------------
# Serves Prometheus /metrics on 9100 like the agents the operator runs (a later --metrics-port
# wins); the HEALTHCHECK reads it. Arguments name the queues: `docker run runyard-agent -q gpu`.
FROM runtime AS agent
RUN --mount=type=bind,from=wheel,source=/wheels,target=/wheels \
    --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi; \
    pip install --find-links /wheels "runyard[launch]"
ENV HOME=/tmp
EXPOSE 9100
USER 10001:10001
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9100/metrics', timeout=4)"]
ENTRYPOINT ["runyard", "agent", "--metrics-port", "9100"]
ARG VERSION=dev
ARG REVISION=unknown
ARG SOURCE=unknown
LABEL org.opencontainers.image.title="runyard-agent" \
      org.opencontainers.image.description="Runyard launch agent" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}"

# --- operator ------------------------------------------------------------------------------------
FROM runtime AS operator
RUN --mount=type=bind,from=wheel,source=/wheels,target=/wheels \
    --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi; \
    pip install --find-links /wheels "runyard[operator]"
ENV HOME=/tmp
# 8080: kopf's /healthz (the HEALTHCHECK reads it); 9090: Prometheus /metrics.
EXPOSE 8080 9090
USER 10001:10001
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]
# The Helm chart passes the same command with the namespace scope and peering it is set up for.
ENTRYPOINT ["kopf", "run", "--module=runyard.operator.handlers"]
CMD ["--all-namespaces", "--standalone", "--liveness=http://0.0.0.0:8080/healthz"]
ARG VERSION=dev
ARG REVISION=unknown
ARG SOURCE=unknown
LABEL org.opencontainers.image.title="runyard-operator" \
      org.opencontainers.image.description="Runyard Kubernetes operator" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}"

# --- job base image ------------------------------------------------------------------------------
# What launched jobs start from: Python and the official wandb client (talks to Runyard unchanged
# through WANDB_BASE_URL). Users build their training images FROM this one. No HEALTHCHECK: a
# job is a batch process whose exit code is its health (the agent reports it on the item).
FROM runtime AS job
ARG WANDB_SPEC="wandb>=0.19.11"
RUN --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi; \
    pip install "${WANDB_SPEC}"
ENV HOME=/home/runyard \
    WANDB_DIR=/tmp
USER 10001:10001
HEALTHCHECK NONE
CMD ["python"]
ARG VERSION=dev
ARG REVISION=unknown
ARG SOURCE=unknown
LABEL org.opencontainers.image.title="runyard-job" \
      org.opencontainers.image.description="Base image of Runyard launch jobs: Python and wandb" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}"
