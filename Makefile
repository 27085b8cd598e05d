# PixyProxy developer commands. `make run` serves the API; `make test` runs every test.

PYTHON_BOOT ?= python3
VENV        ?= .venv
PYTHON      := $(VENV)/bin/python
PIP         := $(PYTHON) -m pip
# What `make install` installs from: the lock files (exact versions, hashes checked) and
# the two distributions, editable.
INSTALL_INPUTS := pyproject.toml services/openai-mock/pyproject.toml requirements/dev.txt requirements/build.txt
STAMP       := $(VENV)/.installed-$(shell cat $(INSTALL_INPUTS) | cksum | cut -d' ' -f1)
IMAGE_TAG   ?= dev
LOCK        := $(VENV)/bin/uv pip compile --quiet --universal --generate-hashes --python-version 3.11
HOST        ?= 127.0.0.1
PORT        ?= 8000
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install lock run test lint fmt bench bench-scale bench-report soak fuzz mock smoke images container-test chart-test manifests manifests-check check-workflows clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

$(STAMP): $(INSTALL_INPUTS)
	test -x $(PYTHON) || $(PYTHON_BOOT) -m venv $(VENV)
	$(PIP) install --quiet --require-hashes --no-deps -r requirements/build.txt -r requirements/dev.txt
	$(PIP) install --quiet --no-deps --no-build-isolation -e . -e services/openai-mock
	$(PIP) check
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP) ## create .venv: the locked dependencies, PixyProxy and the OpenAI mock (editable)

lock: install ## re-resolve requirements/*.txt from the pyproject ranges (universal: any OS, amd64 and arm64)
	$(LOCK) --extra dev pyproject.toml services/openai-mock/pyproject.toml -o requirements/dev.txt
	$(LOCK) -c requirements/dev.txt pyproject.toml -o requirements/api.txt
	$(LOCK) -c requirements/dev.txt services/openai-mock/pyproject.toml -o requirements/openai-mock.txt
	$(LOCK) -c requirements/dev.txt requirements/build.in -o requirements/build.txt
	$(LOCK) -c requirements/dev.txt requirements/smoke.in -o requirements/smoke.txt

run: install ## serve on http://$(HOST):$(PORT) (SQLite and images under ./var; placeholder images unless OPENAI_API_KEY is set)
	PIXY_ENV=$${PIXY_ENV:-dev} $(VENV)/bin/pixyproxy serve --host $(HOST) --port $(PORT)

test: install ## run the whole test suite (MySQL tests need PIXY_TEST_MYSQL_URL or a local server)
	$(PYTHON) -m pytest -n 2 -m 'not containers' $(PYTEST_ARGS)

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

bench: install ## benchmark against bare baselines at 10k images (needs wrk, nginx, MariaDB; ~9 min): BENCH_ARGS=--strict
	$(PYTHON) -m bench.run $(BENCH_ARGS)

bench-scale: install ## the read scenarios at 10k, 100k and 1M images and their p99 growth (~25 min; the first time ~4 min more to seed)
	$(PYTHON) -m bench.scale $(BENCH_ARGS)

bench-report: install ## write the README's performance figures from bench/results.json and bench/results-scale.json
	$(PYTHON) -m bench.readme

soak: install ## 60 s of mixed traffic against pixyproxy serve on MariaDB; fails on any error, p99 or RSS growth
	$(PYTHON) -m scripts.soak --wait-quiet 300 $(SOAK_ARGS)

fuzz: install ## fuzz every operation of the OpenAPI document (PIXY_FUZZ_EXAMPLES per operation, default 200)
	PIXY_FUZZ_EXAMPLES=$${PIXY_FUZZ_EXAMPLES:-200} $(PYTHON) -m pytest tests/e2e/test_fuzz_openapi.py -v -s

mock: install ## run the OpenAI mock on :8080 (OPENAI_BASE_URL=http://127.0.0.1:8080/v1)
	$(PYTHON) -m openai_mock --port 8080

smoke: install ## smoke-test a deployment: make smoke URL=https://... TOKEN=...
	$(PYTHON) scripts/smoke.py --url $(URL) $(if $(TOKEN),--token $(TOKEN)) $(SMOKE_ARGS)

images: ## build pixyproxy/api:$(IMAGE_TAG) and pixyproxy/openai-mock:$(IMAGE_TAG) with podman/buildah (BASE_IMAGE: see scripts/build_images.sh)
	IMAGE_TAG=$(IMAGE_TAG) scripts/build_images.sh

container-test: install images ## run the built images the way the chart's pod spec does (podman; MariaDB)
	PIXY_IMAGE_TAG=$(IMAGE_TAG) PIXY_REQUIRE_CONTAINERS=1 $(PYTHON) -m pytest -m containers tests/containers $(PYTEST_ARGS)

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
