"""``python -m bench``: put the rig on ``sys.path`` (it is not installed), then run."""

from __future__ import annotations

import sys
from pathlib import Path

_RIG = str(Path(__file__).resolve().parent.parent / "rig")
if _RIG not in sys.path:
    sys.path.insert(0, _RIG)

from bench.run import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
