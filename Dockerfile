# Runyard container images, one target each (`make images` builds them all):
#
#   docker build --target server   -t runyard-server   .   # tracking server   runyard[server]
#   docker build --target agent    -t runyard-agent    .   # launch agent      runyard[launch]
#   docker build --target operator -t runyard-operator .   # kopf operator     runyard[operator]
#   docker build --target job      -t runyard-job      .   # base image of launched jobs: Python
#                                                          # and the official wandb client
#
# Every image runs as the unprivileged user 10001 (numeric, so Kubernetes' runAsNonRoot can
# verify it) and works with a read-only root filesystem: writable state lives in /data
# (server) or /tmp.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG NODE_IMAGE=node:20-bookworm-slim

# --- the web UI's scripts: uPlot and esbuild from npm, bundled into the server's static files ---
# Bundles are never committed: every image builds them from web/package-lock.json.
FROM ${NODE_IMAGE} AS web
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/src ./src
# Writes ../runyard/server/ui/static/build, i.e. /src/runyard/server/ui/static/build.
RUN npm run build

# --- the runyard wheel, built once and installed by the targets below -------------------------
FROM ${PYTHON_IMAGE} AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY runyard ./runyard
COPY launch ./launch
COPY operator ./operator
COPY --from=web /src/runyard/server/ui/static/build ./runyard/server/ui/static/build
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels /src

# --- common runtime: the non-root user and quiet, cache-free Python ---------------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN groupadd --system --gid 10001 runyard \
    && useradd --system --uid 10001 --gid 10001 --home-dir /home/runyard --create-home \
       --shell /usr/sbin/nologin runyard
WORKDIR /home/runyard

# --- tracking server -----------------------------------------------------------------------------
FROM runtime AS server
RUN --mount=type=bind,from=wheel,source=/wheels,target=/wheels \
    pip install --find-links /wheels "runyard[server]"
RUN mkdir -p /data && chown 10001:10001 /data
ENV RUNYARD_HOST=0.0.0.0 \
    RUNYARD_PORT=8080 \
    RUNYARD_DATA_DIR=/data \
    HOME=/home/runyard
VOLUME ["/data"]
EXPOSE 8080
USER 10001:10001
ENTRYPOINT ["runyard", "server"]

# --- launch agent --------------------------------------------------------------------------------
FROM runtime AS agent
RUN --mount=type=bind,from=wheel,source=/wheels,target=/wheels \
    pip install --find-links /wheels "runyard[launch]"
ENV HOME=/tmp
USER 10001:10001
ENTRYPOINT ["runyard", "agent"]

# --- operator ------------------------------------------------------------------------------------
FROM runtime AS operator
RUN --mount=type=bind,from=wheel,source=/wheels,target=/wheels \
    pip install --find-links /wheels "runyard[operator]"
ENV HOME=/tmp
# 8080: kopf's /healthz; 9090: Prometheus /metrics.
EXPOSE 8080 9090
USER 10001:10001
# The Helm chart passes the same command with the namespace scope and peering it is set up for.
ENTRYPOINT ["kopf", "run", "--module=runyard.operator.handlers"]
CMD ["--all-namespaces", "--standalone", "--liveness=http://0.0.0.0:8080/healthz"]

# --- job base image ------------------------------------------------------------------------------
# What launched jobs start from: Python and the official wandb client (talks to Runyard unchanged
# through WANDB_BASE_URL). Users build their training images FROM this one.
FROM runtime AS job
ARG WANDB_SPEC="wandb>=0.19.11"
RUN pip install "${WANDB_SPEC}"
ENV HOME=/home/runyard \
    WANDB_DIR=/tmp
USER 10001:10001
CMD ["python"]
