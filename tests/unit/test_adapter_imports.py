"""Adapters import only core's public names (issue 11).

``core/llamaswap`` owns every wire decision; its ``_private`` modules may change shape at
any time. An adapter reaching into one would silently depend on that shape.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ADAPTERS = ["langchain_llamaswap", "llama_index_llamaswap", "llama_index"]


def _private(part: str) -> bool:
    return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))


def _private_imports(path: Path) -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "llamaswap" and any(_private(p) for p in parts[1:]):
                found.append(f"{path}:{node.lineno}: {name}")
    return found


def test_no_adapter_imports_a_private_core_module() -> None:
    files = [p for d in ADAPTERS for p in sorted((ROOT / d).rglob("*.py"))]
    assert any(p.parent.name == "langchain_llamaswap" for p in files)
    assert any(p.parent.name == "llama_index_llamaswap" for p in files)
    private = [hit for path in files for hit in _private_imports(path)]
    assert not private, "adapters import core internals:\n" + "\n".join(private)


def test_the_scan_sees_a_private_import(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("from llamaswap._wire import DEFAULT_TIMEOUT\nfrom llamaswap import _ops\n")
    hits = [h.rsplit(": ", 1)[1] for h in _private_imports(probe)]
    assert hits == ["llamaswap._wire", "llamaswap._wire.DEFAULT_TIMEOUT", "llamaswap._ops"]
