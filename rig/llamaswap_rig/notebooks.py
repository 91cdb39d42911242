"""Execute every notebook in ``notebooks/`` against the rig: ``make notebooks``.

One rig serves all notebooks (their first cell reads ``LLAMASWAP_DSN``, which is set
for the kernels), unless ``LLAMASWAP_DSN`` is already set: then that llama-swap is used.
Executed copies, outputs included, are written to ``.rig/notebooks/`` (git-ignored), or
back into the notebooks with ``--in-place``. A cell that raises fails the run, naming the
notebook and the cell.
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
OUT_DIR = RIG_HOME / "notebooks"
CELL_TIMEOUT = 900  # seconds per cell: a cold swap plus a slow answer on two cores


def execute(path: Path, out: Path) -> None:
    """Run ``path`` top to bottom (in its own folder) and write the executed copy to ``out``."""
    notebook = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    try:
        client.execute()
    finally:
        out.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, out)  # type: ignore[no-untyped-call]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m llamaswap_rig.notebooks", description=__doc__.splitlines()[0]
    )
    parser.add_argument("paths", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    parser.add_argument("--in-place", action="store_true", help="save outputs into the notebooks")
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR)
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
            out = path if args.in_place else args.out_dir / path.name
            print(f"executing {path.name} -> {out}", flush=True)
            try:
                execute(path, out)
            except CellExecutionError as exc:
                failed.append(path.name)
                print(f"{path.name} failed:\n{exc}", file=sys.stderr)
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
