"""The errors the LangChain classes raise: llama-swap's, the OpenAI SDK's and LangChain's at once.

Each class here is a :mod:`llamaswap` typed error (message naming the model and
llama-swap's reason, attributes such as ``available`` or ``retry_after``), the OpenAI SDK's
class for the same status and LangChain's own class, so ``except llamaswap.NotFoundError``,
``except openai.NotFoundError`` and ``except langchain_core.exceptions.ModelNotFoundError``
all catch what ``ChatLlamaSwap`` or ``LlamaSwapEmbeddings`` raise for an unknown model.
"""

from __future__ import annotations

from typing import NoReturn

from langchain_core import exceptions as lc

from llamaswap import LlamaSwapError
from llamaswap import openai_compat as compat

_CONTEXT_CODE = "context_length_exceeded"


class BadRequestError(compat.BadRequestError, lc.ModelInvalidRequestError):
    """400: llamaswap ``APIError``, ``openai.BadRequestError``, LangChain's invalid request."""


class ContextOverflowError(compat.BadRequestError, lc.ContextOverflowError):
    """400 for a prompt longer than the model's context (llama.cpp or OpenAI wording)."""


class AuthenticationError(compat.AuthenticationError, lc.ModelAuthenticationError):
    """401: a missing or wrong llama-swap key."""


class PermissionDeniedError(compat.PermissionDeniedError, lc.ModelPermissionDeniedError):
    """403 from the model server."""


class NotFoundError(compat.NotFoundError, lc.ModelNotFoundError):
    """404: an unknown model (see ``available``), or a route its server lacks (``route``)."""


class RateLimitError(compat.RateLimitError, lc.ModelRateLimitError):
    """429: over the model's ``concurrencyLimit`` (see ``retry_after``)."""


class ModelLoadError(compat.ModelLoadError, lc.ModelAPIError):
    """500: llama-swap could not start the model (see ``model`` and ``reason``)."""


class UpstreamError(compat.UpstreamError, lc.ModelAPIError):
    """5xx: the model server died or failed."""


class APIConnectionError(compat.APIConnectionError, lc.ModelConnectionError):
    """llama-swap could not be reached, or dropped the connection (the message says which)."""


class APITimeoutError(compat.APITimeoutError, lc.ModelTimeoutError):
    """A timeout the caller set ran out."""


# Each class's first base is the openai_compat class it extends with LangChain's.
_TRIPLES: dict[type[BaseException], type[BaseException]] = {
    cls.__bases__[0]: cls
    for cls in (
        BadRequestError,
        AuthenticationError,
        PermissionDeniedError,
        NotFoundError,
        RateLimitError,
        ModelLoadError,
        UpstreamError,
        APIConnectionError,
        APITimeoutError,
    )
}


def llamaswap_error(exc: BaseException) -> BaseException | None:
    """The error of this module to raise instead of ``exc``, if there is one.

    ``exc`` is an OpenAI SDK client's error (llamaswap's typed error that is also the
    SDK's), or LangChain's re-raise of one as its own class (``OpenAIRateLimitError``
    ...) from that original. The result is one error that is all three classes.
    """
    if isinstance(exc, LlamaSwapError):
        source: BaseException = exc
    elif isinstance(exc.__cause__, LlamaSwapError):
        source = exc.__cause__
    else:
        return None
    cls = _TRIPLES.get(type(source))
    overflow = isinstance(exc, lc.ContextOverflowError) or (
        getattr(source, "code", None) == _CONTEXT_CODE
    )
    if overflow and isinstance(source, compat.BadRequestError):
        cls = ContextOverflowError
    if cls is None:
        return None
    parts = (source,) if exc is source else (exc, source)
    return compat.merged_error(cls, str(source), *parts)


def reraise(exc: BaseException) -> NoReturn:
    """Raise this module's error for ``exc`` (see :func:`llamaswap_error`), else ``exc``."""
    better = llamaswap_error(exc)
    if better is None:
        raise exc
    raise better from exc


__all__ = [
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
    "llamaswap_error",
    "reraise",
]


class PoolTimeoutError(compat.PoolTimeoutError, lc.ModelTimeoutError):
    """No pooled connection came free in time (``llamaswap.PoolTimeoutError``), nothing sent."""


_TRIPLES[compat.PoolTimeoutError] = PoolTimeoutError
__all__ += ["PoolTimeoutError"]
