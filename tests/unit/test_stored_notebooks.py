"""The notebooks are stored with the outputs of one real, complete run (``make notebooks``),
so a reader on the web sees answers, images and plots without running anything."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))
IDS = [p.stem for p in NOTEBOOKS]
VERSION_LINE = re.compile(r"llama-swap version: (\S+)")


def _code(notebook: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [c for c in notebook.cells if c.cell_type == "code"]


def missing_outputs(notebook: nbformat.NotebookNode) -> list[str]:
    """Why ``notebook`` does not look like one complete top-to-bottom run, if it does not."""
    code = _code(notebook)
    problems = []
    if not any(c.get("outputs") for c in code):
        problems.append("no outputs at all")
    counts = [c.get("execution_count") for c in code]
    if counts != list(range(1, len(code) + 1)):
        problems.append(f"cells not run once, in order (execution counts {counts})")
    return problems


def bad_outputs(notebook: nbformat.NotebookNode) -> list[str]:
    """Error outputs and text written to stderr (tracebacks, warnings) in ``notebook``."""
    found = []
    for index, cell in enumerate(_code(notebook)):
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                found.append(f"code cell {index}: {output.ename}: {output.evalue}")
            elif output.output_type == "stream" and output.name == "stderr":
                found.append(f"code cell {index} wrote to stderr: {output.text[:200]!r}")
    return found


def test_the_checks_catch_a_notebook_without_outputs_or_with_an_error() -> None:
    blank = new_notebook(cells=[new_code_cell("print(1)"), new_code_cell("1 / 0")])
    assert missing_outputs(blank) == [
        "no outputs at all",
        "cells not run once, in order (execution counts [None, None])",
    ]
    failed = new_notebook(
        cells=[
            new_code_cell("print(1)", execution_count=1, outputs=[new_output("stream", text="1")]),
            new_code_cell(
                "1 / 0",
                execution_count=2,
                outputs=[new_output("error", ename="ZeroDivisionError", evalue="x", traceback=[])],
            ),
        ]
    )
    assert missing_outputs(failed) == []
    assert bad_outputs(failed) == ["code cell 1: ZeroDivisionError: x"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_stored_notebook_holds_one_complete_run(path: Path) -> None:
    assert missing_outputs(nbformat.read(path, as_version=4)) == [], "run `make notebooks`"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_stored_notebook_has_no_error_or_stderr_output(path: Path) -> None:
    assert bad_outputs(nbformat.read(path, as_version=4)) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_stored_notebook_shows_an_image(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    images = [
        o for c in _code(notebook) for o in c.get("outputs", []) if "image/png" in o.get("data", {})
    ]
    assert images, "the quickstart and agent notebooks show an image, the RAG notebook a plot"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_stored_run_was_against_a_real_llama_swap(path: Path) -> None:
    setup = _code(nbformat.read(path, as_version=4))[0]
    found = VERSION_LINE.search("".join(o.get("text", "") for o in setup.get("outputs", [])))
    assert found, "the first cell prints the llama-swap version it talks to"
    assert not found.group(1).startswith("double"), "stored from the Python double"
