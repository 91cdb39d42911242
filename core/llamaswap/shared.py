"""One provider per llama-swap address, shared by every framework class in the process.

A chat model, its embeddings and an image tool pointed at the same DSN then use one
connection pool and one place to list, load and unload models (their ``.provider``).
"""

from __future__ import annotations

import hashlib
import threading

from llamaswap.dsn import DSN
from llamaswap.provider import LlamaSwapProvider

_LOCK = threading.Lock()
_PROVIDERS: dict[tuple[str, str], LlamaSwapProvider] = {}


def shared_provider(
    dsn: str | DSN | None = None, *, base_url: str | None = None, api_key: str | None = None
) -> LlamaSwapProvider:
    """The process-wide :class:`LlamaSwapProvider` for this address and key.

    ``dsn=None`` reads ``$LLAMASWAP_DSN`` (then ``llama-swap://localhost:8080``), as the
    provider does. Providers made here live as long as the process; closing one (``with
    model.provider as p:``) closes its connections, and the next call reopens them.
    """
    provider = LlamaSwapProvider(dsn, base_url=base_url, api_key=api_key)
    key = provider.api_key or ""
    # The cache key holds a digest of the key, never the key itself.
    ident = (provider.base_url, hashlib.sha256(key.encode()).hexdigest())
    with _LOCK:
        existing = _PROVIDERS.get(ident)
        if existing is not None:
            return existing
        _PROVIDERS[ident] = provider
        return provider
