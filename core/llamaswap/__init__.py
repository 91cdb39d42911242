"""llamaswap: a framework-free client for llama-swap, the model-swapping proxy.

Management (models, running, load, unload, events, logs, health, version), image generation
and edits, reranking and typed errors, over one pooled httpx client, sync and async::

    from llamaswap import LlamaSwapProvider

    with LlamaSwapProvider("llama-swap://127.0.0.1:8080") as p:
        p.load("qwen")
        print([m.id for m in p.running()])

LangChain classes live in ``langchain_llamaswap``, LlamaIndex ones in
``llama_index_llamaswap``; both expose this provider as ``.provider``.
"""

from llamaswap._version import __version__
from llamaswap._wire import DEFAULT_TIMEOUT, PLACEHOLDER_API_KEY
from llamaswap.dsn import DEFAULT_DSN, DSN, ENV_API_KEY, ENV_DSN, parse_dsn
from llamaswap.errors import (
    APIError,
    AuthenticationError,
    DSNError,
    IncompleteResponseError,
    InputTooLongError,
    LlamaSwapConnectionError,
    LlamaSwapError,
    LlamaSwapTimeoutError,
    ModelLoadError,
    NotFoundError,
    PoolTimeoutError,
    RateLimitError,
    ResponseDecodeError,
    UnsupportedFeatureError,
    UpstreamError,
)
from llamaswap.events import (
    Activity,
    Event,
    InFlight,
    LogData,
    ModelStatus,
    ModelStatusEntry,
    ProfileChanged,
    UIConfig,
    UnknownEvent,
)
from llamaswap.images import GeneratedImage, ImageResult
from llamaswap.loading import LOADING_EVENT, LOADING_FIELD, LoadingProgress, LoadingState
from llamaswap.long_inputs import EmbedInput, aembed_in_context, embed_in_context
from llamaswap.pool import PoolSettings
from llamaswap.provider import LlamaSwapProvider
from llamaswap.records import ModelInfo, RunningModel, VersionInfo
from llamaswap.rerank import RerankResult
from llamaswap.retry import RetryPolicy
from llamaswap.shared import shared_provider
from llamaswap.states import ModelState

__all__ = [
    "DEFAULT_DSN",
    "DEFAULT_TIMEOUT",
    "DSN",
    "ENV_API_KEY",
    "ENV_DSN",
    "LOADING_EVENT",
    "LOADING_FIELD",
    "PLACEHOLDER_API_KEY",
    "APIError",
    "Activity",
    "AuthenticationError",
    "DSNError",
    "EmbedInput",
    "Event",
    "GeneratedImage",
    "ImageResult",
    "InFlight",
    "IncompleteResponseError",
    "InputTooLongError",
    "LlamaSwapConnectionError",
    "LlamaSwapError",
    "LlamaSwapProvider",
    "LlamaSwapTimeoutError",
    "LoadingProgress",
    "LoadingState",
    "LogData",
    "ModelInfo",
    "ModelLoadError",
    "ModelState",
    "ModelStatus",
    "ModelStatusEntry",
    "NotFoundError",
    "PoolSettings",
    "PoolTimeoutError",
    "ProfileChanged",
    "RateLimitError",
    "RerankResult",
    "ResponseDecodeError",
    "RetryPolicy",
    "RunningModel",
    "UIConfig",
    "UnknownEvent",
    "UnsupportedFeatureError",
    "UpstreamError",
    "VersionInfo",
    "__version__",
    "aembed_in_context",
    "embed_in_context",
    "parse_dsn",
    "shared_provider",
]
