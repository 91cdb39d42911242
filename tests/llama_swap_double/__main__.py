"""Entry point so ``python -m llama_swap_double`` starts the test double."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
