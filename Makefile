# Two commands a newcomer needs: `make demo` and `make test`. Each builds .venv by itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest browser-deps bench clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/cm-frames demo

# lint-imports checks the layer contracts of pyproject.toml ([tool.importlinter]).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy  # the paths are [tool.mypy] files: the package and tests/test_typing.py

# Chromium and the widget JavaScript for the one browser test; never fails (the test then
# skips and says why).
browser-deps:
	sh tests/browser/setup.sh

# The notebooks are documentation that runs: nbval executes each in a real kernel and
# compares every output (strict, not --nbval-lax) after masking what truly varies.
pytest: $(STAMP) browser-deps
	$(BIN)/pytest tests notebooks --nbval --nbval-sanitize-with notebooks/nbval_sanitize.cfg $(PYTEST_ARGS)

test: lint typecheck pytest

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
