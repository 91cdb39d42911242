"""Run the notebooks in ``notebooks/`` against the rig, storing their outputs: ``make notebooks``.

One rig serves all notebooks (their first cell reads ``LLAMASWAP_DSN``, which is set for
the kernels), unless ``LLAMASWAP_DSN`` is already set: then that llama-swap is used. Each
notebook is executed top to bottom and written back with its outputs, so a reader on the web
sees a real run. A notebook with a failing cell is left as it was; its executed copy, error
included, goes to ``.rig/notebooks/`` and the run fails naming the notebook and the cell.
``--out-dir DIR`` writes every executed copy to DIR instead and leaves the notebooks alone.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from llamaswap_rig.paths import REPO_ROOT, RIG_HOME
from llamaswap_rig.runner import Rig, RigError

NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
FAILED_DIR = RIG_HOME / "notebooks"
CELL_TIMEOUT = 900  # seconds per cell: a cold swap plus a slow answer on two cores


def run(notebook: nbformat.NotebookNode, folder: Path) -> None:
    """Execute ``notebook`` in place, its kernel working in ``folder``.

    Raises ``CellExecutionError`` at the first failing cell. Streams are merged and no
    per-cell timestamps are recorded, so a stored notebook changes only where its outputs do.
    """
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        record_timing=False,
        coalesce_streams=True,
        resources={"metadata": {"path": str(folder)}},
    )
    client.execute()


def execute(path: Path, out: Path | None = None) -> None:
    """Run ``path`` top to bottom and write it, outputs included, to ``out`` (default: back).

    When a cell fails, ``path`` is not touched: the executed copy goes to ``out`` if one was
    given, else to ``.rig/notebooks/``, and the ``CellExecutionError`` propagates.
    """
    notebook = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    try:
        run(notebook, path.parent)
    except CellExecutionError:
        failed = out or FAILED_DIR / path.name
        failed.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, failed)  # type: ignore[no-untyped-call]
        raise
    target = out or path
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, target)  # type: ignore[no-untyped-call]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m llamaswap_rig.notebooks", description=__doc__.splitlines()[0]
    )
    parser.add_argument("paths", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    parser.add_argument(
        "--out-dir",
        type=Path,
        help="write the executed copies here; leave the notebooks as they are",
    )
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.paths] or sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
    if not paths:
        print(f"no notebooks in {NOTEBOOKS_DIR}", file=sys.stderr)
        return 1
    rig: Rig | None = None
    if not os.environ.get("LLAMASWAP_DSN"):
        try:
            rig = Rig(name="notebooks").start()
        except RigError as exc:
            print(f"rig failed to start: {exc}", file=sys.stderr)
            return 1
        os.environ["LLAMASWAP_DSN"] = rig.dsn  # the kernels inherit it
    failed: list[str] = []
    try:
        for path in paths:
            out = args.out_dir / path.name if args.out_dir else None
            print(f"executing {path.name} -> {out or 'stored in place'}", flush=True)
            try:
                execute(path, out)
            except CellExecutionError as exc:
                failed.append(path.name)
                copy = out or FAILED_DIR / path.name
                print(
                    f"{path.name} failed (left as it was; run saved to {copy}):\n{exc}",
                    file=sys.stderr,
                )
    finally:
        if rig is not None:
            rig.stop()
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    print(f"{len(paths)} notebook(s) ran cleanly", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
