# Kluis: every entry point a developer or CI needs.  `make test` and `make demo`
# work on a fresh clone: they create .venv and install the pinned dependencies.

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.kluis-installed
DEMO_DIR ?= .demo
DEMO_LISTEN ?= 127.0.0.1:8443

export QT_QPA_PLATFORM ?= offscreen

.PHONY: all install test lint types pytest demo bench dist clean

all: test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall whenever the declared or pinned dependencies change.
$(STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $@

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint types pytest

demo: $(STAMP)
	$(BIN)/python -m console.demo --data-dir $(DEMO_DIR) --listen $(DEMO_LISTEN)

bench: $(STAMP)
	$(BIN)/python tests/bench/run.py $(BENCH_ARGS)

# The sdist and wheel of the last commit, the same bytes every time (packaging/README.md).
dist:
	PYTHON=$(PYTHON) packaging/build-wheel.sh dist

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache bench-results.jsonl
