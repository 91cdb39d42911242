# Two commands set a fresh machine up:  `make demo`  and  `make test`.
# Every step is idempotent: a second run reuses the venv, the rig and the models.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: demo test test-matrix unit integration lint rig venv cassettes bench notebooks clean-rig

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

bench: venv rig
	$(PY) -m bench

clean-rig:
	rm -rf .rig
