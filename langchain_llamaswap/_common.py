"""Shared plumbing: from DSN and key to the shared provider and OpenAI SDK clients.

Every class here talks to llama-swap through one :func:`llamaswap.shared_provider`, so a
chat model, its embeddings and the image tool share one connection pool and one
``.provider`` for management. The OpenAI SDK clients reuse that provider's httpx clients.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping
from typing import Any

import httpx
import openai
from pydantic import SecretStr

from llamaswap import LlamaSwapProvider, parse_dsn, shared_provider

ENV_API_KEY = "LLAMASWAP_API_KEY"
"""Environment variable read for ``api_key`` when none is passed (the DSN may hold it too)."""

PLACEHOLDER_API_KEY = "llama-swap-no-key"
"""Sent as the bearer when no key is configured: a keyless llama-swap ignores it, and the
OpenAI SDK never raises "missing credentials"."""

NO_READ_TIMEOUT = httpx.Timeout(connect=10.0, read=None, write=None, pool=None)
"""Default request timeout: connecting is bounded, waiting is not, because a cold swap
(stop the old model, start the new one, wait for health) can take minutes."""

# The OpenAI SDK reads OPENAI_ORG_ID / OPENAI_PROJECT_ID from the environment and sends them
# as headers; they mean nothing to llama-swap and must not leave the process.
_DROP_OPENAI_HEADERS: dict[str, Any] = {
    "OpenAI-Organization": openai.omit,
    "OpenAI-Project": openai.omit,
}


class _ProviderAsyncTransport(httpx.AsyncBaseTransport):
    """Send each request through the provider's async client for the running event loop.

    httpx connections belong to the loop that opened them, and the provider replaces its
    async client when a new loop uses it; an OpenAI SDK client built once must therefore
    not keep a reference to one ``httpx.AsyncClient`` but ask the provider per request.
    """

    def __init__(self, provider: LlamaSwapProvider) -> None:
        self._provider = provider

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        client = self._provider.async_http_client
        return await client.send(request, stream=True)


_ASYNC_CLIENTS: weakref.WeakKeyDictionary[LlamaSwapProvider, httpx.AsyncClient] = (
    weakref.WeakKeyDictionary()
)
_ASYNC_LOCK = threading.Lock()


def provider_async_client(provider: LlamaSwapProvider) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` for the OpenAI SDK that rides on the provider's async pool."""
    with _ASYNC_LOCK:
        client = _ASYNC_CLIENTS.get(provider)
        if client is None:
            client = httpx.AsyncClient(
                transport=_ProviderAsyncTransport(provider),
                timeout=NO_READ_TIMEOUT,
                follow_redirects=False,
            )
            _ASYNC_CLIENTS[provider] = client
        return client


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
    max_retries: int | None,
    default_headers: Mapping[str, str] | None,
    default_query: Mapping[str, object] | None,
) -> dict[str, Any]:
    """Keyword arguments for ``openai.OpenAI``/``AsyncOpenAI`` aimed at llama-swap."""
    headers: dict[str, Any] = dict(_DROP_OPENAI_HEADERS)
    headers.update(default_headers or {})
    kwargs: dict[str, Any] = {
        "api_key": provider.api_key or PLACEHOLDER_API_KEY,
        "base_url": provider.openai_base_url,
        "timeout": NO_READ_TIMEOUT if timeout is None else timeout,
        "max_retries": max_retries or 0,
        "default_headers": headers,
        "organization": None,
        "project": None,
    }
    if default_query:
        kwargs["default_query"] = default_query
    return kwargs
