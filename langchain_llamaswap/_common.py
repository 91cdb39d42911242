"""Shared plumbing: from DSN and key to the shared provider and OpenAI SDK clients.

Every class here talks to llama-swap through one :func:`llamaswap.shared_provider`, so a
chat model, its embeddings and the image tool share one connection pool and one
``.provider`` for management. The OpenAI SDK clients reuse that provider's httpx clients,
never retry on their own (``max_retries`` is llamaswap's safe retry layer instead), and
raise llama-swap's typed errors, which are also the SDK's and LangChain's error classes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
from pydantic import SecretStr

from langchain_llamaswap.errors import llamaswap_error as llamaswap_error
from llamaswap import (
    PLACEHOLDER_API_KEY,
    LlamaSwapProvider,
    parse_dsn,
    shared_provider,
)
from llamaswap import openai_compat as compat
from llamaswap._wire import DEFAULT_TIMEOUT

ENV_API_KEY = "LLAMASWAP_API_KEY"
"""Environment variable read for ``api_key`` when none is passed (the DSN may hold it too)."""

NO_READ_TIMEOUT = DEFAULT_TIMEOUT
"""Default request timeout: connecting is bounded, waiting is not, because a cold swap
(stop the old model, start the new one, wait for health) can take minutes."""

# The OpenAI SDK reads OPENAI_ORG_ID / OPENAI_PROJECT_ID from the environment and sends them
# as headers; they mean nothing to llama-swap and must not leave the process.
_DROP_OPENAI_HEADERS: dict[str, Any] = dict(compat.DROP_OPENAI_HEADERS)


def provider_async_client(provider: LlamaSwapProvider) -> httpx.AsyncClient:
    """The provider's one async client that follows its pool to each event loop."""
    return provider.sdk_async_http_client()


def as_secret(value: SecretStr | str | None) -> SecretStr | None:
    """Wrap a plain string in ``SecretStr`` so it never shows in a repr."""
    if isinstance(value, str):
        return SecretStr(value) if value else None
    return value


def secret_text(value: SecretStr | str | None) -> str | None:
    """The plain text of an optional secret."""
    if value is None:
        return None
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    return text or None


def resolve_provider(
    dsn: SecretStr | str | None,
    base_url: str | None,
    api_key: SecretStr | str | None,
) -> LlamaSwapProvider:
    """The shared provider for this address and key.

    ``base_url`` (a plain, non-secret URL) wins over ``dsn`` when given, and must not hold a
    key: a key in a plain field would end up in reprs and serialized configs.
    """
    address = secret_text(dsn)
    if base_url:
        if parse_dsn(base_url).api_key:
            raise ValueError(
                "base_url must not contain a key; pass it as api_key=... or inside dsn=..."
            )
        address = base_url
    return shared_provider(address, api_key=secret_text(api_key))


def openai_client_kwargs(
    provider: LlamaSwapProvider,
    *,
    timeout: Any,
    default_headers: Mapping[str, str] | None,
    default_query: Mapping[str, object] | None,
) -> dict[str, Any]:
    """Keyword arguments for ``openai.OpenAI``/``AsyncOpenAI`` aimed at llama-swap.

    The SDK's own retries are always off: it would resend 5xx answers and timeouts, which
    may have started a model swap. ``max_retries`` on the classes is applied by
    :meth:`~llamaswap.LlamaSwapProvider.sdk_http_client` and its async twin instead.
    """
    headers: dict[str, Any] = dict(_DROP_OPENAI_HEADERS)
    headers.update(default_headers or {})
    kwargs: dict[str, Any] = {
        "api_key": provider.api_key or PLACEHOLDER_API_KEY,
        "base_url": provider.openai_base_url,
        "timeout": NO_READ_TIMEOUT if timeout is None else timeout,
        "max_retries": 0,
        "default_headers": headers,
        "organization": None,
        "project": None,
    }
    if default_query:
        kwargs["default_query"] = default_query
    return kwargs
