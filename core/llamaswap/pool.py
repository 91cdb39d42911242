"""How a provider connects: pool limits, TLS, and one async pool per live event loop.

Long streams (chat, images) and short management calls (``/health``, ``/v1/models``)
go through separate pools, so a full pool of streams never starves a health check.
Limits default to the OpenAI SDK's (1,000 connections, 100 kept alive). httpx
connections belong to the event loop that opened them, so async pools are kept one per
live loop and closed while that loop shuts down (``asyncio.run`` and most runners call
``shutdown_asyncgens``), never left for the garbage collector to find unclosed.
"""

from __future__ import annotations

import contextlib
import functools
import os
import ssl
import threading
import weakref
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:  # asyncio is imported where a loop is asked for: ~15 ms off `import llamaswap`
    import asyncio

#: The OpenAI SDK's default pool size, so nothing here is stingier than ``ChatOpenAI``.
DEFAULT_MAX_CONNECTIONS = 1000
DEFAULT_MAX_KEEPALIVE_CONNECTIONS = 100
#: The management pool only carries short calls, so a few connections are plenty.
MANAGEMENT_MAX_CONNECTIONS = 16

#: llama-swap's own endpoints that answer at once; they ride the management pool.
MANAGEMENT_PATHS = frozenset(
    {"/health", "/v1/models", "/running", "/unload", "/api/models/unload", "/logs", "/api/version"}
    | {"/api/profiles", "/api/profiles/active", "/metrics", "/api/hardware"}
)

VerifyArg = ssl.SSLContext | str | bool
CertArg = str | tuple[str, str] | tuple[str, str, str]


