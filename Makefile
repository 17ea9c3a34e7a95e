# The index of commands: each target is one line calling the CLI.
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORPORA ?= ../shared/corpora

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

.PHONY: help install run test lint typecheck check split clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

install: $(STAMP) ## create .venv and install the pinned dependencies

run: $(STAMP) ## the main job on the embedded seed threads
	$(BIN)/moderate split seeds/threads/*.txt -o build/seeds.jsonl

test: $(STAMP) ## run the test suite
	$(BIN)/pytest -q

lint: $(STAMP) ## ruff check and ruff format --check
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

typecheck: $(STAMP) ## mypy on the packages
	$(BIN)/mypy

check: lint typecheck test ## everything CI runs

split: $(STAMP) ## split the seed threads into comments (JSON Lines on stdout)
	$(BIN)/moderate split seeds/threads/*.txt

clean: ## remove the environment and build outputs
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache
