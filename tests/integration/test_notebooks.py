"""Every notebook in notebooks/ runs top to bottom against the rig (as CI does), and starts
the project's rig itself when ``LLAMASWAP_DSN`` is not set.

A notebook checks what its text tells the reader with ``assert`` in its cells, so a claim
that stops being true fails here as a cell error.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from llamaswap_rig.notebooks import run
from llamaswap_rig.runner import Rig

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


def test_the_quickstart_rag_and_agent_notebooks_are_there() -> None:
    assert {p.stem for p in NOTEBOOKS} >= {"quickstart", "rag_llamaswap", "agent_image_tool"}


def _outputs(notebook: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_and_shows_an_image(
    path: Path, rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLAMASWAP_DSN", rig.dsn)  # the kernel inherits it: no second rig
    notebook = nbformat.read(path, as_version=4)
    run(notebook, path.parent)  # raises CellExecutionError at the first failing cell
    assert not [o for o in _outputs(notebook) if o.output_type == "error"]
    assert [o for o in _outputs(notebook) if "image/png" in o.get("data", {})]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_starts_its_own_rig_without_a_dsn(
    path: Path, rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `rig` only makes sure the rig can start here (it fails in CI when it cannot).
    monkeypatch.delenv("LLAMASWAP_DSN", raising=False)
    notebook = nbformat.read(path, as_version=4)
    setup = next(c for c in notebook.cells if c.cell_type == "code")
    probe = nbformat.v4.new_code_cell(
        "assert rig is not None and rig.dsn == DSN and provider.health()\nrig.stop()\nprint('ok')"
    )
    notebook.cells = [setup, probe]
    run(notebook, path.parent)
    assert "llama-swap version:" in "".join(o.get("text", "") for o in setup.outputs)
    assert "".join(o.get("text", "") for o in probe.outputs).strip() == "ok"
