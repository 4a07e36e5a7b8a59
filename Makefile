# Missiva — every developer and CI entry point. `make` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
# uv comes from PyPI into .tools/ when the machine does not have it.
UV := $(shell command -v uv 2>/dev/null || echo $(CURDIR)/.tools/bin/uv)
RUN := $(UV) run --frozen --all-packages
PYTEST_ARGS ?=

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(CURDIR)/.tools/bin/uv:
	$(PYTHON) -m venv $(CURDIR)/.tools
	$(CURDIR)/.tools/bin/pip install --quiet --disable-pip-version-check uv

.venv/.synced: $(UV) pyproject.toml uv.lock $(wildcard libs/*/pyproject.toml services/*/pyproject.toml)
	$(UV) sync --frozen --all-packages --quiet
	@touch $@

.PHONY: install
install: .venv/.synced ## install uv (if missing), Python and every package

.PHONY: run
run: install ## start the whole platform: PostgreSQL, NATS, SMTP sink, five services, gateway
	.venv/bin/missiva up

.PHONY: test
test: lint chromium node ## lint, then every test against real PostgreSQL, NATS and SMTP
	$(RUN) pytest $(PYTEST_ARGS)

.PHONY: chromium
chromium: ## Debian's Chromium for the browser tests (Playwright's own download is unreachable)
	@command -v chromium >/dev/null || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium)

.PHONY: node
node: ## Debian's Node.js and npm for the mailauth DKIM check (the tests npm ci its pinned lock)
	@(command -v node && command -v npm) >/dev/null || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm)

.PHONY: chaos
chaos: install ## fault tests at full length (a five-minute database outage under load)
	MISSIVA_OUTAGE_SECONDS=300 $(RUN) pytest libs/platform/tests/test_consumer_outage.py $(PYTEST_ARGS)

.PHONY: lint
lint: install ## ruff, mypy, buf lint/breaking, generated code freshness
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy libs/platform/src services/*/src
	$(RUN) python scripts/proto.py --check
	$(RUN) python scripts/buf.py lint
	$(RUN) python scripts/buf.py breaking

.PHONY: proto
proto: install ## regenerate libs/protos from proto/
	$(RUN) python scripts/proto.py

.PHONY: bench
bench: install ## run benchmarks and write docs/benchmarks.md
	$(RUN) python -m bench

.PHONY: fmt
fmt: install ## format and autofix
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

.PHONY: clean
clean: ## remove caches and the local data folder (.missiva/)
	rm -rf .venv .tools .missiva .pytest_cache .ruff_cache .mypy_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
