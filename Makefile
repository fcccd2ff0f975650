# bsc-workbench — run `make help` for the list of targets.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SYSTEM_STAMP := $(VENV)/.system-deps

.DEFAULT_GOAL := help

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "} {printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip "setuptools>=77"
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	$(PY) -m compileall -q $(VENV)/lib bsc_lib > /dev/null || true
	$(PY) -m ipykernel install --sys-prefix --name python3 > /dev/null
	@touch $(STAMP)

install: $(STAMP) ## create .venv and install the pinned requirements + the package (editable)

system-deps: ## install Debian chromium + fonts-noto-cjk when root (needed for PDF and browser tests)
	@bash scripts/system-deps.sh

report: install system-deps ## run the main job on the embedded 2019 sample (writes outputs/<year>/<run>/ with report.html and report.pdf)
	$(VENV)/bin/bsc report

validate: install ## validate the embedded sample (or DATA=path)
	$(VENV)/bin/bsc validate $(or $(DATA),data/sample/2019)

# make test: the whole suite on $(TEST_WORKERS) parallel workers (pytest-xdist), one test file
# per worker at a time (--dist loadfile: a file's module fixture, e.g. one report run serving
# all its assertions, is made once), the longest files first (--no-loadscope-reorder keeps the
# order of tests/conftest.py's SLOWEST_FIRST), property tests at the hypothesis profile "ci"
TEST_WORKERS ?= 2
test: install system-deps ## install everything and run the whole test suite (parallel, within 10 min on 2 cores)
	$(VENV)/bin/ruff check bsc_lib tests $(wildcard bench)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --hypothesis-profile=ci

fuzz: install ## the property tests at >= 1,000 examples per target; writes bench/FUZZ.md
	$(PY) -m pytest -q -n $(TEST_WORKERS) -p no:cacheprovider --hypothesis-profile=fuzz \
		--fuzz-report=bench/FUZZ.md tests/test_properties.py

lint: install ## ruff
	$(VENV)/bin/ruff check bsc_lib tests $(wildcard bench)

sample: install ## regenerate the embedded sample data/sample/2019 from the generator
	$(VENV)/bin/bsc sample data/sample/2019

clean: ## remove the venv and outputs
	rm -rf $(VENV) outputs/*/ .pytest_cache

bench: install system-deps ## run the benchmarks (about 10 min) and write bench/RESULTS.md + bench/results.json
	$(PY) bench/run.py

bench-scale: install ## load + validate and score 100x and 1000x synthetic data (~20 min, capped at 9 GB) and write bench/RESULTS-scale.md
	ulimit -v 9000000; $(PY) bench/scale.py $(if $(CSV),--csv $(CSV))

backtest: install ## backtest the target recommendation against the naive rule; writes bench/BACKTEST.md
	$(PY) bench/backtest.py

dashboard: install ## serve the leadership dashboard on http://127.0.0.1:8866/ (DATA=path PORT=n SHOW_NAMES=1)
	$(VENV)/bin/bsc dashboard $(if $(DATA),--data $(DATA)) --port $(or $(PORT),8866) $(if $(SHOW_NAMES),--show-names)

.PHONY: help install system-deps report validate test fuzz lint sample clean dashboard bench bench-scale backtest
