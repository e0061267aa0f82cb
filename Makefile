# Developer and CI entry points. `make run` and `make test` work on a fresh clone: they create the
# virtualenv and install the project (editable, with the dev extras) first.

VENV    ?= .venv
PYTHON  ?= python3
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.DEFAULT_GOAL := help

.PHONY: help install run test test-unit test-midnight lint format compose-check contracts contracts-check \
        bench bench-dispatch bench-webhooks demo test-chaos clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# The stamp records the last install. Re-install when pyproject.toml changes or a top-level
# package appears: the editable install maps packages by name when it is made.
PACKAGES := $(wildcard fsm/__init__.py contracts/__init__.py servicekit/__init__.py services/*/*/__init__.py)

$(STAMP): pyproject.toml $(PACKAGES)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@sh deploy/ensure-cjk-font.sh
	@touch $@

install: $(STAMP) ## Create the virtualenv and install the project with the dev extras

run: $(STAMP) ## Start the broker and the five services locally (Ctrl-C stops)
	$(BIN)/fsm run

test: $(STAMP) ## Run all tests
	$(BIN)/python -m pytest

test-unit: $(STAMP) ## Run the tests that do not start the five services
	$(BIN)/python -m pytest -m "not e2e"

lint: $(STAMP) ## ruff, ruff format --check, mypy and the import boundaries
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(STAMP) ## Fix what ruff can fix and format the code
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

compose-check: ## Validate docker-compose.yml against .env.example
	@command -v docker-compose >/dev/null 2>&1 || { \
	  echo "compose-check: docker-compose is not installed (Debian: apt-get install docker-compose)" >&2; \
	  exit 1; }
	docker-compose --env-file .env.example -f docker-compose.yml config -q

contracts: $(STAMP) ## Export the event contracts (JSON Schema / AsyncAPI)
	$(BIN)/python -m contracts.export

contracts-check: $(STAMP) ## Fail if the exported contracts are out of date
	$(BIN)/python -m contracts.export --check

demo: $(STAMP) ## Simulate a service day against `make run` and print its quality figures
	$(BIN)/python -m demo

test-chaos: $(STAMP) ## Only the crash and broker-outage tests (also part of `make test`)
	$(BIN)/python -m pytest -m chaos

# Shanghai 23:59 and 00:04 (UTC+8): the demo and the journeys run across local midnight (SCH-3).
# A relative offset, not an absolute start: every service process shares the one shifted clock.
MIDNIGHT_CLOCKS ?= 2026-11-24 15:59:00|2026-11-24 16:04:00

test-midnight: $(STAMP) ## The demo and the journeys with the clock at Shanghai midnight (needs faketime)
	@command -v faketime >/dev/null 2>&1 || { \
	  echo "test-midnight: faketime is not installed (Debian: apt-get install faketime)" >&2; \
	  exit 1; }
	@echo "$(MIDNIGHT_CLOCKS)" | tr '|' '\n' | while read -r clock; do \
	  echo "== clock starting at $$clock UTC"; \
	  offset=$$(( $$(date -u -d "$$clock" +%s) - $$(date -u +%s) )); \
	  TZ=UTC faketime -f "$${offset}s" $(BIN)/python -m pytest tests/demo tests/e2e \
	    -m "not chaos" -q -p no:cacheprovider < /dev/null || exit 1; \
	done

bench: $(STAMP) ## Run the benchmarks and print their figures (bench/results/*.json)
	$(BIN)/python -m bench

bench-dispatch: $(STAMP) ## Dispatch optimiser benchmarks (Solomon, synthetic day, insertion)
	$(BIN)/python -m bench dispatch

bench-webhooks: $(STAMP) ## Signed webhook deliveries per second to a local receiver
	$(BIN)/python -m bench webhooks

clean: ## Remove ./var and caches (keeps the virtualenv)
	rm -rf var .pytest_cache .mypy_cache .ruff_cache .hypothesis build dist
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +
	find . -path ./$(VENV) -prune -o -type d -name '*.egg-info' -prune -exec rm -rf {} +
