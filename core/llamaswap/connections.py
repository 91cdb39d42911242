"""The provider's pools and the clients that ride them: httpx and the OpenAI SDK's.

One pooled httpx client per provider for the sync side and one per live event loop for
the async side (:mod:`llamaswap.pool`), each behind the retry layer and the stream guard;
a small pool of its own for management calls; light clients that ride those pools for
libraries that want a client of their own (the OpenAI SDK, LangChain, LlamaIndex).
:class:`~llamaswap.LlamaSwapProvider` inherits all of it, so every name here is a
provider method; the provider module keeps the management API.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

import httpx

from llamaswap._wire import DEFAULT_TIMEOUT, TimeoutArg
from llamaswap.pool import AsyncPoolClient, LoopClients, OwnedClients, PoolClient, PoolSettings
from llamaswap.retry import (
    AsyncRetryTransport,
    RetryPolicy,
    RetryTransport,
    riding_async_client,
    riding_client,
)
from llamaswap.stream_guard import AsyncGuardedTransport, GuardedTransport

if TYPE_CHECKING:
    import openai


class ProviderClients:
    """The pools of one provider and every client riding them (see the module doc)."""

    if TYPE_CHECKING:
        _plain_headers: dict[str, str]

        @property
        def openai_base_url(self) -> str:
            """The provider's ``<base_url>/v1``."""

        @property
        def api_key(self) -> str | None:
            """The provider's key."""

    def _init_clients(
        self,
        pool: PoolSettings,
        *,
        timeout: TimeoutArg,
        retry: RetryPolicy,
        http_client: httpx.Client | None,
        async_http_client: httpx.AsyncClient | None,
    ) -> None:
        self._pool = pool
        self._timeout = timeout
        self._retry = retry
        self._client = http_client
        self._async_client = async_http_client
        self._owns_client = http_client is None
        self._owns_async_client = async_http_client is None
        # The factories hold the settings, not the provider, so a dropped provider is
        # freed at once (no reference cycle waiting for the garbage collector).
        settings = (pool, timeout, retry, dict(self._plain_headers))
        self._async_pools = LoopClients(lambda: _async_client(*settings, management=False))
        self._async_management = LoopClients(lambda: _async_client(*settings, management=True))
        self._management: httpx.Client | None = None
        self._made_client: httpx.Client | None = None
        self._owned = OwnedClients()
        weakref.finalize(self, self._owned.close)  # a dropped provider leaves no socket
        self._following_client: httpx.Client | None = None
        self._following_async_client: httpx.AsyncClient | None = None

    @property
    def http_client(self) -> httpx.Client:
        """The pooled sync client (created on first use, and again after :meth:`close`)."""
        if self._client is None:
            self._client = self._made_client = self._new_client(management=False)
        return self._client

    @property
    def async_http_client(self) -> httpx.AsyncClient:
        """The pooled async client of the running event loop (one per live loop).

        httpx connections belong to the event loop that opened them, so a provider keeps
        one pool per live loop (``asyncio.run`` per call, a loop per thread) and closes
        it while that loop shuts down. A client passed as ``async_http_client=`` is used
        as given.
        """
        if self._async_client is not None:
            return self._async_client
        return self._async_pools.get()

    @property
    def pool_settings(self) -> PoolSettings:
        """The limits and TLS settings of the pools this provider creates."""
        return self._pool

    def _new_client(self, *, management: bool) -> httpx.Client:
        """A pool behind its layers (see :func:`_async_client`)."""
        stack: httpx.BaseTransport = self._pool.transport(management=management)
        if self._retry.max_retries:
            stack = RetryTransport(stack, self._retry)
        if not management:
            stack = GuardedTransport(stack)
        client = PoolClient(
            timeout=self._timeout,
            follow_redirects=False,
            headers=self._plain_headers,
            stack=stack,
        )
        return self._owned.add(client)

    def _management_client(self) -> httpx.Client:
        """The small pool for llama-swap's quick endpoints (see ``max_connections``)."""
        main = self.http_client
        if not self._owns_client or main is not self._made_client:
            return main  # a client from outside carries every call
        if self._management is None:
            self._management = self._new_client(management=True)
        return self._management

    def _async_management_client(self) -> httpx.AsyncClient:
        if self._async_client is not None:
            return self._async_client  # a client from outside carries every call
        return self._async_management.get()

    @property
    def retry_policy(self) -> RetryPolicy:
        """The retry policy of the clients this provider creates (``max_retries=``)."""
        return self._retry

    def pooled_client(
        self,
        *,
        max_retries: int | RetryPolicy | None = None,
        timeout: TimeoutArg = DEFAULT_TIMEOUT,
    ) -> httpx.Client:
        """A light ``httpx.Client`` that sends through :attr:`http_client`'s pool.

        For libraries that want a client of their own (and may close it) without a second
        pool. ``max_retries=None`` keeps the provider's retry policy; an int or a
        :class:`~llamaswap.RetryPolicy` replaces it for this client. Closing it leaves the
        pool open.
        """
        return riding_client(lambda: self.http_client, max_retries=max_retries, timeout=timeout)

    def pooled_async_client(
        self,
        *,
        max_retries: int | RetryPolicy | None = None,
        timeout: TimeoutArg = DEFAULT_TIMEOUT,
    ) -> httpx.AsyncClient:
        """The async twin of :meth:`pooled_client`; follows the pool to each event loop."""
        return riding_async_client(
            lambda: self.async_http_client, max_retries=max_retries, timeout=timeout
        )

    def sdk_http_client(
        self, own: httpx.Client | None = None, *, max_retries: int | RetryPolicy | None = None
    ) -> httpx.Client:
        """The httpx client an OpenAI SDK client built once should send through.

        With ``own`` (a caller's client, for a proxy or a custom CA): a light client that
        sends through it behind the cut-off-stream guard and the retry layer. Otherwise,
        without retries: one light client, kept for the provider's life, that follows the
        pool, so closing the provider never breaks an SDK
        client built on it (the next request opens a new pool). With retries: a light
        client riding that pool behind the safe retry layer (a 429 or a refused connection
        only, never a 5xx or a timeout that may have started a swap).
        """
        if own is not None:
            # The caller's client does the I/O (its CA, proxy, certificate); a rider in
            # front keeps the cut-off-stream guard, which that client does not have.
            return riding_client(
                lambda: own, max_retries=max_retries, timeout=DEFAULT_TIMEOUT, guarded=True
            )
        if not max_retries:
            if self._following_client is None:
                self._following_client = self.pooled_client(timeout=DEFAULT_TIMEOUT)
            return self._following_client
        return self.pooled_client(max_retries=max_retries, timeout=DEFAULT_TIMEOUT)

    def sdk_async_http_client(
        self, own: httpx.AsyncClient | None = None, *, max_retries: int | RetryPolicy | None = None
    ) -> httpx.AsyncClient:
        """The async twin of :meth:`sdk_http_client`.

        Without retries and without ``own`` it is one light client, kept for the provider's
        life, that follows the pool to each event loop, so an SDK client built once keeps
        working under a second ``asyncio.run`` or a new test loop.
        """
        if own is not None:
            return riding_async_client(
                lambda: own, max_retries=max_retries, timeout=DEFAULT_TIMEOUT, guarded=True
            )
        if not max_retries:
            if self._following_async_client is None:
                self._following_async_client = self.pooled_async_client(timeout=DEFAULT_TIMEOUT)
            return self._following_async_client
        return self.pooled_async_client(max_retries=max_retries, timeout=DEFAULT_TIMEOUT)

    def openai_client(
        self,
        *,
        max_retries: int | RetryPolicy | None = None,
        timeout: TimeoutArg = DEFAULT_TIMEOUT,
    ) -> openai.OpenAI:
        """An ``openai.OpenAI`` for this llama-swap, on this provider's pool.

        The key (or a placeholder a keyless llama-swap ignores) and ``<base_url>/v1`` are
        set, the SDK's own retries are off (``max_retries`` here is this package's safe
        retry, see :class:`~llamaswap.RetryPolicy`), reads never time out (a cold swap can
        take minutes), a cut-off stream raises :class:`IncompleteResponseError`, and
        errors are llama-swap's typed errors that are also the SDK's classes. Needs the
        ``openai`` package.
        """
        client: openai.OpenAI = _openai_compat().OpenAI(
            **self._openai_kwargs(timeout),
            http_client=self.pooled_client(max_retries=max_retries, timeout=timeout),
        )
        return client

    def async_openai_client(
        self,
        *,
        max_retries: int | RetryPolicy | None = None,
        timeout: TimeoutArg = DEFAULT_TIMEOUT,
    ) -> openai.AsyncOpenAI:
        """The async twin of :meth:`openai_client` (``openai.AsyncOpenAI``)."""
        aclient: openai.AsyncOpenAI = _openai_compat().AsyncOpenAI(
            **self._openai_kwargs(timeout),
            http_client=self.pooled_async_client(max_retries=max_retries, timeout=timeout),
        )
        return aclient

    def _openai_kwargs(self, timeout: TimeoutArg) -> dict[str, Any]:
        """What both OpenAI SDK clients are built with (base URL, key, timeout, headers)."""
        headers = {k: v for k, v in self._plain_headers.items() if k.lower() != "user-agent"}
        kwargs: dict[str, Any] = _openai_compat().client_kwargs(
            base_url=self.openai_base_url,
            api_key=self.api_key,
            timeout=timeout,
            default_headers=headers,
        )
        return kwargs

    def close(self) -> None:
        """Close the sync pool's connections if this provider created the pool.

        The provider stays usable: the next call opens a new pool, and every SDK client
        and framework class riding this provider follows it. So ``with model.provider as
        p:`` never breaks ``model``. A client passed in as ``http_client=`` stays open.
        """
        if self._client is not None and self._owns_client:
            self._client.close()
            self._client = None
        if self._management is not None:
            self._management.close()
            self._management = None

    async def aclose(self) -> None:
        """Close both pools' connections (see :meth:`close`: the provider stays usable)."""
        if self._owns_async_client:
            await self._async_pools.aclose()
            await self._async_management.aclose()
        self.close()


def _openai_compat() -> Any:
    try:
        from llamaswap import openai_compat
    except ImportError as exc:
        raise ImportError(
            "openai_client() and async_openai_client() need the OpenAI SDK: pip install openai "
            f"(or llamaswap[langchain] / llamaswap[llama-index]); import failed: {exc}"
        ) from exc
    return openai_compat


def _async_client(
    pool: PoolSettings,
    timeout: TimeoutArg,
    retry: RetryPolicy,
    headers: dict[str, str],
    *,
    management: bool,
) -> httpx.AsyncClient:
    """A pool behind the layers its requests need, and no others.

    The retry layer only when retries are on (with none it passes every answer through
    untouched); the cut-off-stream guard only on the pool that carries model calls: the
    management pool carries llama-swap's own quick endpoints, none of them a completion
    route, and every layer costs each of its calls a little (issue 14).
    """
    stack: httpx.AsyncBaseTransport = pool.async_transport(management=management)
    if retry.max_retries:
        stack = AsyncRetryTransport(stack, retry)
    if not management:
        stack = AsyncGuardedTransport(stack)
    return AsyncPoolClient(timeout=timeout, follow_redirects=False, headers=headers, stack=stack)
