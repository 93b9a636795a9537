# Two commands for people: `make run` and `make test`. Everything else is a step they depend on.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
GAZETTEER := data/gazetteer/england.npz
export SERVICE_FINDER_DATABASE_URL ?= sqlite:///var/service-finder.sqlite3

.PHONY: run test setup gazetteer demo lint typecheck openapi lock audit bench clean postgres browser

$(BIN)/uv: requirements-bootstrap.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r requirements-bootstrap.txt
	touch $@

$(VENV)/.installed: $(BIN)/uv requirements-dev.lock pyproject.toml
	$(BIN)/uv pip sync --quiet --require-hashes --python $(BIN)/python requirements-dev.lock
	$(BIN)/uv pip install --quiet --no-deps --no-build-isolation --python $(BIN)/python -e .
	touch $@

setup: $(VENV)/.installed

$(GAZETTEER): | $(VENV)/.installed
	$(BIN)/service-finder gazetteer build --output $(GAZETTEER)

gazetteer: $(GAZETTEER)

run: setup $(GAZETTEER)
	mkdir -p var
	$(BIN)/service-finder demo load --if-empty
	$(BIN)/service-finder serve --host 127.0.0.1 --port 8000

postgres:
	bash scripts/ensure-postgres.sh

browser:
	bash scripts/ensure-browser-deps.sh

test: setup $(GAZETTEER) postgres browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest

lint:
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

typecheck:
	$(BIN)/mypy

openapi: setup
	$(BIN)/service-finder openapi export

# Re-pin every dependency (needs a package registry); commit the result.
lock: $(BIN)/uv
	$(BIN)/uv pip compile pyproject.toml --generate-hashes --python-version 3.11 -o requirements.lock
	$(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 -o requirements-dev.lock

# For deployers with access to a vulnerability database; CI here has none.
audit: setup
	$(BIN)/uv pip install --quiet --python $(BIN)/python pip-audit
	$(BIN)/pip-audit --require-hashes -r requirements.lock

bench: setup $(GAZETTEER)
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) var build *.egg-info
