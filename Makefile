# The README's two commands: `make demo` and `make test`.
# Each creates .venv and installs the project into it when needed.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PRACTICE_PARAMS ?= parameters/demo.yaml

.PHONY: demo test install clean

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

clean:
	rm -rf $(VENV) reports .pytest_cache
