# make test  – create .venv if missing, install the four distributions (editable) with test
#              extras, run ruff (lint and format check), mypy and the whole pytest suite.
# make demo  – run the main job on the embedded default (see README).
# make lint  – ruff only.
# make bench – the scale benchmark (issue 7): prints a table, writes benchmarks/results.json.
# make typecheck – mypy on the four packages.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROJECTS := pyproject.toml hookspecs/pyproject.toml plugins/overseerr/pyproject.toml plugins/jellyseerr/pyproject.toml

.PHONY: test demo lint install clean bench typecheck

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python $(PROJECTS)
	$(BIN)/python -m pip install --quiet \
		-e ./hookspecs -e ./plugins/overseerr -e ./plugins/jellyseerr -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy hookspecs/aperture_hookspecs aperture_plugins plugins/overseerr/aperture_overseerr plugins/jellyseerr/aperture_jellyseerr

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(MAKE) --no-print-directory typecheck
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

demo: $(STAMP)
	$(BIN)/aperture-plugins demo

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
