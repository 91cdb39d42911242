"""The quickstart that `make demo` runs works against the rig and prints a real answer."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from llamaswap_rig.runner import Rig

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "examples" / "quickstart.py"


@pytest.fixture(scope="module")
def quickstart_output(rig: Rig) -> str:
    """The quickstart's stdout, from one run against the rig."""
    env = {**os.environ, "LLAMASWAP_DSN": rig.dsn}
    done = subprocess.run(
        [sys.executable, str(QUICKSTART)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_quickstart_prints_a_model_answer_and_saves_an_image(quickstart_output: str) -> None:
    out = quickstart_output
    answer = next(line for line in out.splitlines() if line.startswith("A: "))
    assert len(answer) > len("A: ") + 5
    assert "loaded 'qwen'" in out
    image_line = next(line for line in out.splitlines() if line.startswith("image: "))
    size, saved = image_line.removeprefix("image: ").split(" bytes of image/png saved to ")
    data = Path(saved).read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) == int(size)
    assert "unloaded everything; running now: []" in out


def test_quickstart_ends_by_pointing_at_the_notebooks_and_the_command_line(
    quickstart_output: str,
) -> None:
    tail = quickstart_output.split("\nnext:\n", 1)[1]
    named = {line.strip() for line in tail.splitlines() if line.strip().endswith(".ipynb")}
    shipped = {str(p.relative_to(REPO)) for p in (REPO / "notebooks").glob("*.ipynb")}
    assert named == shipped and "notebooks/quickstart.ipynb" in named
    assert "-m llamaswap_rig.runner" in tail and "llamaswap models" in tail
