"""Opt-in retries that can never start a second model swap.

A request that reached llama-swap may have started a swap (stop one model, start another),
so resending it can make models thrash. Only two failures are certain to have started
nothing, and only those are retried:

- ``429 Too Many Requests``: llama-swap rejects a request over ``concurrencyLimit`` at
  admission, before it loads or forwards anything; its ``Retry-After`` is honoured (capped);
- a refused connection (:class:`httpx.ConnectError`): not one byte was sent.

Never retried: 5xx answers, timeouts, reads cut off, 401, and any other status.

Retries live in an httpx transport layer, so every client on a provider's pool gets them,
including OpenAI SDK clients (whose own ``max_retries`` stays 0). Clients that ride a pool
with their own policy (:func:`riding_client`) mark their requests, so the pool's policy
does not retry them a second time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from llamaswap._wire import DEFAULT_TIMEOUT, retry_after_seconds
from llamaswap.pool import AsyncPoolClient, PoolClient
from llamaswap.stream_guard import AsyncGuardedTransport, GuardedTransport

logger = logging.getLogger("llamaswap")

_HANDLED = "llamaswap.retry_handled"  # request extension: an outer layer owns retries


@dataclass(frozen=True)
class RetryPolicy:
    """How to retry what is safe to retry (see the module docstring).

    Attributes:
        max_retries: retries after the first attempt (0: never retry).
        max_wait: cap in seconds on one wait, however long ``Retry-After`` asks for.
        default_wait: seconds to wait after a 429 that has no usable ``Retry-After``.
        connect_backoff: seconds before the first retry of a refused connection,
            doubling each time (capped by ``max_wait``).
    """

    max_retries: int = 2
    max_wait: float = 30.0
    default_wait: float = 1.0
    connect_backoff: float = 0.25

    def __post_init__(self) -> None:
        if not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise ValueError(f"max_retries must be an int >= 0, got {self.max_retries!r}")
        for name in ("max_wait", "default_wait", "connect_backoff"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")

    @classmethod
    def of(cls, value: int | RetryPolicy | None) -> RetryPolicy | None:
        """A policy from ``max_retries=`` (an int or a policy); ``None`` stays ``None``."""
        if value is None or isinstance(value, RetryPolicy):
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"max_retries must be an int or a RetryPolicy, got {value!r}")
        return cls(max_retries=value)

    def wait_after_429(self, response: httpx.Response) -> float:
        """Seconds to wait before resending a request llama-swap answered 429."""
        asked = retry_after_seconds(response.headers.get("retry-after"))
        return min(self.default_wait if asked is None else asked, self.max_wait)

    def wait_after_connect_error(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt + 1`` of a refused connection."""
        return float(min(self.connect_backoff * (2**attempt), self.max_wait))


def _replayable(request: httpx.Request) -> bool:
    # A body given as bytes/JSON can be sent again; a streamed upload cannot.
    return isinstance(request.stream, httpx.ByteStream)


def _log(request: httpx.Request, why: str, wait: float, attempt: int, policy: RetryPolicy) -> None:
    logger.info(
        "%s %s: %s; retry %d of %d in %.2f s",
        request.method,
        request.url.copy_with(query=None),
        why,
        attempt + 1,
        policy.max_retries,
        wait,
    )


