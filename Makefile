# Set-up and entry points. `make demo` and `make test` each create the environment on a fresh
# machine first: a virtualenv in .venv, the CPU build of torch 2.13.0 (pinned here, before
# anything else, so that no other torch is pulled), then mixsig with its dev extra.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: env demo test test-all bench lint clean data

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

env: $(STAMP)

demo: $(STAMP)
	$(BIN)/mixsig reproduce --quick --out runs/reproduce-quick

test: $(STAMP)
	$(BIN)/python -m pytest

data: $(STAMP)
	$(BIN)/mixsig data fetch all --to data

test-all: $(STAMP)
	$(BIN)/python -m pytest -m "slow or not slow"

bench: $(STAMP)
	$(BIN)/pip install --quiet -e ".[peers]"
	$(BIN)/python benchmarks/bench_layers.py --json bench_layers.json

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
