# Two commands do all the set-up: `make run` (the service, embedded mode) and `make test` (every test).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint bench clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/activate pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# Embedded mode: SQLite file ./rewards.db, events applied in-process. A development key with every scope is
# created once and kept in .dev-api-key.
run: $(VENV)/.installed
	@test -s .dev-api-key || $(BIN)/rewards apikey create --scope admin --name development | tail -n 1 > .dev-api-key
	@echo "API key (admin scope): $$(cat .dev-api-key)"
	@echo "Try:  curl -s -H \"Authorization: Bearer $$(cat .dev-api-key)\" -H 'content-type: application/json' --data @events/samples/batch.json http://$(HOST):$(PORT)/v1/events"
	$(BIN)/rewards serve --host $(HOST) --port $(PORT)

lint: $(VENV)/.installed
	$(BIN)/ruff check rewards tests bench migrations
	$(BIN)/ruff format --check rewards tests bench migrations
	$(BIN)/mypy rewards tests bench

# Needs PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379 (.ci/run starts them when they are down).
test: lint
	$(BIN)/python -m pytest

bench: $(VENV)/.installed
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) rewards.db rewards.db-wal rewards.db-shm .dev-api-key .pytest_cache .mypy_cache .ruff_cache
