"""Upstream servers that llama-swap starts as model ``cmd``s.

Each module here is also a script: llama-swap runs it as
``<venv python> <abs path to module> --port ${PORT} ...``. Only ``llamacpp`` is the real
llama.cpp server; the others are test upstreams.
"""

from __future__ import annotations

from pathlib import Path

UPSTREAMS_DIR = Path(__file__).resolve().parent
LLAMACPP_LAUNCHER = UPSTREAMS_DIR / "llamacpp.py"
