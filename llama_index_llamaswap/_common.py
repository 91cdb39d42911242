"""What the LlamaIndex classes share: how they find their provider and its httpx clients.

Every class resolves its address through :func:`llamaswap.shared_provider`, so a chat
model, its embeddings and an image tool pointed at one llama-swap share one connection
pool and one ``.provider`` for listing, loading and unloading models.
"""

from __future__ import annotations

from typing import Any, TypedDict

from llamaswap import DEFAULT_TIMEOUT, LlamaSwapProvider, shared_provider
from llamaswap.pool import CertArg, VerifyArg

# Connects fail fast, reads never time out: a cold swap can take minutes before the
# first byte, and a 0.5B model on two cores is slow to finish a long answer.
NO_READ_TIMEOUT = DEFAULT_TIMEOUT


class ConnectionOptions(TypedDict, total=False):
    """The pool and TLS settings every class takes and hands to its provider (README)."""

    verify: VerifyArg
    cert: CertArg | None
    max_connections: int
    max_keepalive_connections: int


CONNECTION_OPTIONS = frozenset(ConnectionOptions.__annotations__)


class HasProvider:
    """The ``.provider`` of a class that resolved it with :func:`connect`."""

    _provider: LlamaSwapProvider

    @property
    def provider(self) -> LlamaSwapProvider:
        """The shared llama-swap provider: list, load, unload models, events, images."""
        return self._provider


def connect(
    dsn: str | None, api_key: str | None, base_url: str | None, options: dict[str, Any]
) -> tuple[LlamaSwapProvider, str | None]:
    """The shared provider for this address and key, and the address a field may keep.

    ``options`` are a class's remaining keyword arguments: the :class:`ConnectionOptions`
    are taken out of it (the rest belong to LlamaIndex). The kept address is never the key:
    ``None`` stays ``None`` so a rebuilt object reads ``$LLAMASWAP_DSN`` (and its key)
    again; an explicit address is kept as the key-free ``http(s)://host:port`` form.
    """
    if dsn is not None and not isinstance(dsn, str):
        raise TypeError(f"dsn must be a string such as 'llama-swap://127.0.0.1:8080', got {dsn!r}")
    connection = {name: options.pop(name) for name in CONNECTION_OPTIONS & set(options)}
    provider = shared_provider(dsn, base_url=base_url, api_key=api_key, **connection)
    return provider, provider.base_url if dsn or base_url else None
