"""Importing an adapter without its extra names the extra to install (issue 15)."""

from __future__ import annotations

import subprocess
import sys

import pytest

CASES = [
    ("langchain_llamaswap", "openai", "llamaswap[langchain]"),
    ("langchain_llamaswap", "langchain_openai", "llamaswap[langchain]"),
    ("llama_index_llamaswap", "openai", "llamaswap[llama-index]"),
    ("llama_index.llms.llamaswap", "llama_index.core", "llamaswap[llama-index]"),
]


@pytest.mark.parametrize(("package", "absent", "extra"), CASES)
def test_import_without_a_dependency_names_the_extra(package: str, absent: str, extra: str) -> None:
    # sys.modules[name] = None makes that module unimportable, as if it were not installed.
    code = (
        f"import sys; sys.modules[{absent!r}] = None\n"
        f"try:\n    import {package}\n"
        "except ImportError as exc:\n    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert extra in out and absent in out
