"""Importing one class loads what that class needs, not the whole package (issue 14).

A script or worker pays for every module its first ``import`` pulls in. The three packages
load their submodules on first use of a name (PEP 562 ``__getattr__``), so
``from llamaswap import LlamaSwapProvider`` does not load speech, metrics or long-input
embedding, and ``from langchain_llamaswap import ChatLlamaSwap`` not the image and speech
tools. Every public name still resolves, ``import *`` still works, and what type checkers
read (the ``TYPE_CHECKING`` imports) names the same object run time returns.
"""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["llamaswap", "langchain_llamaswap", "llama_index_llamaswap"]


def _loaded_after(statement: str, then: str = "") -> list[str]:
    """``sys.modules`` of a fresh interpreter after ``statement`` (and ``then``)."""
    code = f"import json, sys\n{statement}\n{then}\nprint(json.dumps(sorted(sys.modules)))\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    loaded: list[str] = json.loads(done.stdout.splitlines()[-1])
    return loaded


def _unwanted(loaded: list[str], modules: list[str]) -> list[str]:
    return [m for m in modules if m in loaded or any(n.startswith(f"{m}.") for n in loaded)]


PROVIDER_NEEDS_NOT = [
    "llamaswap.audio",
    "llamaswap.events",
    "llamaswap.host",
    "llamaswap.images",
    "llamaswap.long_inputs",
    "llamaswap.metrics",
    "llamaswap.records",
    "llamaswap.rerank",
    "llamaswap.shared",
    "llamaswap.states",
    "llamaswap.cli",
    "llamaswap.openai_compat",
    "openai",
    "wave",
]


def test_provider_import_loads_no_room_it_does_not_use() -> None:
    loaded = _loaded_after("from llamaswap import LlamaSwapProvider")
    assert "llamaswap.provider" in loaded
    assert _unwanted(loaded, PROVIDER_NEEDS_NOT) == []


def test_a_room_loads_with_the_first_method_that_reads_it() -> None:
    then = (
        "import httpx\n"
        "def answer(request):\n"
        "    return httpx.Response(200, text='# TYPE llamaswap_up gauge\\nllamaswap_up 1\\n')\n"
        "client = httpx.Client(transport=httpx.MockTransport(answer))\n"
        "p = LlamaSwapProvider('http://llama-swap.test', http_client=client)\n"
        "assert 'llamaswap.metrics' not in sys.modules\n"
        "assert p.metrics().value('llamaswap_up') == 1\n"
    )
    loaded = _loaded_after("from llamaswap import LlamaSwapProvider", then)
    assert "llamaswap.metrics" in loaded
    assert _unwanted(loaded, ["llamaswap.audio", "llamaswap.host", "llamaswap.images"]) == []


def test_listing_records_load_with_the_first_call_that_reads_a_listing() -> None:
    then = (
        "import httpx\n"
        "def answer(request):\n"
        "    return httpx.Response(200, json={'object': 'list', 'data': [{'id': 'qwen'}]})\n"
        "client = httpx.Client(transport=httpx.MockTransport(answer))\n"
        "p = LlamaSwapProvider('http://llama-swap.test', http_client=client)\n"
        "assert 'llamaswap.records' not in sys.modules\n"
        "assert [m.id for m in p.list_models()] == ['qwen']\n"
    )
    loaded = _loaded_after("from llamaswap import LlamaSwapProvider", then)
    assert "llamaswap.records" in loaded


def test_chat_model_import_loads_no_tool_loader_or_other_model() -> None:
    loaded = _loaded_after("from langchain_llamaswap import ChatLlamaSwap")
    assert "langchain_llamaswap.chat_models" in loaded
    assert (
        _unwanted(
            loaded,
            [
                "langchain_llamaswap.audio",
                "langchain_llamaswap.tools",
                "langchain_llamaswap.rerank",
                "langchain_llamaswap.embeddings",
                "llamaswap.audio",
                "llamaswap.images",
                "llamaswap.rerank",
                "llamaswap.long_inputs",
                "langchain_text_splitters",
            ],
        )
        == []
    )


@pytest.mark.parametrize(
    "statement",
    [
        "from llama_index_llamaswap import LlamaSwap",
        "from llama_index.llms.llamaswap import LlamaSwap",
    ],
)
def test_llm_import_loads_no_tool_spec_reader_or_reranker(statement: str) -> None:
    loaded = _loaded_after(statement)
    assert "llama_index_llamaswap.llms" in loaded
    assert (
        _unwanted(
            loaded,
            [
                "llama_index_llamaswap.audio",
                "llama_index_llamaswap.tools",
                "llama_index_llamaswap.postprocessor",
                "llama_index_llamaswap.embeddings",
                "llamaswap.audio",
                "llamaswap.images",
                "llamaswap.rerank",
                "llamaswap.long_inputs",
            ],
        )
        == []
    )


@pytest.mark.parametrize("package", PACKAGES)
def test_star_import_binds_every_public_name(package: str) -> None:
    code = (
        f"from {package} import *\n"
        f"import {package} as pkg\n"
        "missing = [n for n in pkg.__all__ if n not in globals()]\n"
        "assert not missing, missing\n"
        "unlisted = [n for n in pkg.__all__ if n not in dir(pkg)]\n"
        "assert not unlisted, unlisted\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def _checked_imports(package: ModuleType) -> dict[str, str]:
    """``{name: module}`` of the imports under ``if TYPE_CHECKING:`` in ``package``."""
    assert package.__file__ is not None
    tree = ast.parse(Path(package.__file__).read_text())
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom) and stmt.module
                found.update({alias.name: stmt.module for alias in stmt.names})
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_type_checkers_see_the_object_run_time_returns(package: str) -> None:
    pkg = importlib.import_module(package)
    checked = _checked_imports(pkg)
    assert set(checked) == set(pkg.__all__) - {"__version__"}
    for name, module in checked.items():
        assert getattr(pkg, name) is getattr(importlib.import_module(module), name), name


@pytest.mark.parametrize("package", PACKAGES)
def test_an_unknown_name_is_an_attribute_error_naming_it(package: str) -> None:
    pkg = importlib.import_module(package)
    with pytest.raises(AttributeError, match="'NoSuchThing'"):
        pkg.NoSuchThing  # noqa: B018
    with pytest.raises(ImportError, match="NoSuchThing"):
        exec(f"from {package} import NoSuchThing", {})
