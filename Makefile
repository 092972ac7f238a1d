# `make run`: set up and start the web app on the sample corpus.  `make test`: set up and run every test.
VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup run ingest-sample test test-fast browser ocr lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# CPU torch first, so nothing pulls the multi-GB CUDA build: a local CPU wheel (pip's find-links)
	# when there is one (its dependencies come with the project below), else PyTorch's CPU index.
	$(PY) -m pip install -q --no-index --no-deps torch==2.13.0 2>/dev/null || \
	  $(PY) -m pip install -q torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
	    --extra-index-url https://pypi.org/simple
	$(PY) -m pip install -q -e '.[dev]'
	$(PY) -m pip check
	touch $@

setup: $(STAMP)

ingest-sample: setup ocr
	$(VENV)/bin/rag ingest corpora/sample

run: ingest-sample
	$(VENV)/bin/rag ui

# Debian's Chromium and its driver (the end-to-end browser test) and strace (the privacy test also
# watches connections made by native code).
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null && command -v strace >/dev/null || \
	  ($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium chromium-driver strace >/dev/null)

# Tesseract with Spanish and English (OCR of scans; docs: README "Scans"). Where apt-get is missing (macOS)
# it says what to run instead and goes on: everything but OCR works without it.
ocr:
	@command -v tesseract >/dev/null && tesseract --list-langs 2>/dev/null | grep -qx spa || \
	  (command -v apt-get >/dev/null && $(SUDO) apt-get update -qq && \
	   $(SUDO) apt-get install -y -qq tesseract-ocr tesseract-ocr-spa tesseract-ocr-eng >/dev/null) || \
	  echo "OCR needs Tesseract: brew install tesseract tesseract-lang (macOS)"

test: setup browser ocr
	$(PY) -m pytest

test-fast: setup
	$(PY) -m pytest -m "not slow and not browser"

lint: setup
	$(VENV)/bin/ruff check rag ingest ui api tests benchmarks
	$(VENV)/bin/mypy

# Figures: docs/benchmarks.md; the reasoning behind them: docs/decisions/. Indexes they build are cached under rag_data/bench.
bench: setup
	$(PY) benchmarks/ingest.py
	$(PY) benchmarks/answer_latency.py
	$(PY) benchmarks/abstention.py
	$(PY) benchmarks/query.py
	$(PY) benchmarks/api_load.py
	$(PY) benchmarks/office.py
	$(PY) benchmarks/ocr.py
	$(PY) benchmarks/extractive_regulations.py

clean:
	rm -rf $(VENV) rag_data .pytest_cache
