"""The wheel ships the three import packages and the LlamaIndex shims, never a `core` package."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_wheel_layout(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(REPO),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("llamaswap-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/", 1)[0] for n in names}
    assert tops == {
        "llamaswap",
        "langchain_llamaswap",
        "llama_index_llamaswap",
        "llama_index",
        "llamaswap-0.1.0.dist-info",
    }
    assert not any(n.startswith("core/") for n in names)
    for pkg in ("llamaswap", "langchain_llamaswap", "llama_index_llamaswap"):
        assert f"{pkg}/py.typed" in names
    # llama_index stays a namespace package: only our leaf modules, no __init__ above;
    # each is typed, so mypy sees the classes through the README's import paths.
    assert sorted(n for n in names if n.startswith("llama_index/")) == [
        "llama_index/embeddings/llamaswap/__init__.py",
        "llama_index/embeddings/llamaswap/py.typed",
        "llama_index/llms/llamaswap/__init__.py",
        "llama_index/llms/llamaswap/py.typed",
        "llama_index/postprocessor/llamaswap/__init__.py",
        "llama_index/postprocessor/llamaswap/py.typed",
        "llama_index/tools/llamaswap/__init__.py",
        "llama_index/tools/llamaswap/py.typed",
    ]
