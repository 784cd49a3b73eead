# Quick start: `make run` serves the installation, `make test` runs every check.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: setup run test lint bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)

run: setup
	$(PY) scripts/init_db.py
	$(PY) scripts/example_commit.py --if-empty
	$(VENV)/bin/dw serve

lint: setup
	$(VENV)/bin/ruff check src tests bench scripts
	$(VENV)/bin/ruff format --check src tests bench scripts
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

test: lint
	$(VENV)/bin/pytest

# Byte-compiled first: with PYTHONDONTWRITEBYTECODE set (as on our CI machines) every
# `dw` run would otherwise compile its modules again (~20-40 ms of its start-up).
bench: setup
	$(PY) -m compileall -q src
	$(PY) bench/ingest.py
	$(PY) bench/web.py
	$(PY) bench/cli.py
	$(PY) bench/diff.py
	$(PY) bench/api.py
	$(PY) bench/search.py
	$(PY) bench/maintenance.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
