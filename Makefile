# The whole developer workflow. Each target installs what it needs on a fresh machine
# (Debian, Python 3.11): system packages through apt-get, Python packages into .venv.

PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTEST_ARGS ?=

.PHONY: install system-deps demo test lint format bench openapi clean

# System packages: redis-server for the production broker (the tests start their own).
system-deps:
	@command -v redis-server >/dev/null 2>&1 || { \
	  echo "installing redis-server (Debian package)"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq redis-server >/dev/null; }
	@# apt starts a redis service on 6379 on some machines; Kepler never uses it.

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "needs $(PYTHON)"; exit 1; }
	[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	# torch is pinned to the CPU build (torch==2.13.0) through the `torch` extra.
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

install: system-deps $(STAMP)

demo: install
	$(PY) -m kepler.demo

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install
	$(PY) -m bench.run

openapi: install
	$(PY) -m kepler_bridge.openapi > docs/openapi.json

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
