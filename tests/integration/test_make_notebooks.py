"""``make notebooks`` executes the notebooks against the rig, stores their outputs in place,
and fails on a failing cell without touching that notebook."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat

from llamaswap_rig.runner import Rig

REPO = Path(__file__).resolve().parents[2]
# A small notebook in the shape of the real ones: it reads LLAMASWAP_DSN and asks llama-swap.
PROBE = (
    "import os\n"
    "from llamaswap import LlamaSwapProvider\n"
    "print(os.environ['LLAMASWAP_DSN'], LlamaSwapProvider(os.environ['LLAMASWAP_DSN']).health())"
)


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


def write(path: Path, *sources: str) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    nbformat.write(notebook, path)
    return path


def text(cell: nbformat.NotebookNode) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []))


def test_make_has_a_notebooks_rule() -> None:
    dry = subprocess.run(
        ["make", "-n", "notebooks"], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert dry.returncode == 0, dry.stderr
    assert "-m llamaswap_rig.notebooks" in dry.stdout


def test_a_notebook_is_executed_against_the_rig_and_stored_in_place(
    rig: Rig, tmp_path: Path
) -> None:
    probe = write(tmp_path / "probe.ipynb", PROBE)
    done = run(str(probe), dsn=rig.dsn)
    assert done.returncode == 0, done.stderr[-3000:]
    stored = nbformat.read(probe, as_version=4)
    assert stored.cells[0].execution_count == 1
    assert text(stored.cells[0]).strip() == f"{rig.dsn} True"


def test_out_dir_writes_the_executed_copy_and_leaves_the_notebook(rig: Rig, tmp_path: Path) -> None:
    probe = write(tmp_path / "probe.ipynb", PROBE)
    done = run(str(probe), "--out-dir", str(tmp_path / "out"), dsn=rig.dsn)
    assert done.returncode == 0, done.stderr[-3000:]
    assert text(nbformat.read(tmp_path / "out" / "probe.ipynb", as_version=4).cells[0])
    assert nbformat.read(probe, as_version=4).cells[0].get("outputs") == []


def test_a_failing_cell_fails_the_run_and_leaves_the_notebook_as_it_was(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.ipynb", "print('before')", "raise ValueError('boom')")
    before = bad.read_bytes()
    done = run(str(bad), dsn="llama-swap://127.0.0.1:9")
    assert done.returncode == 1
    assert "bad.ipynb failed" in done.stderr and "boom" in done.stderr
    assert bad.read_bytes() == before
    saved = done.stderr.split("run saved to ", 1)[1].split(")", 1)[0]
    assert "boom" in "".join(
        o.get("evalue", "") for c in nbformat.read(saved, as_version=4).cells for o in c.outputs
    )
