# Two commands set a fresh machine up:  `make demo`  and  `make test`.
# Every step is idempotent: a second run reuses the venv, the rig and the models.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: demo test unit integration lint rig venv cassettes bench notebooks clean-rig

## make demo: install everything, start the rig (unless LLAMASWAP_DSN is set), run the quickstart
demo: venv rig
	$(PY) examples/quickstart.py

## make test: lint + type-check, then unit tests (offline) and integration tests (against the rig)
test: venv rig lint
	$(PY) -m pytest

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

## make rig: llama-swap (or its test double), xllamacpp, the chat and embedding models
rig: venv
	$(PY) rig/llamaswap_rig/install.py

## make cassettes: re-record every vcrpy cassette from a fresh rig
cassettes: venv rig
	LLAMASWAP_RECORD=1 $(PY) -m pytest tests/unit -m cassette

bench: venv rig
	$(PY) -m bench

clean-rig:
	rm -rf .rig
