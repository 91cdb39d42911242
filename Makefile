# Two commands set a fresh machine up:  `make demo`  and  `make test`.
# Every step is idempotent: a second run reuses the venv, the rig and the models.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: demo test test-matrix unit integration lint rig venv cassettes bench bench-cold notebooks \
	clean-rig

# A second llama-swap source for `make test-matrix` (the newer error shape by default).
LLAMASWAP_MATRIX_SRC ?= ../shared/third_party/llama-swap/main-0bdb372
MATRIX_TESTS := tests/integration/test_provider.py tests/integration/langchain \
	tests/integration/llama_index tests/reliability

## make demo: install everything, start the rig (unless LLAMASWAP_DSN is set), run the quickstart
demo: venv rig
	$(PY) examples/quickstart.py

## make test: lint + type-check, then unit tests (offline) and integration tests (against the rig)
test: venv rig lint
	$(PY) -m pytest

## make test-matrix: provider, LangChain, LlamaIndex and reliability integration tests once more
## against llama-swap built from LLAMASWAP_MATRIX_SRC
test-matrix: venv rig
	LLAMASWAP_SRC="$(abspath $(LLAMASWAP_MATRIX_SRC))" $(PY) rig/llamaswap_rig/build_llama_swap.py
	LLAMASWAP_SRC="$(abspath $(LLAMASWAP_MATRIX_SRC))" $(PY) -m pytest $(MATRIX_TESTS)

unit: venv
	$(PY) -m pytest tests/unit

integration: venv rig
	$(PY) -m pytest tests/integration

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

## make rig: llama-swap (go install, else built from LLAMASWAP_SRC, else the test double),
## xllamacpp, the chat and embedding models
rig: venv
	$(PY) rig/llamaswap_rig/install.py

## make cassettes: re-record every vcrpy cassette from a fresh rig
cassettes: venv rig
	LLAMASWAP_RECORD=1 $(PY) -m pytest tests/unit -m cassette

## make notebooks: run every notebook against the rig (or $LLAMASWAP_DSN) and store it with
## its outputs; a notebook whose cell fails stays as it was (its run goes to .rig/notebooks/).
## NOTEBOOKS_ARGS="--out-dir DIR" writes the executed copies to DIR instead.
notebooks: venv rig
	PYTHONPATH=rig $(PY) -m llamaswap_rig.notebooks $(NOTEBOOKS_ARGS)

## make bench: per-call ratios, import time, concurrency, memory, streaming and the proxy floor
## against the rig (~25 min); rewrites bench/RESULTS.md and bench/concurrency.png
bench: venv rig
	$(PY) -m bench

## make bench-cold: every entry point against a 150 s cold swap (a few minutes);
## rewrites bench/RESULTS-cold.md. Not part of `make bench`.
bench-cold: venv rig
	$(PY) -m bench --cold

## make selfcheck: hold the llama-swap double to llama-swap. Runs its self-check against the
## double (v250 string error bodies, then main-0bdb372 envelopes) and against every real binary
## listed in LLAMASWAP_SELFCHECK_BINS (space-separated paths, default none; error shape detected).
## Runs them all, then exits non-zero if any failed.
.PHONY: selfcheck
LLAMASWAP_SELFCHECK_BINS ?=
SELFCHECK := PYTHONPATH=tests $(PY) -m llama_swap_double._selfcheck
selfcheck: venv
	@failed=""; \
	for shape in string envelope; do \
	  echo "== llama-swap double self-check: double, $$shape error bodies"; \
	  $(SELFCHECK) --error-shape $$shape || failed="$$failed double($$shape)"; \
	done; \
	for bin in $(LLAMASWAP_SELFCHECK_BINS); do \
	  echo "== llama-swap double self-check: real $$bin"; \
	  if [ ! -x "$$bin" ]; then \
	    echo "LLAMASWAP_SELFCHECK_BINS: $$bin is not an executable file"; failed="$$failed $$bin"; \
	  else $(SELFCHECK) --bin "$$bin" || failed="$$failed $$bin"; fi; \
	done; \
	if [ -n "$$failed" ]; then echo "selfcheck FAILED:$$failed"; exit 1; fi; \
	echo "selfcheck passed"

clean-rig:
	rm -rf .rig
