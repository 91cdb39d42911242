"""What the LlamaIndex classes share: how they find their provider and build OpenAI clients.

Every class resolves its address through :func:`llamaswap.shared_provider`, so a chat
model, its embeddings and an image tool pointed at one llama-swap share one connection
pool and one ``.provider`` for listing, loading and unloading models.
"""

from __future__ import annotations

from typing import Any

import httpx

from llamaswap import DEFAULT_TIMEOUT, LlamaSwapProvider, shared_provider

# Connects fail fast, reads never time out: a cold swap can take minutes before the
# first byte, and a 0.5B model on two cores is slow to finish a long answer.
NO_READ_TIMEOUT = DEFAULT_TIMEOUT


def resolve_provider(
    dsn: str | None, api_key: str | None, base_url: str | None = None, **connection: Any
) -> LlamaSwapProvider:
    """The shared provider for this address and key (core applies the README's rule).

    ``connection`` holds the pool and TLS settings every class takes (``verify=``,
    ``cert=``, ``max_connections=``, ``max_keepalive_connections=``).
    """
    if dsn is not None and not isinstance(dsn, str):
        raise TypeError(f"dsn must be a string such as 'llama-swap://127.0.0.1:8080', got {dsn!r}")
    return shared_provider(dsn, base_url=base_url, api_key=api_key, **connection)


def stored_dsn(dsn: str | None, provider: LlamaSwapProvider) -> str | None:
    """The address to keep in a serialisable field: never the key.

    ``None`` stays ``None`` so a rebuilt object reads ``$LLAMASWAP_DSN`` (and its key)
    again; an explicit address is kept as the key-free ``http(s)://host:port`` form.
    """
    return None if dsn is None else provider.base_url


def sync_http_client(
    provider: LlamaSwapProvider, own: httpx.Client | None, max_retries: int
) -> httpx.Client:
    """The httpx client an OpenAI SDK client sends through (see ``sdk_http_client``)."""
    return provider.sdk_http_client(own, max_retries=max_retries)


def async_http_client(
    provider: LlamaSwapProvider, own: httpx.AsyncClient | None, max_retries: int
) -> httpx.AsyncClient:
    """The async twin of :func:`sync_http_client`.

    Without retries and without ``own`` it is the provider's pool itself: the SDK client
    built on it is rebuilt when the provider replaces the pool for a new event loop.
    """
    if not max_retries and own is None:
        return provider.async_http_client
    return provider.sdk_async_http_client(own, max_retries=max_retries)
