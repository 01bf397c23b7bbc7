# Runyard developer commands. `make run` and `make test` work on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=
# Test files run in parallel, one worker per core (CI has 2); a file stays on one worker.
PYTEST_WORKERS ?= auto

.PHONY: install run test lint format bench test-compat test-slow test-gallery clean chart-lint images crds web chromium

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

## Every UI page in Chromium at 1440 and 800 px: screenshots in build/screenshots/gallery/,
## no page wider than the window, axe-core without serious or critical violations (~5 min).
test-gallery: install web chromium
	$(PY) -m pytest -m gallery $(PYTEST_ARGS) tests/test_ui_gallery.py

## Lint the Helm chart and validate its renders strictly (helm-python-sdk, kubernetes-validate).
chart-lint: install
	$(PY) hack/chart_check.py

## Build the container images, one Dockerfile target each (needs a Docker engine), named like the
## chart expects: [IMAGE_REGISTRY/]runyard-<target>:IMAGE_TAG (chart value image.registry).
IMAGE_REGISTRY ?=
IMAGE_TAG ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
DOCKER ?= docker
images:
	set -e; for target in server agent operator job; do \
	  $(DOCKER) build --target $$target -t $(if $(IMAGE_REGISTRY),$(IMAGE_REGISTRY)/)runyard-$$target:$(IMAGE_TAG) .; \
	done

## Generate crds/*.yaml (and the chart's copies) from the operator's pydantic models.
crds: install
	$(PY) hack/gen_crds.py

clean:
	rm -rf $(VENV) .venvs .pytest_cache .mypy_cache .ruff_cache
