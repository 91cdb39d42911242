"""Fail at import, naming the extra to install, when LlamaIndex's dependencies are missing."""

from importlib.util import find_spec

_NEEDS = ("openai", "llama_index.core", "llama_index.llms.openai", "llama_index.llms.openai_like")


def _absent(name: str) -> bool:
    try:
        return find_spec(name) is None
    except ModuleNotFoundError:  # a parent package is missing
        return True


missing = [name for name in _NEEDS if _absent(name)]
if missing:
    raise ImportError(
        f"llama_index_llamaswap needs {', '.join(missing)}, which is not installed: "
        "pip install 'llamaswap[llama-index]'"
    )
