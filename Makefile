# Fovea: `make run` starts the network on this machine, `make test` tests it.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA_DIR ?= var

.PHONY: run test venv tools lint clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

# Debian packages the tests use: reference peers, validator, a browser.
tools:
	@missing=""; \
	command -v storescu >/dev/null || missing="$$missing dcmtk"; \
	command -v dciodvfy >/dev/null || missing="$$missing dicom3tools"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else \
	    echo "Please install:$$missing (sudo apt-get install$$missing)"; exit 1; \
	  fi; \
	fi

run: venv
	$(BIN)/python -m pacs_scp --data-dir $(DATA_DIR)

test: venv tools
	$(BIN)/python -m pytest

lint: venv
	$(BIN)/flake8 imaging_common pacs_scp emr tests scripts
	$(BIN)/mypy imaging_common pacs_scp emr

clean:
	rm -rf $(VENV) build *.egg-info