class RetryTransport(httpx.BaseTransport):
    """Retry 429s and refused connections through ``inner`` (see :class:`RetryPolicy`)."""

    def __init__(self, inner: httpx.BaseTransport, policy: RetryPolicy) -> None:
        self._inner = inner
        self.policy = policy

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send, and resend while the failure is one that started nothing."""
        if request.extensions.get(_HANDLED):
            return self._inner.handle_request(request)
        policy = self.policy
        attempt = 0
        while True:
            last = attempt >= policy.max_retries or not _replayable(request)
            try:
                response = self._inner.handle_request(request)
            except httpx.ConnectError as exc:
                if last:
                    raise
                wait = policy.wait_after_connect_error(attempt)
                _log(request, f"connection refused ({exc})", wait, attempt, policy)
            else:
                if response.status_code != 429 or last:
                    return response
                wait = policy.wait_after_429(response)
                response.read()
                response.close()
                _log(request, "429 over concurrencyLimit", wait, attempt, policy)
            time.sleep(wait)
            attempt += 1

    def close(self) -> None:
        """Close the inner transport."""
        self._inner.close()


class AsyncRetryTransport(httpx.AsyncBaseTransport):
    """The async twin of :class:`RetryTransport`."""

    def __init__(self, inner: httpx.AsyncBaseTransport, policy: RetryPolicy) -> None:
        self._inner = inner
        self.policy = policy

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send, and resend while the failure is one that started nothing."""
        if request.extensions.get(_HANDLED):
            return await self._inner.handle_async_request(request)
        policy = self.policy
        attempt = 0
        while True:
            last = attempt >= policy.max_retries or not _replayable(request)
            try:
                response = await self._inner.handle_async_request(request)
            except httpx.ConnectError as exc:
                if last:
                    raise
                wait = policy.wait_after_connect_error(attempt)
                _log(request, f"connection refused ({exc})", wait, attempt, policy)
            else:
                if response.status_code != 429 or last:
                    return response
                wait = policy.wait_after_429(response)
                await response.aread()
                await response.aclose()
                _log(request, "429 over concurrencyLimit", wait, attempt, policy)
            import anyio  # only when a retry waits: ~5 ms off `import llamaswap`

            await anyio.sleep(wait)
            attempt += 1

    async def aclose(self) -> None:
        """Close the inner transport."""
        await self._inner.aclose()


# -- clients that ride another client's pool ---------------------------------------------


class _RideTransport(httpx.BaseTransport):
    """Send each request through a client's pool; closing never closes that pool."""

    def __init__(self, source: Callable[[], httpx.Client], owns_retries: bool) -> None:
        self._source = source
        self._owns_retries = owns_retries

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Hand the request to the pooled client (streamed, so nothing is read twice).

        A provider's own pool client adds nothing to a built request, so the request
        goes straight to its transport stack (see :class:`~llamaswap.pool.PoolClient`);
        any other client (one a caller passed in) sends it as it would its own.
        """
        if self._owns_retries:
            request.extensions = {**request.extensions, _HANDLED: True}
        client = self._source()
        if type(client) is PoolClient and client.adds_nothing:
            return client.stack.handle_request(request)
        return client.send(request, stream=True)


class _AsyncRideTransport(httpx.AsyncBaseTransport):
    """The async twin of :class:`_RideTransport`.

    It asks for the client per request, so a provider that replaced its pool for a new
    event loop is followed.
    """

    def __init__(self, source: Callable[[], httpx.AsyncClient], owns_retries: bool) -> None:
        self._source = source
        self._owns_retries = owns_retries

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Hand the request to the pooled client (streamed, so nothing is read twice)."""
        if self._owns_retries:
            request.extensions = {**request.extensions, _HANDLED: True}
        client = self._source()
        if type(client) is AsyncPoolClient and client.adds_nothing:
            return await client.stack.handle_async_request(request)
        return await client.send(request, stream=True)


def riding_client(
    source: Callable[[], httpx.Client],
    *,
    max_retries: int | RetryPolicy | None = None,
    timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
    guarded: bool = False,
) -> httpx.Client:
    """An ``httpx.Client`` that sends through ``source()``'s pool.

    ``max_retries=None`` leaves retries to the pool's own policy; an int or a
    :class:`RetryPolicy` replaces it for requests sent through this client (0: none).
    ``guarded=True`` adds the cut-off-stream guard, for a pool that has none (a client
    the caller passed in); the rider also sends that client's default headers.
    Closing the returned client leaves the pool open.
    """
    policy = RetryPolicy.of(max_retries)
    transport: httpx.BaseTransport = _RideTransport(source, owns_retries=policy is not None)
    if policy is not None:
        transport = RetryTransport(transport, policy)
    if guarded:
        transport = GuardedTransport(transport)
    return httpx.Client(
        transport=transport,
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
        headers=source().headers if guarded else None,
    )


def riding_async_client(
    source: Callable[[], httpx.AsyncClient],
    *,
    max_retries: int | RetryPolicy | None = None,
    timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
    guarded: bool = False,
) -> httpx.AsyncClient:
    """The async twin of :func:`riding_client`."""
    policy = RetryPolicy.of(max_retries)
    transport: httpx.AsyncBaseTransport = _AsyncRideTransport(
        source, owns_retries=policy is not None
    )
    if policy is not None:
        transport = AsyncRetryTransport(transport, policy)
    if guarded:
        transport = AsyncGuardedTransport(transport)
    return httpx.AsyncClient(
        transport=transport,
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
        headers=source().headers if guarded else None,
    )
