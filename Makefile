# The two set-up commands (see README): `make demo` and `make test`. Both build .venv from this
# project's own files on first use and reuse it afterwards (rebuilt when pyproject.toml changes).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
IAC_VENV := .venv-iac
IAC_STAMP := $(IAC_VENV)/.installed

.PHONY: demo test lint typecheck infra unit bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("revoice needs Python 3.11+, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

$(IAC_STAMP): infra/requirements-iac.txt
	@test -x $(IAC_VENV)/bin/python || $(PYTHON) -m venv $(IAC_VENV)
	$(IAC_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(IAC_VENV)/bin/python -m pip install --quiet -r infra/requirements-iac.txt
	@touch $(IAC_STAMP)

demo: $(STAMP)
	$(BIN)/revoice demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

infra: $(STAMP) $(IAC_STAMP)
	$(BIN)/cfn-lint infra/template.yaml
	$(IAC_VENV)/bin/checkov --file infra/template.yaml --framework cloudformation --compact --quiet --skip-download
	@mkdir -p build
	$(BIN)/python -m revoice_local.stack.translate build/template.cfn.json
	$(BIN)/cfn-lint build/template.cfn.json
	$(BIN)/statelint infra/statemachine/*.asl.json

unit: $(STAMP)
	$(BIN)/pytest

test: lint typecheck infra unit

# Not part of `make test`: it moves gigabytes and runs a 60-job batch. Writes tests/bench/results.md
# and the README's table.
bench: $(STAMP)
	$(BIN)/python -m tests.bench.suite

clean:
	rm -rf $(VENV) $(IAC_VENV) build demo-output .mypy_cache .ruff_cache .pytest_cache
