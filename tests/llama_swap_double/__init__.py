"""A Python *test double* of llama-swap v250 for the llamaswap test suite.

It is not llama-swap: it mimics the HTTP surface and swap behaviour of the real
Go binary closely enough that the same tests can run against either. Run it as
``python -m llama_swap_double -config FILE -listen 127.0.0.1:PORT``.
"""

from __future__ import annotations

VERSION = "double-v250"
COMMIT = "test-double"
BUILD_DATE = "2026-08-14T00:00:00Z"
MIMICS = "v250 (60226b63776efac11e15828abe0bb302ec259699)"

__all__ = ["BUILD_DATE", "COMMIT", "MIMICS", "VERSION"]
