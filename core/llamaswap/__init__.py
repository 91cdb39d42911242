"""llamaswap: a framework-free client for llama-swap, the model-swapping proxy.

Management (models, running, load, unload, events, logs, health, version, profiles,
props, metrics, hardware, cancel, capabilities), image generation and edits, reranking,
speech and transcription, and typed errors, over one pooled httpx client, sync and async::

    from llamaswap import LlamaSwapProvider

    with LlamaSwapProvider("llama-swap://127.0.0.1:8080") as p:
        p.load("qwen")
        print([m.id for m in p.running()])

LangChain classes live in ``langchain_llamaswap``, LlamaIndex ones in
``llama_index_llamaswap``; both expose this provider as ``.provider``.
"""

import sys
from typing import TYPE_CHECKING, Any

from llamaswap._version import __version__

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time __getattr__ below
    from llamaswap._wire import DEFAULT_TIMEOUT, PLACEHOLDER_API_KEY
    from llamaswap.audio import SpeechResult, Transcription, TranscriptSegment
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
    from llamaswap.features import ENDPOINT_SINCE, check_endpoint, endpoint_since, require_endpoint
    from llamaswap.host import Accelerator, HardwareInfo, ModelProps, Profile, Profiles
    from llamaswap.images import GeneratedImage, ImageResult
    from llamaswap.loading import LOADING_EVENT, LOADING_FIELD, LoadingProgress, LoadingState
    from llamaswap.long_inputs import EmbedInput, aembed_in_context, embed_in_context
    from llamaswap.metrics import Metrics, MetricSample, parse_prometheus
    from llamaswap.pool import PoolSettings
    from llamaswap.provider import (
        CAPABILITIES,
        LISTING_MAX_AGE,
        MODEL_LOOKUP_TIMEOUT,
        LlamaSwapProvider,
    )
    from llamaswap.records import ModelInfo, RunningModel, VersionInfo
    from llamaswap.rerank import RerankResult
    from llamaswap.retry import RetryPolicy
    from llamaswap.shared import shared_provider
    from llamaswap.states import ModelState

# Each submodule and the public names it holds: a submodule is imported on first use of one of
# its names, so `from llamaswap import LlamaSwapProvider` does not load audio, metrics, host,
# long-input embedding ... (PEP 562). Keep in step with the TYPE_CHECKING block (a unit test
# compares them).
_LAZY: dict[str, tuple[str, ...]] = {
    "llamaswap._wire": ("DEFAULT_TIMEOUT", "PLACEHOLDER_API_KEY"),
    "llamaswap.audio": ("SpeechResult", "Transcription", "TranscriptSegment"),
    "llamaswap.dsn": ("DEFAULT_DSN", "DSN", "ENV_API_KEY", "ENV_DSN", "parse_dsn"),
    "llamaswap.errors": (
        "APIError",
        "AuthenticationError",
        "DSNError",
        "IncompleteResponseError",
        "InputTooLongError",
        "LlamaSwapConnectionError",
        "LlamaSwapError",
        "LlamaSwapTimeoutError",
        "ModelLoadError",
        "NotFoundError",
        "PoolTimeoutError",
        "RateLimitError",
        "ResponseDecodeError",
        "UnsupportedFeatureError",
        "UpstreamError",
    ),
    "llamaswap.events": (
        "Activity",
        "Event",
        "InFlight",
        "LogData",
        "ModelStatus",
        "ModelStatusEntry",
        "ProfileChanged",
        "UIConfig",
        "UnknownEvent",
    ),
    "llamaswap.features": (
        "ENDPOINT_SINCE",
        "check_endpoint",
        "endpoint_since",
        "require_endpoint",
    ),
    "llamaswap.host": ("Accelerator", "HardwareInfo", "ModelProps", "Profile", "Profiles"),
    "llamaswap.images": ("GeneratedImage", "ImageResult"),
    "llamaswap.loading": ("LOADING_EVENT", "LOADING_FIELD", "LoadingProgress", "LoadingState"),
    "llamaswap.long_inputs": ("EmbedInput", "aembed_in_context", "embed_in_context"),
    "llamaswap.metrics": ("Metrics", "MetricSample", "parse_prometheus"),
    "llamaswap.pool": ("PoolSettings",),
    "llamaswap.provider": (
        "CAPABILITIES",
        "LISTING_MAX_AGE",
        "MODEL_LOOKUP_TIMEOUT",
        "LlamaSwapProvider",
    ),
    "llamaswap.records": ("ModelInfo", "RunningModel", "VersionInfo"),
    "llamaswap.rerank": ("RerankResult",),
    "llamaswap.retry": ("RetryPolicy",),
    "llamaswap.shared": ("shared_provider",),
    "llamaswap.states": ("ModelState",),
}
_WHERE = {name: module for module, names in _LAZY.items() for name in names}

__all__ = [
    "CAPABILITIES",
    "DEFAULT_DSN",
    "DEFAULT_TIMEOUT",
    "DSN",
    "ENDPOINT_SINCE",
    "ENV_API_KEY",
    "ENV_DSN",
    "LISTING_MAX_AGE",
    "LOADING_EVENT",
    "LOADING_FIELD",
    "MODEL_LOOKUP_TIMEOUT",
    "PLACEHOLDER_API_KEY",
    "APIError",
    "Accelerator",
    "Activity",
    "AuthenticationError",
    "DSNError",
    "EmbedInput",
    "Event",
    "GeneratedImage",
    "HardwareInfo",
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
    "MetricSample",
    "Metrics",
    "ModelInfo",
    "ModelLoadError",
    "ModelProps",
    "ModelState",
    "ModelStatus",
    "ModelStatusEntry",
    "NotFoundError",
    "PoolSettings",
    "PoolTimeoutError",
    "Profile",
    "ProfileChanged",
    "Profiles",
    "RateLimitError",
    "RerankResult",
    "ResponseDecodeError",
    "RetryPolicy",
    "RunningModel",
    "SpeechResult",
    "TranscriptSegment",
    "Transcription",
    "UIConfig",
    "UnknownEvent",
    "UnsupportedFeatureError",
    "UpstreamError",
    "VersionInfo",
    "__version__",
    "aembed_in_context",
    "check_endpoint",
    "embed_in_context",
    "endpoint_since",
    "parse_dsn",
    "parse_prometheus",
    "require_endpoint",
    "shared_provider",
]


if not TYPE_CHECKING:  # hidden from mypy, which would otherwise let any name through

    def __getattr__(name: str) -> Any:
        module = _WHERE.get(name)
        if module is None:
            raise AttributeError(f"module 'llamaswap' has no attribute {name!r}")
        __import__(module)  # not importlib.import_module: -X importtime would not see it
        value = getattr(sys.modules[module], name)
        globals()[name] = value  # later lookups are plain attribute reads
        return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
