# Fovea: `make run` starts the network on this machine, `make test` tests it.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA_DIR ?= var

.PHONY: run run-tools demo test venv tools lint clean screenshots

# The fonts the EMR's printable report embeds (emr/report_pdf.py): any script's names.
REPORT_FONTS = find /usr/share/fonts -name DejaVuSans.ttf 2>/dev/null | grep -q . || missing="$$missing fonts-dejavu-core"; \
	find /usr/share/fonts -name DroidSansFallbackFull.ttf 2>/dev/null | grep -q . || missing="$$missing fonts-droid-fallback";

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,ai]'
	touch $(STAMP)

venv: $(STAMP)

# Debian packages the tests use: reference peers, validator, a browser, Redis, the
# printable report's fonts and poppler (its page as a picture).
tools:
	@missing=""; \
	command -v storescu >/dev/null || missing="$$missing dcmtk"; \
	command -v dciodvfy >/dev/null || missing="$$missing dicom3tools"; \
	command -v pdftoppm >/dev/null || missing="$$missing poppler-utils"; \
	$(REPORT_FONTS) \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else \
	    echo "Please install:$$missing (sudo apt-get install$$missing)"; exit 1; \
	  fi; \
	fi

run: venv run-tools
	$(BIN)/python scripts/run_network.py --data-dir $(DATA_DIR)

# Debian packages the running network uses: Redis (when none answers), DCMTK and the
# printable report's fonts.
run-tools:
	@missing=""; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v echoscu >/dev/null || missing="$$missing dcmtk"; \
	$(REPORT_FONTS) \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else \
	    echo "Please install:$$missing (sudo apt-get install$$missing)"; \
	  fi; \
	fi

# Drive one screening through the running network (start it first: make run).
demo: venv
	$(BIN)/python scripts/demo.py --data-dir $(DATA_DIR)

test: venv tools
	$(BIN)/python -m pytest

# The README's pictures of every page, taken by the browser tests.
screenshots: venv tools
	FOVEA_SCREENSHOTS=docs/screenshots $(BIN)/python -m pytest -q \
	  tests/emr/test_browser.py tests/emr/test_worklists_browser.py tests/emr/test_photographs_browser.py \
	  tests/emr/test_phone_width.py \
	  tests/modality_scu/test_browser.py tests/ai_node/test_node_browser.py tests/ai_node/test_sign_on_browser.py \
	  tests/ai_node/test_node_results.py::test_the_report_page_shows_borderline_an_ungradable_eye_and_oedema_not_assessed \
	  tests/ai_node/test_node_results.py::test_a_simulated_capture_is_said_to_be_one_in_the_sr_its_capture_and_the_emr \
	  tests/emr/test_report_pdf.py::test_the_signed_report_is_kept_in_the_pacs_as_encapsulated_pdf

lint: venv
	$(BIN)/flake8 imaging_common pacs_scp worklist modality_scu emr ai_node tests scripts
	$(BIN)/mypy imaging_common pacs_scp worklist modality_scu emr ai_node

clean:
	rm -rf $(VENV) build *.egg-info
