# The README's commands: `make demo`, `make test` (every test: what CI runs) and `make test-fast` (the edit-test loop).
# Each creates .venv and installs the project into it when needed.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PRACTICE_PARAMS ?= parameters/demo.yaml

# Python caches compiled modules (and pytest its assertion-rewritten test modules) in __pycache__/ unless
# PYTHONDONTWRITEBYTECODE is set, as some shells and containers do: then every test worker and every report kernel
# compiles rcmkit and re-rewrites ~70 test modules each time (about 6 s of CPU per test worker). The project's own
# commands keep the caches (git ignores them).
unexport PYTHONDONTWRITEBYTECODE

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

# Tests run on every core (pytest-xdist, -n auto), a test file per worker at a time (tests/conftest.py: xdist groups).
XDIST := -n auto --dist loadgroup

# Every test (CI): the parallel pass, then the `serial` tests (process kills, concurrent ingests, wall-clock bounds;
# tests/conftest.py) alone. Both passes always run; either failing fails the target.
test: $(STAMP)
	$(BIN)/python -m pytest -q $(XDIST) -m "not serial"; parallel=$$?; \
	$(BIN)/python -m pytest -q -m serial; serial=$$?; \
	test $$parallel -eq 0 && test $$serial -eq 0

# The edit-test loop: no notebooks, Chromium, Spark, 1,000+-claim demos or long ingests (the `slow` marker;
# tests/conftest.py), the property tests with few examples, on every core. Every module's hand-computed tests still
# run. 858 tests in 40-42 s on the 2-core machine when quiet (63-69 s at its slow hours; December 2026); `make test`
# 6-14 min.
FAST_EXAMPLES ?= 5
test-fast: $(STAMP)
	HYPOTHESIS_MAX_EXAMPLES=$(FAST_EXAMPLES) RCMKIT_FUZZ_EXAMPLES=$(FAST_EXAMPLES) \
	  $(BIN)/python -m pytest -q $(XDIST) -m "not slow"

clean:
	rm -rf $(VENV) reports .pytest_cache
