"""One provider per llama-swap address, shared by every framework class in the process.

A chat model, its embeddings and an image tool pointed at the same DSN then use one
connection pool and one place to list, load and unload models (their ``.provider``).

The cache is bounded: it holds the :data:`MAX_IDLE_PROVIDERS` most recently asked-for
providers, and beyond that only providers something else still uses (weakly). A service
that builds a model per tenant key therefore keeps a fixed number of pools; a dropped
provider closes its connections when it is collected.
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from collections import OrderedDict
from typing import Any

from llamaswap.dsn import DSN
from llamaswap.pool import (
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_KEEPALIVE_CONNECTIONS,
    CertArg,
    VerifyArg,
)
from llamaswap.provider import LlamaSwapProvider

#: How many providers the cache keeps alive when nothing else holds them.
MAX_IDLE_PROVIDERS = 32

_LOCK = threading.Lock()
_LIVE: weakref.WeakValueDictionary[tuple[Any, ...], LlamaSwapProvider] = (
    weakref.WeakValueDictionary()
)
_RECENT: OrderedDict[tuple[Any, ...], LlamaSwapProvider] = OrderedDict()


def shared_provider(
    dsn: str | DSN | None = None,
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
    max_keepalive_connections: int = DEFAULT_MAX_KEEPALIVE_CONNECTIONS,
    verify: VerifyArg = True,
    cert: CertArg | None = None,
) -> LlamaSwapProvider:
    """The process-wide :class:`LlamaSwapProvider` for this address, key and pool settings.

    ``dsn=None`` reads ``$LLAMASWAP_DSN`` (then ``llama-swap://localhost:8080``), as the
    provider does. Closing one (``with model.provider as p:``) closes its connections,
    and the next call reopens them. See the module docstring for how long one lives.
    """
    provider = LlamaSwapProvider(
        dsn,
        base_url=base_url,
        api_key=api_key,
        max_connections=max_connections,
        max_keepalive_connections=max_keepalive_connections,
        verify=verify,
        cert=cert,
    )
    key = provider.api_key or ""
    # The cache key holds a digest of the key, never the key itself.
    digest = hashlib.sha256(key.encode()).hexdigest()
    ident = (provider.base_url, digest, provider.pool_settings.cache_key)
    with _LOCK:
        existing = _LIVE.get(ident)
        if existing is None:
            existing = _LIVE[ident] = provider
        _RECENT[ident] = existing
        _RECENT.move_to_end(ident)
        while len(_RECENT) > MAX_IDLE_PROVIDERS:
            _RECENT.popitem(last=False)  # still shared while anything else holds it
        return existing