@dataclass(frozen=True)
class PoolSettings:
    """Connection settings for the pools a provider creates.

    ``verify`` is what httpx takes (``True``, ``False``, a CA bundle path or an
    ``ssl.SSLContext``); ``cert`` is a client certificate: a PEM path holding the
    certificate and key, or ``(cert, key)`` / ``(cert, key, password)``.
    """

    max_connections: int = DEFAULT_MAX_CONNECTIONS
    max_keepalive_connections: int = DEFAULT_MAX_KEEPALIVE_CONNECTIONS
    verify: VerifyArg = True
    cert: CertArg | None = None

    def __post_init__(self) -> None:
        for name in ("max_connections", "max_keepalive_connections"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if not isinstance(self.verify, ssl.SSLContext | str | bool):
            raise TypeError(
                "verify must be True, False, a CA bundle path or an ssl.SSLContext, "
                f"got {type(self.verify).__name__}"
            )

    @property
    def cache_key(self) -> tuple[Any, ...]:
        """What makes two providers' pools interchangeable (for the shared cache)."""
        verify = id(self.verify) if isinstance(self.verify, ssl.SSLContext) else self.verify
        return (self.max_connections, self.max_keepalive_connections, verify, self.cert)

    def _ssl(self) -> ssl.SSLContext:
        if isinstance(self.verify, ssl.SSLContext):
            if self.cert is not None:
                self.verify.load_cert_chain(*_cert_args(self.cert))
            return self.verify
        return _context(self.verify, self.cert)

    def limits(self, *, management: bool = False) -> httpx.Limits:
        """The pool limits (the management pool is small: its calls are quick)."""
        if management:
            small = min(self.max_connections, MANAGEMENT_MAX_CONNECTIONS)
            return httpx.Limits(max_connections=small, max_keepalive_connections=small)
        return httpx.Limits(
            max_connections=self.max_connections,
            max_keepalive_connections=min(self.max_keepalive_connections, self.max_connections),
        )

    def transport(self, *, management: bool = False) -> httpx.HTTPTransport:
        """A sync connection pool with these limits and TLS settings."""
        return httpx.HTTPTransport(verify=self._ssl(), limits=self.limits(management=management))

    def async_transport(self, *, management: bool = False) -> httpx.AsyncHTTPTransport:
        """The async twin of :meth:`transport`."""
        return httpx.AsyncHTTPTransport(
            verify=self._ssl(), limits=self.limits(management=management)
        )


def _context(verify: str | bool, cert: CertArg | None) -> ssl.SSLContext:
    """One TLS context per setting, shared by every pool (building one costs ~1 MB).

    httpx's own rules apply (``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` are honoured).
    """
    env = (os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
    return _cached_context(verify, cert, env)


@functools.lru_cache(maxsize=16)
def _cached_context(
    verify: str | bool, cert: CertArg | None, env: tuple[str | None, str | None]
) -> ssl.SSLContext:
    if isinstance(verify, str):  # a CA bundle file or a directory of CA certificates
        if os.path.isdir(verify):
            context = ssl.create_default_context(capath=verify)
        else:
            context = ssl.create_default_context(cafile=verify)
    else:
        context = httpx.create_ssl_context(verify=verify, trust_env=True)
    if cert is not None:
        context.load_cert_chain(*_cert_args(cert))
    return context


def _cert_args(cert: CertArg) -> tuple[str, ...]:
    return (cert,) if isinstance(cert, str) else cert


class PoolClient(httpx.Client):
    """A pooled client a provider made, whose transport stack riders may use directly.

    A client riding a pool (:func:`llamaswap.retry.riding_client`) has already built the
    request (headers, cookies, timeouts), and ``send`` of a client without auth, event
    hooks or redirect following adds nothing to it: so while :attr:`adds_nothing`, the
    rider hands the request straight to :attr:`stack` (guard, retries, connections)
    instead of going through a second ``Client.send`` (~250 us a call).
    """

    def __init__(self, *, stack: httpx.BaseTransport, **kwargs: Any) -> None:
        super().__init__(transport=stack, **kwargs)
        self.stack = stack

    @property
    def adds_nothing(self) -> bool:
        """Open, and no auth, event hooks or redirects set on it since it was made."""
        return _adds_nothing(self)


class AsyncPoolClient(httpx.AsyncClient):
    """The async twin of :class:`PoolClient`."""

    def __init__(self, *, stack: httpx.AsyncBaseTransport, **kwargs: Any) -> None:
        super().__init__(transport=stack, **kwargs)
        self.stack = stack

    @property
    def adds_nothing(self) -> bool:
        """Open, and no auth, event hooks or redirects set on it since it was made."""
        return _adds_nothing(self)


def _adds_nothing(client: httpx.Client | httpx.AsyncClient) -> bool:
    hooks = client.event_hooks
    return not (
        client.is_closed
        or client.auth is not None
        or client.follow_redirects
        or hooks["request"]
        or hooks["response"]
    )


class OwnedClients:
    """The sync clients a provider made, closed when the provider is garbage-collected.

    Held apart from the provider so a ``weakref.finalize`` can close them without
    keeping the provider alive (a dropped provider then leaves no open socket).
    """

    def __init__(self) -> None:
        self._clients: list[httpx.Client] = []

    def add(self, client: httpx.Client) -> httpx.Client:
        """Track ``client`` (and forget the ones already closed)."""
        self._clients = [c for c in self._clients if not c.is_closed]
        self._clients.append(client)
        return client

    def close(self) -> None:
        """Close every tracked client."""
        for client in self._clients:
            client.close()
        self._clients = []


class LoopClients:
    """One ``httpx.AsyncClient`` per live event loop, closed when its loop shuts down.

    Thread-safe: each thread running its own loop gets its own client. A client is
    closed from inside its loop's ``shutdown_asyncgens`` (what ``asyncio.run`` does
    before closing a loop); :meth:`aclose` closes the current loop's client at once.
    """

    def __init__(self, factory: Callable[[], httpx.AsyncClient]) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Entry] = (
            weakref.WeakKeyDictionary()
        )
        self._no_loop: httpx.AsyncClient | None = None

    def get(self) -> httpx.AsyncClient:
        """The client for the running loop (created on first use in that loop)."""
        import asyncio

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        with self._lock:
            if loop is None:  # built outside a loop (e.g. to hand to an SDK client)
                if self._no_loop is None:
                    self._no_loop = self._factory()
                return self._no_loop
            entry = self._clients.get(loop)
            if entry is None or entry.client.is_closed:
                client = self._no_loop or self._factory()
                self._no_loop = None
                entry = _Entry(client, loop)
                self._clients[loop] = entry
            return entry.client

    async def aclose(self) -> None:
        """Close the running loop's client (and one made outside any loop)."""
        import asyncio

        loop = asyncio.get_running_loop()
        with self._lock:
            entry = self._clients.pop(loop, None)
            stray, self._no_loop = self._no_loop, None
        if entry is not None:
            await entry.close()
        if stray is not None:
            await stray.aclose()

    def live(self) -> int:
        """How many clients are open (one per live loop that used this provider)."""
        with self._lock:
            return sum(1 for e in self._clients.values() if not e.client.is_closed)


class _Entry:
    """A loop's client plus the async generator that closes it at loop shutdown."""

    def __init__(self, client: httpx.AsyncClient, loop: asyncio.AbstractEventLoop) -> None:
        self.client = client
        self._closer = _close_at_shutdown(client)
        # Starting the generator registers it with the loop; shutdown_asyncgens then
        # runs its finally block inside the loop, where the client can still close.
        self._task = loop.create_task(_start(self._closer))

    async def close(self) -> None:
        await self._closer.aclose()
        await self.client.aclose()


async def _close_at_shutdown(client: httpx.AsyncClient) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        await client.aclose()


async def _start(agen: AsyncGenerator[None, None]) -> None:
    # closed (aclose) before the loop ran this task: nothing left to register
    with contextlib.suppress(StopAsyncIteration):
        await agen.__anext__()
