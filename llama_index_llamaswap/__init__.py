"""LlamaIndex integrations for llama-swap: an LLM, embeddings, image tools and a reranker.

::

    from llama_index_llamaswap import LlamaSwap, LlamaSwapEmbedding, LlamaSwapImageToolSpec

    llm = LlamaSwap(model="qwen", dsn="llama-swap://127.0.0.1:8080", max_tokens=128)
    embed = LlamaSwapEmbedding(model="embed", dsn="llama-swap://127.0.0.1:8080")
    tools = LlamaSwapImageToolSpec(model="sd", dsn="llama-swap://127.0.0.1:8080").to_tool_list()

Every class exposes the shared :class:`llamaswap.LlamaSwapProvider` for its address as
``.provider``. The same classes import from ``llama_index.llms.llamaswap``,
``llama_index.embeddings.llamaswap``, ``llama_index.tools.llamaswap``,
``llama_index.postprocessor.llamaswap`` and (the audio reader)
``llama_index.readers.llamaswap``. The errors they
raise are exported here too (``NotFoundError`` ...): each is llamaswap's typed error and
the OpenAI SDK's class for the same failure (defined in :mod:`llamaswap.openai_compat`).
"""

import sys
from typing import TYPE_CHECKING, Any

from llama_index_llamaswap import _extra  # noqa: F401 (names the extra if one is missing)
from llamaswap import __version__

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time __getattr__ below
    from llama_index_llamaswap.audio import (
        LlamaSwapAudioReader,
        LlamaSwapSpeechToolSpec,
        to_audio_block,
    )
    from llama_index_llamaswap.embeddings import LlamaSwapEmbedding
    from llama_index_llamaswap.llms import FALLBACK_CONTEXT_WINDOW, LlamaSwap
    from llama_index_llamaswap.loading import LlamaSwapLoadingEvent
    from llama_index_llamaswap.postprocessor import LlamaSwapRerank
    from llama_index_llamaswap.tools import LlamaSwapImageToolSpec, to_image_block, to_image_blocks
    from llamaswap.openai_compat import (
        APIConnectionError,
        APITimeoutError,
        AuthenticationError,
        BadRequestError,
        ModelLoadError,
        NotFoundError,
        PermissionDeniedError,
        RateLimitError,
        UpstreamError,
    )

# Each module and the public names it holds, imported on first use of one of them (PEP 562):
# `from llama_index_llamaswap import LlamaSwap`, or `llama_index.llms.llamaswap`, loads
# neither the image and speech tool specs nor the reranker. Keep in step with the
# TYPE_CHECKING block (a unit test compares them).
_LAZY: dict[str, tuple[str, ...]] = {
    "llama_index_llamaswap.audio": (
        "LlamaSwapAudioReader",
        "LlamaSwapSpeechToolSpec",
        "to_audio_block",
    ),
    "llama_index_llamaswap.embeddings": ("LlamaSwapEmbedding",),
    "llama_index_llamaswap.llms": ("FALLBACK_CONTEXT_WINDOW", "LlamaSwap"),
    "llama_index_llamaswap.loading": ("LlamaSwapLoadingEvent",),
    "llama_index_llamaswap.postprocessor": ("LlamaSwapRerank",),
    "llama_index_llamaswap.tools": ("LlamaSwapImageToolSpec", "to_image_block", "to_image_blocks"),
    "llamaswap.openai_compat": (
        "APIConnectionError",
        "APITimeoutError",
        "AuthenticationError",
        "BadRequestError",
        "ModelLoadError",
        "NotFoundError",
        "PermissionDeniedError",
        "RateLimitError",
        "UpstreamError",
    ),
}
_WHERE = {name: module for module, names in _LAZY.items() for name in names}

__all__ = [
    "FALLBACK_CONTEXT_WINDOW",
    "APIConnectionError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "LlamaSwap",
    "LlamaSwapAudioReader",
    "LlamaSwapEmbedding",
    "LlamaSwapImageToolSpec",
    "LlamaSwapLoadingEvent",
    "LlamaSwapRerank",
    "LlamaSwapSpeechToolSpec",
    "ModelLoadError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "UpstreamError",
    "__version__",
    "to_audio_block",
    "to_image_block",
    "to_image_blocks",
]


if not TYPE_CHECKING:  # hidden from mypy, which would otherwise let any name through

    def __getattr__(name: str) -> Any:
        module = _WHERE.get(name)
        if module is None:
            raise AttributeError(f"module 'llama_index_llamaswap' has no attribute {name!r}")
        __import__(module)  # not importlib.import_module: -X importtime would not see it
        value = getattr(sys.modules[module], name)
        globals()[name] = value  # later lookups are plain attribute reads
        return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
