# The README's commands: `make demo`, `make test` (every test: what CI runs) and `make test-fast` (the edit-test loop).
# Each creates .venv and installs the project into it when needed.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PRACTICE_PARAMS ?= parameters/demo.yaml

.PHONY: demo test test-fast install clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; install Python 3.11 or run 'make PYTHON=python3 ...'"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m ipykernel install --sys-prefix --name rcmkit --display-name "Python (rcmkit)" >/dev/null
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/rcmkit demo --practice demo
	$(BIN)/rcmkit report $(PRACTICE_PARAMS)

.PHONY: portfolio
portfolio: $(STAMP)
	$(BIN)/python scripts/portfolio_demo.py --data-root data
	$(BIN)/rcmkit run-monthly parameters/portfolio/ --jobs 2

test: $(STAMP)
	$(BIN)/python -m pytest -q

# The edit-test loop (about 2.5 min, not 11): no notebooks, Chromium, Spark, 1,000+-claim demos or long ingests (the `slow` marker;
# tests/conftest.py), and the property tests with few examples. Every module's hand-computed tests still run.
FAST_EXAMPLES ?= 5
test-fast: $(STAMP)
	HYPOTHESIS_MAX_EXAMPLES=$(FAST_EXAMPLES) RCMKIT_FUZZ_EXAMPLES=$(FAST_EXAMPLES) \
	  $(BIN)/python -m pytest -q -m "not slow"

clean:
	rm -rf $(VENV) reports .pytest_cache
