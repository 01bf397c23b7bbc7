# Runyard developer commands. `make run` and `make test` work on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=
# Test files run in parallel, one worker per core (CI has 2); a file stays on one worker.
PYTEST_WORKERS ?= auto

.PHONY: install run test lint format bench test-compat test-slow test-docker test-replicas test-s3 clean chart-lint images base-images test-images crds web chromium test-gallery test-e2e

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[all,test]'
	touch $(STAMP)

install: $(STAMP)

## The web UI's scripts: npm ci (uPlot, esbuild) and bundle into runyard/server/ui/static/build/.
WEB_BUILD := runyard/server/ui/static/build/workspace.js
$(WEB_BUILD): web/package-lock.json $(wildcard web/src/*)
	cd web && npm ci --no-audit --no-fund && npm run build

web: $(WEB_BUILD)

## Debian's headless Chromium for the UI tests (never `playwright install`: downloads fail here).
chromium:
	@command -v chromium >/dev/null || [ -x /usr/bin/chromium ] || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q chromium; \
	  else echo "UI tests need Debian's chromium: run 'sudo apt-get install -y chromium'" >&2; exit 1; fi; }

## Start the tracking server (embedded SQLite in ./.runyard) on 127.0.0.1:8080, plus a local
## agent serving the `default` queue with local processes.
run: install web
	$(VENV)/bin/runyard server --local-agent

## Lint, type-check, and run the test suite (CI runs exactly this).
test: install lint web chromium
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

## Benchmarks print figures; they never gate CI.
bench: install web chromium
	$(PY) hack/bench/run_all.py

## The round trip against several wandb releases, each in its own venv.
test-compat: install
	$(PY) hack/compat.py

test-slow: install
	$(PY) -m pytest -m slow $(PYTEST_ARGS)

## The local-container runner against the real Docker engine: start one where it can, build the
## Debian minbase test image (mmdebstrap, once), then the `docker`-marked tests.
test-docker: install
	hack/docker-engine.sh
	hack/base-image.sh runyard-test/minbase:bookworm
	$(PY) -m pytest -m docker $(PYTEST_ARGS)

# Three `runyard server` processes on PostgreSQL + Redis, one killed with kill -9 (~2 min).
test-replicas: install
	$(PY) -m pytest -m replicas $(PYTEST_ARGS) tests/test_replicas.py tests/test_cross_process.py

## Object storage round trips with the official client against SeaweedFS (~2 min).
test-s3: install
	$(PY) -m pytest -m s3 -p no:cacheprovider $(PYTEST_ARGS) tests/

## The long official-client round trips (registry, artifacts, sweeps), in parallel like `make test`.
test-e2e: install web chromium
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile -m e2e $(PYTEST_ARGS)

## Every UI page in Chromium at 1440 and 800 px: screenshots in build/screenshots/gallery/,
## no page wider than the window, axe-core without serious or critical violations (~5 min).
test-gallery: install web chromium
	$(PY) -m pytest -m gallery $(PYTEST_ARGS) tests/test_ui_gallery.py

## Lint the Helm chart and validate its renders strictly (helm-python-sdk, kubernetes-validate).
chart-lint: install
	$(PY) hack/chart_check.py

## Build the container images with BuildKit, one Dockerfile target each (needs a Docker engine),
## named like the chart expects: [IMAGE_REGISTRY/]runyard-<target>:IMAGE_TAG. The host's CA
## bundle (CA_BUNDLE, default: the one its pip uses) reaches pip/npm as a build secret only.
IMAGE_REGISTRY ?=
IMAGE_TAG ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
BASE_IMAGE ?= python:3.11-slim-bookworm
NODE_IMAGE ?= node:20-bookworm-slim
CA_BUNDLE ?=
DOCKER ?=
images:
	DOCKER='$(DOCKER)' IMAGE_REGISTRY='$(IMAGE_REGISTRY)' IMAGE_TAG='$(IMAGE_TAG)' \
	  BASE_IMAGE='$(BASE_IMAGE)' NODE_IMAGE='$(NODE_IMAGE)' CA_BUNDLE='$(CA_BUNDLE)' \
	  bash hack/build-images.sh

## Base images made here from Debian's packages with mmdebstrap (nothing can be pulled here):
## bookworm's Python 3.11 with venv, and bookworm's nodejs + npm for the web bundle.
LOCAL_BASE_IMAGE := runyard-base/python:bookworm
LOCAL_NODE_IMAGE := runyard-base/node:bookworm
base-images:
	bash hack/base-image.sh $(LOCAL_BASE_IMAGE) python3 python3-venv ca-certificates
	bash hack/base-image.sh $(LOCAL_NODE_IMAGE) nodejs npm ca-certificates

## Build the four images from the mmdebstrap bases and check each does its job against the
## real engine (tests/test_images.py, marker `images`). .ci/run calls this when an engine starts.
test-images: install base-images
	$(MAKE) --no-print-directory images BASE_IMAGE=$(LOCAL_BASE_IMAGE) NODE_IMAGE=$(LOCAL_NODE_IMAGE)
	$(PY) -m pytest -m images -p no:cacheprovider $(PYTEST_ARGS) tests/test_images.py

## Generate crds/*.yaml (and the chart's copies) from the operator's pydantic models.
crds: install
	$(PY) hack/gen_crds.py

clean:
	rm -rf $(VENV) .venvs .pytest_cache .mypy_cache .ruff_cache
