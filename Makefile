# The whole developer workflow. Each target installs what it needs on a fresh machine
# (Debian, Python 3.11): system packages through apt-get, Python packages into .venv.

PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# The suite runs in PYTEST_WORKERS processes (pytest-xdist); 0 runs it in this one.
PYTEST_WORKERS ?= 2
PYTEST_ARGS ?=

.PHONY: install system-deps vendor pythons demo test lint format bench openapi clean constraints dist \
	preview screenshots

# System packages: redis-server for the production broker (the tests start their own);
# chromium, node and npm for the dashboards' preview (tests/dashboards renders them headless).
system-deps:
	@command -v redis-server >/dev/null 2>&1 || { \
	  echo "installing redis-server (Debian package)"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq redis-server >/dev/null; }
	@[ -x /usr/bin/chromium ] || { \
	  echo "installing chromium (Debian package)"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }
	@command -v npm >/dev/null 2>&1 || { \
	  echo "installing nodejs and npm (Debian packages)"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nodejs npm >/dev/null; }
	@# apt starts a redis service on 6379 on some machines; Kepler never uses it.

$(STAMP): pyproject.toml packaging/constraints.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "needs $(PYTHON)"; exit 1; }
	[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	# torch is pinned to the CPU build (torch==2.13.0) through the `torch` extra; what the
	# image installs is pinned by packaging/constraints.txt, so tests run the image's versions.
	$(PY) -m pip install -q -e ".[dev]" -c packaging/constraints.txt
	touch $(STAMP)

# Re-pin what the image installs from this (tested) environment, after changing dependencies.
constraints: $(STAMP)
	$(PY) packaging/freeze_constraints.py

# splunklib 3.x for the Splunk app: its wheel needs Python >= 3.13 to *install*, but its
# code runs on 3.11 and under Splunk's Python; unpacked with its dist-info (AppInspect
# reads the version there).
SPLUNK_SDK := 3.0.1
VENDOR     := build/vendor
$(VENDOR)/.splunk-sdk-$(SPLUNK_SDK): $(STAMP)
	rm -rf $(VENDOR) && mkdir -p $(VENDOR)/wheels
	$(PY) -m pip download -q --python-version 3.13 --only-binary=:all: --no-deps \
	  -d $(VENDOR)/wheels splunk-sdk==$(SPLUNK_SDK)
	$(PY) -m zipfile -e $(VENDOR)/wheels/splunk_sdk-$(SPLUNK_SDK)-py3-none-any.whl $(VENDOR)/lib
	touch $@

vendor: $(VENDOR)/.splunk-sdk-$(SPLUNK_SDK)

# The Pythons Splunk embeds (9.x: 3.9; 10.x: 3.9 and 3.13), real CPython builds from
# Debian's archive (bullseye, trixie) unpacked under build/pythons, never installed
# system-wide. The search-command and app tests run the built app under each, through
# build/pythons/bin/python3.9 and python3.13.
SPLUNK_PYTHONS := 3.9 3.13
PYTHONS        := build/pythons
$(PYTHONS)/.python%: packaging/splunk_python.sh
	PYTHON=$(PYTHON) sh packaging/splunk_python.sh $* $(PYTHONS)
	touch $@

pythons: $(SPLUNK_PYTHONS:%=$(PYTHONS)/.python%)

# What runs inside Splunk, kept runnable on Python 3.9: see [tool.ruff.per-file-target-version].
SPLUNK_SIDE := kepler/__init__.py kepler/_version.py kepler/core kepler/searchcommand \
	splunk_app/package/bin
# mypy 2 no longer checks code against 3.9; the last 1.x does, with a typeshed that still
# knows what 3.10+ added to the standard library. Its own venv leaves the project's mypy be.
MYPY39      := .venv-mypy39
$(MYPY39)/.installed:
	[ -x $(MYPY39)/bin/python ] || $(PYTHON) -m venv $(MYPY39)
	$(MYPY39)/bin/python -m pip install -q mypy==1.20.2
	touch $@

# The dashboards' preview (dashboards/preview): Splunk's Dashboard Studio packages and the
# bundler from npm, exactly as package-lock.json pins them, and the page built once. Node
# is used for nothing else.
PREVIEW := dashboards/preview
$(PREVIEW)/node_modules/.installed: $(PREVIEW)/package.json $(PREVIEW)/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "needs node and npm (Debian: apt-get install nodejs npm)"; exit 1; }
	cd $(PREVIEW) && npm ci --no-audit --no-fund --loglevel=error
	touch $@
$(PREVIEW)/dist/index.html: $(PREVIEW)/node_modules/.installed $(PREVIEW)/build.mjs $(wildcard $(PREVIEW)/src/*)
	cd $(PREVIEW) && node build.mjs

preview: $(PREVIEW)/dist/index.html

install: system-deps $(STAMP) vendor preview

demo: install
	$(PY) -m kepler.demo

test: install pythons
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

lint: install $(MYPY39)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	@# Only the standard library and our own code, as in Splunk's Python.
	$(MYPY39)/bin/mypy --python-version 3.9 --no-site-packages --follow-imports=silent \
	  $(SPLUNK_SIDE)

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Every dashboard rendered from fresh Kepler runs into build/screenshots/ (the preview test);
# the README shows the copies in docs/img/.
screenshots: install
	$(PY) -m pytest tests/dashboards/test_preview.py -q
	$(PY) dashboards/preview/docs_images.py build/screenshots docs/img

bench: install
	$(PY) -m bench.run

openapi: install
	$(PY) -m kepler_bridge.openapi > docs/openapi.json

# The SDK as a wheel and an sdist in dist/ (kepler_ml-<version>...): what `pip install`
# takes until a release is on an index. The project's own build backend (setuptools, in
# .venv) is called directly, as `python -m build --no-isolation` would: nothing downloaded.
dist: $(STAMP)
	rm -f dist/kepler_ml-*
	$(PY) -c "from setuptools import build_meta as b; \
	  print('built dist/' + b.build_sdist('dist')); print('built dist/' + b.build_wheel('dist'))"

clean:
	rm -rf $(VENV) $(MYPY39) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache

# The Splunk app: UCC and AppInspect live in their own venv, apart from the project's.
APP_VENV  := .venv-app
APP_TOOLS := splunk-add-on-ucc-framework==6.6.0 splunk-appinspect==4.3.1
.PHONY: package
$(APP_VENV)/.installed:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "needs $(PYTHON)"; exit 1; }
	[ -x $(APP_VENV)/bin/python ] || $(PYTHON) -m venv $(APP_VENV)
	$(APP_VENV)/bin/python -m pip install -q $(APP_TOOLS)
	touch $@

# dist/kepler-<version>.tar.gz, version from kepler/_version.py.
package: vendor $(APP_VENV)/.installed
	$(APP_VENV)/bin/python packaging/build_app.py
