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

from llama_index_llamaswap import _extra  # noqa: F401 (names the extra if one is missing)
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
from llamaswap import __version__
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
