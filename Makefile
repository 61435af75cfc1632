# The front door: `make run` and `make test` work from a fresh clone with Python 3.11+ and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench bench-scale clean constraints

# constraints.txt pins every dependency to the version the suite passed with, so a fresh
# clone installs what was tested (no package index is named in it).
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/ledger demo seed --if-empty --enterprises 300
	$(BIN)/ledger serve --host 127.0.0.1 --port 8000

lint: $(STAMP)
	$(BIN)/ruff check ledger api tests bench
	$(BIN)/mypy ledger api

test: $(STAMP) lint
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m bench

bench-scale: $(STAMP)
	$(BIN)/python -m bench.scale

constraints: $(STAMP)
	{ head -n 3 constraints.txt; $(BIN)/python -m pip freeze --exclude-editable \
	  | grep -v -e '^-e ' -e '^#' -e '^pip=='; } > constraints.txt.new
	mv constraints.txt.new constraints.txt

clean:
	rm -rf $(VENV) ledger.db ledger.db-wal ledger.db-shm
