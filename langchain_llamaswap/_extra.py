"""Fail at import, naming the extra to install, when LangChain's dependencies are missing."""

from importlib.util import find_spec

_NEEDS = ("openai", "langchain_core", "langchain_openai")

missing = [name for name in _NEEDS if find_spec(name) is None]
if missing:
    raise ImportError(
        f"langchain_llamaswap needs {', '.join(missing)}, which is not installed: "
        "pip install 'llamaswap[langchain]'"
    )
