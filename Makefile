# Everything a fresh machine needs: `make demo` and `make test` create .venv on their own.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: venv test lint demo bench bench-quick clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

lint: venv
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/mypy

test: lint
	bash tests/setup.sh
	$(BIN)/python -m pytest

demo: venv
	$(BIN)/python scripts/demo.py

# Every scenario, full runs (tens of minutes); results in benchmarks/results/.
bench: venv
	bash benchmarks/setup.sh
	$(BIN)/python -m benchmarks all

# One run per tool, files of at most 64 MiB (a few minutes).
bench-quick: venv
	bash benchmarks/setup.sh
	$(BIN)/python -m benchmarks --quick all

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build src/*.egg-info
