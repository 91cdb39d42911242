"""Every ```python block of the README runs as written, in order, against the rig.

Two things are swapped for the rig's: the address ``llama-swap://127.0.0.1:8080`` becomes
the rig's DSN, and the ``"docs"`` folder the LlamaIndex example reads becomes a temporary
folder with the rig's RAG notes and one long document (longer than MiniLM's context once
chunked by LlamaIndex's default splitter). Blocks run in one namespace, in a temporary
working directory, so a README example that breaks fails here, naming its block.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from llama_index.core import Settings

from llamaswap_rig.runner import Rig

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
RAG = REPO / "tests" / "data" / "rag"
README_DSN = "llama-swap://127.0.0.1:8080"
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.S | re.M)


def python_blocks() -> list[str]:
    return BLOCK.findall(README.read_text())


def test_the_readme_has_python_examples() -> None:
    blocks = python_blocks()
    assert len(blocks) >= 4
    assert any("VectorStoreIndex" in b for b in blocks)


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    notes = [p.read_text() for p in sorted(RAG.glob("*.md"))]
    for i, note in enumerate(notes):
        (folder / f"note{i}.md").write_text(note)
    (folder / "long.md").write_text("\n\n".join(notes * 5))
    return folder


@pytest.fixture
def clean_settings() -> object:
    saved = (Settings._llm, Settings._embed_model)
    yield None
    Settings._llm, Settings._embed_model = saved


def test_every_python_block_runs_against_the_rig(
    rig: Rig,
    docs: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    clean_settings: object,
) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "__readme__"}
    for number, block in enumerate(python_blocks(), start=1):
        source = block.replace(README_DSN, rig.dsn).replace('"docs"', repr(str(docs)))
        first = block.strip().splitlines()[0]
        try:
            exec(compile(source, f"README.md python block {number}", "exec"), namespace)
        except Exception as exc:
            pytest.fail(f"README python block {number} ({first!r}) raised {exc!r}")
    assert (tmp_path / "fox.png").read_bytes().startswith(b"\x89PNG")
