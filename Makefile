# The README's commands. `make run` and `make test` set everything up on a fresh machine.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
DIR     ?= .
STAMP   := $(VENV)/.installed

.PHONY: run test setup lint bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# The CPU build of torch lies on this machine's disk; an unpinned torch pulls CUDA (GBs).
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/mimi-lsp web $(DIR)

test: setup
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check mimi_lsp tests benchmarks
	$(BIN)/lint-imports

bench: setup
	$(BIN)/python benchmarks/completion_latency.py

clean:
	rm -rf $(VENV) .pytest_cache
