# The two set-up commands (see README): `make demo` and `make test`. Both build .venv from this
# project's own files on first use and reuse it afterwards (rebuilt when pyproject.toml changes).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
IAC_VENV := .venv-iac
IAC_STAMP := $(IAC_VENV)/.installed
SAM_VENV := .venv-sam
SAM_STAMP := $(SAM_VENV)/.installed

.PHONY: demo test lint typecheck infra build browser unit bench clean

# The Lambda package's pins (functions/requirements.txt) constrain the dev venv: tests run what deploys.
$(STAMP): pyproject.toml functions/requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit("revoice needs Python 3.11+, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]' -c functions/requirements.txt
	@touch $(STAMP)

$(SAM_STAMP): infra/requirements-sam.txt
	@test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/python -m pip install --quiet -r infra/requirements-sam.txt
	@touch $(SAM_STAMP)

$(IAC_STAMP): infra/requirements-iac.txt
	@test -x $(IAC_VENV)/bin/python || $(PYTHON) -m venv $(IAC_VENV)
	$(IAC_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(IAC_VENV)/bin/python -m pip install --quiet -r infra/requirements-iac.txt
	@touch $(IAC_STAMP)

# The Lambda packages, as `sam build` makes them: .aws-sam/build (the template's arm64, what `sam deploy`
# uploads) and build/lambda/<this machine's arch> (what the local stack runs), with shipped bytecode.
build: $(STAMP) $(SAM_STAMP)
	$(BIN)/python -m revoice_local.package build

demo: build
	$(BIN)/revoice demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

infra: $(STAMP) $(IAC_STAMP) $(SAM_STAMP)
	$(SAM_VENV)/bin/sam validate --lint --template-file infra/template.yaml --region us-east-1
	$(BIN)/cfn-lint infra/template.yaml
	$(IAC_VENV)/bin/checkov --file infra/template.yaml --framework cloudformation --compact --quiet --skip-download
	@mkdir -p build
	$(BIN)/python -m revoice_local.stack.translate build/template.cfn.json
	$(BIN)/cfn-lint build/template.cfn.json
	# statelint 3 does not know a Distributed Map's ReaderConfig InputType "JSON" (the campaign machine's); moto's
	# ASL parser reads that one in the tests, and the generator tests hold both files to their builders.
	$(BIN)/statelint infra/statemachine/revoice.asl.json

# The console's browser tests drive Chromium from Debian's packages (Playwright's own download is never
# used). Installed here when missing and apt-get is at hand; elsewhere set REVOICE_CHROMIUM to a Chrome.
browser:
	@if [ -n "$$REVOICE_CHROMIUM" ] || command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then :; \
	elif command -v apt-get >/dev/null; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  echo "Installing Debian's chromium for the console's browser tests"; \
	  $$SUDO apt-get install -y -q --no-install-recommends chromium >/dev/null || \
	  { $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q --no-install-recommends chromium >/dev/null; }; \
	else echo "No Chromium and no apt-get: install Chromium or Chrome and set REVOICE_CHROMIUM to it" >&2; exit 1; fi

# Four workers on two cores: most of an end-to-end test is waiting (on the emulator's timings, Lambda's
# timeouts, retries), so the suite takes about 40 % of its one-process time. Each worker has its own local stack.
unit: build browser
	$(BIN)/pytest -n 4 --dist worksteal

# The checks and the package build have nothing to share but the venvs, and none uses both cores: they run
# side by side (each target's output printed whole when it ends); the suite runs after them, on its own.
test:
	$(MAKE) --no-print-directory --jobs=3 --output-sync=target lint typecheck infra build browser
	$(MAKE) --no-print-directory unit

# Not part of `make test`: it moves gigabytes and runs a 60-job batch. Writes tests/bench/results.md
# and the README's table.
bench: build
	$(BIN)/python -m tests.bench.suite

clean:
	rm -rf $(VENV) $(IAC_VENV) $(SAM_VENV) build .aws-sam demo-output .mypy_cache .ruff_cache .pytest_cache
