# Secret-Call: `make run` starts the app, `make test` sets up and runs the whole suite.
PYTHON3 ?= python3
VENV    := .venv
PY      := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: run test setup setup-dev system-deps bench screenshots clean

run: setup
	$(PY) main.py $(ARGS)

setup: $(VENV)/.runtime

setup-dev: system-deps $(VENV)/.dev node_modules/.installed

test: setup-dev
	$(PY) -m pytest $(PYTEST_ARGS)

bench: setup-dev
	$(PY) -m bench $(ARGS)

# Pictures of a busy call for people to look at (artifacts/); not part of `make test`.
screenshots: setup-dev
	$(PY) -m pytest -q tests/screenshots.py

system-deps:
	@bash scripts/system-deps.sh

$(PY):
	$(PYTHON3) -m venv $(VENV)

$(VENV)/.runtime: requirements.txt | $(PY)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	@touch $@

$(VENV)/.dev: requirements-dev.txt requirements-scan.txt requirements.txt $(VENV)/.runtime
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt -r requirements-scan.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps httpobs==0.9.3
	@touch $@

# The TypeScript compiler for the type check (dev only; the page loads no npm package).
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

clean:
	rm -rf $(VENV) node_modules artifacts .pytest_cache
