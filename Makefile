# PixyProxy developer commands. `make run` serves the API; `make test` runs every test.

PYTHON_BOOT ?= python3
VENV        ?= .venv
PYTHON      := $(VENV)/bin/python
STAMP       := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
HOST        ?= 127.0.0.1
PORT        ?= 8000
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install run test lint fmt bench soak fuzz mock smoke chart-test manifests manifests-check check-workflows clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(PYTHON) || $(PYTHON_BOOT) -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP) ## create .venv and install PixyProxy with its dev tools

run: install ## serve on http://$(HOST):$(PORT) (SQLite and images under ./var; placeholder images unless OPENAI_API_KEY is set)
	PIXY_ENV=$${PIXY_ENV:-dev} $(VENV)/bin/pixyproxy serve --host $(HOST) --port $(PORT)

test: install ## run the whole test suite (MySQL tests need PIXY_TEST_MYSQL_URL or a local server)
	$(PYTHON) -m pytest -n 2 $(PYTEST_ARGS)

lint: install ## ruff, format check, mypy, import layers, hadolint, workflow checks
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(VENV)/bin/hadolint services/api/Dockerfile services/openai-mock/Dockerfile
	PYTHON=$(PYTHON) scripts/check_workflows.sh

fmt: install ## format and fix what ruff can
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install ## benchmark against bare baselines (needs wrk and MariaDB; ~4 min): BENCH_ARGS=--strict
	$(PYTHON) -m bench.run $(BENCH_ARGS)

soak: install ## 60 s of mixed traffic against pixyproxy serve on MariaDB; fails on any error, p99 or RSS growth
	$(PYTHON) -m scripts.soak --wait-quiet 300 $(SOAK_ARGS)

fuzz: install ## fuzz every operation of the OpenAPI document (PIXY_FUZZ_EXAMPLES per operation, default 200)
	PIXY_FUZZ_EXAMPLES=$${PIXY_FUZZ_EXAMPLES:-200} $(PYTHON) -m pytest tests/e2e/test_fuzz_openapi.py -v -s

mock: install ## run the OpenAI mock on :8080 (OPENAI_BASE_URL=http://127.0.0.1:8080/v1)
	$(PYTHON) -m openai_mock --port 8080

smoke: install ## smoke-test a deployment: make smoke URL=https://... TOKEN=...
	$(PYTHON) scripts/smoke.py --url $(URL) $(if $(TOKEN),--token $(TOKEN)) $(SMOKE_ARGS)

chart-test: install ## render, lint and validate the Helm chart offline
	$(PYTHON) -m pytest tests/chart -q

manifests: install ## regenerate the plain manifests in k8s/ from the chart
	$(PYTHON) scripts/render_manifests.py

manifests-check: install ## fail when k8s/ or the chart README values table is stale
	$(PYTHON) scripts/render_manifests.py --check

check-workflows: install ## validate .github workflows (schema and actionlint)
	PYTHON=$(PYTHON) scripts/check_workflows.sh

clean: ## remove local state: the database and images under ./var
	rm -rf var
