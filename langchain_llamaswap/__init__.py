"""LangChain integrations for llama-swap: chat, embeddings, tools, reranking and audio.

Every class takes a ``dsn`` (``llama-swap://[key@]host:port``, default
``$LLAMASWAP_DSN``) and expose the shared :class:`llamaswap.LlamaSwapProvider` as
``.provider`` for listing, loading and unloading models. Their errors are exported here
too (``NotFoundError`` ...): each is llamaswap's, the OpenAI SDK's and LangChain's class.
"""

from langchain_llamaswap import _extra  # noqa: F401 (names the extra if one is missing)
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
from llamaswap import __version__

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
