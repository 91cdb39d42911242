"""The quickstart that `make demo` runs works against the rig and prints a real answer."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from llamaswap_rig.runner import Rig

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart.py"


def test_quickstart_prints_a_model_answer_and_saves_an_image(rig: Rig) -> None:
    env = {**os.environ, "LLAMASWAP_DSN": rig.dsn}
    done = subprocess.run(
        [sys.executable, str(QUICKSTART)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    answer = next(line for line in out.splitlines() if line.startswith("A: "))
    assert len(answer) > len("A: ") + 5
    assert "loaded 'qwen'" in out
    image_line = next(line for line in out.splitlines() if line.startswith("image: "))
    size, saved = image_line.removeprefix("image: ").split(" bytes of image/png saved to ")
    data = Path(saved).read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) == int(size)
    assert "unloaded everything; running now: []" in out
