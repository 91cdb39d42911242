"""Where the rig keeps what it installs: one git-ignored folder, ``.rig/``, at the repo root."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
RIG_HOME = Path(os.environ.get("LLAMASWAP_RIG_HOME", REPO_ROOT / ".rig"))

BIN_DIR = RIG_HOME / "bin"  # llama-swap (when the Go module proxy serves it)
BUILD_DIR = RIG_HOME / "build"  # llama-swap built from LLAMASWAP_SRC, one folder per content key
PYLIB_DIR = RIG_HOME / "pylib"  # xllamacpp and the converter's deps, outside the package env
WHEELS_DIR = RIG_HOME / "wheels"  # downloaded model wheels
MODELS_DIR = RIG_HOME / "models"  # assembled / converted GGUF files
RUN_DIR = RIG_HOME / "run"  # per-run configs and logs
LOGS_DIR = RIG_HOME / "logs"  # install logs

UPSTREAMS_DIR = Path(__file__).resolve().parent / "upstreams"
DOUBLE_DIR = REPO_ROOT / "tests"  # holds the llama_swap_double package
