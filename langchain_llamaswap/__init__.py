"""LangChain integrations for llama-swap: chat, embeddings, tools, reranking and audio.

Every class takes a ``dsn`` (``llama-swap://[key@]host:port``, default
``$LLAMASWAP_DSN``) and expose the shared :class:`llamaswap.LlamaSwapProvider` as
``.provider`` for listing, loading and unloading models. Their errors are exported here
too (``NotFoundError`` ...): each is llamaswap's, the OpenAI SDK's and LangChain's class.
"""

import sys
from typing import TYPE_CHECKING, Any

from langchain_llamaswap import _extra  # noqa: F401 (names the extra if one is missing)
from llamaswap import __version__

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time __getattr__ below
    from langchain_llamaswap.audio import (
        LlamaSwapAudioLoader,
        LlamaSwapAudioParser,
        LlamaSwapSpeechTool,
        SpeechArtifact,
        SpeechInput,
        audio_content_block,
    )
    from langchain_llamaswap.chat_models import ChatLlamaSwap
    from langchain_llamaswap.embeddings import LlamaSwapEmbeddings
    from langchain_llamaswap.errors import (
        APIConnectionError,
        APITimeoutError,
        AuthenticationError,
        BadRequestError,
        ContextOverflowError,
        ModelLoadError,
        NotFoundError,
        PermissionDeniedError,
        RateLimitError,
        UpstreamError,
    )
    from langchain_llamaswap.rerank import LlamaSwapRerank
    from langchain_llamaswap.tools import (
        ImageArtifact,
        ImageEditInput,
        ImageGenerationInput,
        LlamaSwapImageEditTool,
        LlamaSwapImageTool,
        artifact_images,
        image_content_block,
        image_message,
    )

# Each submodule and the public names it holds, imported on first use of one of them
# (PEP 562): `from langchain_llamaswap import ChatLlamaSwap` loads neither the image and
# speech tools nor the audio loaders. Keep in step with the TYPE_CHECKING block (a unit test
# compares them).
_LAZY: dict[str, tuple[str, ...]] = {
    "langchain_llamaswap.audio": (
        "LlamaSwapAudioLoader",
        "LlamaSwapAudioParser",
        "LlamaSwapSpeechTool",
        "SpeechArtifact",
        "SpeechInput",
        "audio_content_block",
    ),
    "langchain_llamaswap.chat_models": ("ChatLlamaSwap",),
    "langchain_llamaswap.embeddings": ("LlamaSwapEmbeddings",),
    "langchain_llamaswap.errors": (
        "APIConnectionError",
        "APITimeoutError",
        "AuthenticationError",
        "BadRequestError",
        "ContextOverflowError",
        "ModelLoadError",
        "NotFoundError",
        "PermissionDeniedError",
        "RateLimitError",
        "UpstreamError",
    ),
    "langchain_llamaswap.rerank": ("LlamaSwapRerank",),
    "langchain_llamaswap.tools": (
        "ImageArtifact",
        "ImageEditInput",
        "ImageGenerationInput",
        "LlamaSwapImageEditTool",
        "LlamaSwapImageTool",
        "artifact_images",
        "image_content_block",
        "image_message",
    ),
}
_WHERE = {name: module for module, names in _LAZY.items() for name in names}

__all__ = [
    "APIConnectionError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ChatLlamaSwap",
    "ContextOverflowError",
    "ImageArtifact",
    "ImageEditInput",
    "ImageGenerationInput",
    "LlamaSwapAudioLoader",
    "LlamaSwapAudioParser",
    "LlamaSwapEmbeddings",
    "LlamaSwapImageEditTool",
    "LlamaSwapImageTool",
    "LlamaSwapRerank",
    "LlamaSwapSpeechTool",
    "ModelLoadError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "SpeechArtifact",
    "SpeechInput",
    "UpstreamError",
    "__version__",
    "artifact_images",
    "audio_content_block",
    "image_content_block",
    "image_message",
]


if not TYPE_CHECKING:  # hidden from mypy, which would otherwise let any name through

    def __getattr__(name: str) -> Any:
        module = _WHERE.get(name)
        if module is None:
            raise AttributeError(f"module 'langchain_llamaswap' has no attribute {name!r}")
        __import__(module)  # not importlib.import_module: -X importtime would not see it
        value = getattr(sys.modules[module], name)
        globals()[name] = value  # later lookups are plain attribute reads
        return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
