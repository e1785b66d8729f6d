# Kluis: every entry point a developer or CI needs.  `make test` and `make demo`
# work on a fresh clone: they create .venv and install the pinned dependencies.

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.kluis-installed
DEMO_DIR ?= .demo
DEMO_LISTEN ?= 127.0.0.1:8443

# Tests and benchmarks draw offscreen unless told otherwise.  The demo opens a real window
# where there is a display, and draws offscreen (saying so) only where there is none.
pytest bench: export QT_QPA_PLATFORM ?= offscreen
ifeq ($(strip $(DISPLAY)$(WAYLAND_DISPLAY)),)
demo: export QT_QPA_PLATFORM ?= offscreen
endif

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
	@if [ "$$QT_QPA_PLATFORM" = offscreen ]; then \
		if [ -z "$$DISPLAY$$WAYLAND_DISPLAY" ]; then \
			echo "make demo: no display here (neither DISPLAY nor WAYLAND_DISPLAY is set), so the console window is drawn offscreen"; \
		else \
			echo "make demo: QT_QPA_PLATFORM=offscreen is set, so the console window is drawn offscreen"; \
		fi; \
	fi
	$(BIN)/python -m console.demo --data-dir $(DEMO_DIR) --listen $(DEMO_LISTEN)

bench: $(STAMP)
	$(BIN)/python tests/bench/run.py $(BENCH_ARGS)

# The sdist and wheel of the last commit, the same bytes every time (packaging/README.md).
dist:
	PYTHON=$(PYTHON) packaging/build-wheel.sh dist

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache bench-results.jsonl
