# Everything a fresh machine needs: `make demo` and `make test` create .venv on their own.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: venv test lint demo bench clean

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

bench: venv
	bash benchmarks/setup.sh
	cd benchmarks && ../$(BIN)/python run.py
	cd benchmarks && ../$(BIN)/python responsiveness.py
	cd benchmarks && ../$(BIN)/python bridge_vs_async_multi.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build src/*.egg-info
