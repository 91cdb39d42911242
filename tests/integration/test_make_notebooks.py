"""``make notebooks`` executes the notebooks against the rig and fails on a failing cell."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat

from llamaswap_rig.runner import Rig

REPO = Path(__file__).resolve().parents[2]
AGENT = REPO / "notebooks" / "agent_image_tool.ipynb"


def run(*args: str, dsn: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LLAMASWAP_DSN": dsn, "PYTHONPATH": str(REPO / "rig")}
    return subprocess.run(
        [sys.executable, "-m", "llamaswap_rig.notebooks", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )


def test_make_has_a_notebooks_rule() -> None:
    dry = subprocess.run(
        ["make", "-n", "notebooks"], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert dry.returncode == 0, dry.stderr
    assert "-m llamaswap_rig.notebooks" in dry.stdout


def test_a_notebook_is_executed_against_the_rig(rig: Rig, tmp_path: Path) -> None:
    done = run(str(AGENT), "--out-dir", str(tmp_path), dsn=rig.dsn)
    assert done.returncode == 0, done.stderr[-3000:]
    executed = nbformat.read(tmp_path / AGENT.name, as_version=4)
    code = [c for c in executed.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code)
    assert rig.dsn in "".join(o.get("text", "") for o in code[0].outputs)
    assert nbformat.read(AGENT, as_version=4).cells[1].get("outputs") == []  # untouched


def test_a_failing_cell_fails_the_run_naming_the_notebook(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ipynb"
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("raise ValueError('boom')")]
    nbformat.write(notebook, bad)
    done = run(str(bad), "--out-dir", str(tmp_path / "out"), dsn="llama-swap://127.0.0.1:9")
    assert done.returncode == 1
    assert "bad.ipynb failed" in done.stderr and "boom" in done.stderr
