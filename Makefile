# Two set-up commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
PORT   ?= 8000
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test test-reliability test-fuzz lint bench clean venv

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/ledger serve --port $(PORT) --demo-if-empty

test: $(STAMP)
	$(BIN)/pytest -q -m "not reliability and not fuzz"

# pytest exits 5 when a marker selects nothing; that is not a failure of the suite.
test-reliability: $(STAMP)
	$(BIN)/pytest -q -m reliability; rc=$$?; [ $$rc -eq 5 ] && rc=0; exit $$rc

test-fuzz: $(STAMP)
	$(BIN)/pytest -q -m fuzz

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var/*.sqlite* .pytest_cache .hypothesis
