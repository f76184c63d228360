# carebus: every target does its own set-up, idempotently, on a fresh machine.
#   make demo   run the main job on the embedded defaults (local Kafka, built-in registry, SQLite)
#   make test   the whole test suite against a real broker it starts itself
#   make lint   ruff and the layer contract
#   make bench  benchmarks as JSON (STAGE=name for one stage)

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
JARS_STAMP := $(VENV)/.kafka-jars
STAGE ?=
PYTEST_ARGS ?=

.PHONY: help install jars demo test test-unit test-integration lint bench clean

help:
	@sed -n '2,6p' Makefile

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

install: $(STAMP)

# Apache Kafka jars from Maven Central into ~/.cache/carebus (outside git).
$(JARS_STAMP): $(STAMP) deploy/kafka/pom.xml
	$(BIN)/carebus kafka fetch
	touch $@

jars: $(JARS_STAMP)

demo: $(JARS_STAMP)
	$(BIN)/carebus demo

test: $(JARS_STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

test-unit: $(STAMP)
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

test-integration: $(JARS_STAMP)
	$(BIN)/pytest tests/integration tests/e2e $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

bench: $(JARS_STAMP)
	$(BIN)/python -m bench $(if $(STAGE),--stage $(STAGE),)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis bench-results.json
