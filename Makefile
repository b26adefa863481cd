# The README's two commands: `make run` and `make test`. Both create .venv when missing and
# install the project into it first, so nothing installed by hand is assumed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck pytest bench fuzz clean

# A venv that failed half-way (Debian and Ubuntu without python3-venv leave one without pip)
# is removed, so the next `make` tries again instead of failing further on.
$(BIN)/python:
	@$(PYTHON) -m venv $(VENV) || { \
		rm -rf $(VENV); \
		echo "make: could not create $(VENV) with '$(PYTHON) -m venv'." >&2; \
		echo "  On Debian or Ubuntu install the venv module first: sudo apt install python3-venv" >&2; \
		echo "  (or the one of your Python version, e.g. python3.11-venv), then run make again." >&2; \
		exit 1; }

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/oms-bot run

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python bench/ack.py

# The fuzz suite at length: thousands of random examples instead of the default short run.
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=long $(BIN)/pytest -q tests/surface/test_fuzz.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
