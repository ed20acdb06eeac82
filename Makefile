# Two commands do all the set-up: `make run` (the service, embedded mode) and `make test` (every test).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run demo-data test lint bench clean messages

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/activate pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# Embedded mode: SQLite file ./rewards.db, events applied in-process. On the first run the database starts with
# a real community (the cardano.stackexchange.com dump, when ../shared/data is there) or a generated one, and a
# development key with every scope is created and kept in .dev-api-key.
run: $(VENV)/.installed
	@if [ ! -e rewards.db ]; then $(MAKE) --no-print-directory demo-data && rm -f .dev-api-key; fi
	@test -s .dev-api-key || $(BIN)/rewards apikey create --scope admin --name development | tail -n 1 > .dev-api-key
	@echo "API key (admin scope): $$(cat .dev-api-key)"
	@echo "Try:  curl -s -H \"Authorization: Bearer $$(cat .dev-api-key)\" -H 'content-type: application/json' --data @events/samples/batch.json http://$(HOST):$(PORT)/v1/events"
	$(BIN)/rewards serve --host $(HOST) --port $(PORT)

demo-data: $(VENV)/.installed
	@if [ -d ../shared/data/stackexchange/cardano ]; then \
		echo "First run: importing the cardano.stackexchange.com dump as the demo community"; \
		$(BIN)/rewards import stackexchange ../shared/data/stackexchange/cardano > /dev/null; \
	else \
		echo "First run: generating a demo community (bench/community.py: 2,000 users, 50,000 events)"; \
		$(BIN)/python -m bench.community --users 2000 --events 50000 --out .demo-events.jsonl 2> /dev/null && \
		$(BIN)/rewards import events .demo-events.jsonl > /dev/null && rm -f .demo-events.jsonl; \
	fi
	@# Demo beta codes (development only), so that an expert who claims the beta perk sees a code.
	@seq -f "DEMO-BETA-%04g" 1 60 > .demo-codes.txt && $(BIN)/rewards perks add-codes beta-5g-router .demo-codes.txt > /dev/null; rm -f .demo-codes.txt

lint: $(VENV)/.installed
	$(BIN)/ruff check rewards tests bench migrations
	$(BIN)/ruff format --check rewards tests bench migrations
	$(BIN)/mypy rewards tests bench
	$(BIN)/lint-imports --no-cache

# Needs PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379 (.ci/run starts them when they are down).
test: lint
	$(BIN)/python -m pytest

# The pages' message catalogs (rewards/locales/): extract new strings from rewards/web and templates/, merge
# them into every locale's .po (translate the empty msgstr entries, then commit). The app compiles .po at start-up.
messages: $(VENV)/.installed
	$(BIN)/pybabel extract -F babel.cfg -k N_ --no-location --sort-output --project rewards -o rewards/locales/messages.pot .
	$(BIN)/pybabel update -D messages -i rewards/locales/messages.pot -d rewards/locales --no-fuzzy-matching --width 120

bench: $(VENV)/.installed
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) rewards.db rewards.db-wal rewards.db-shm .dev-api-key .pytest_cache .mypy_cache .ruff_cache
