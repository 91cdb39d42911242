"""``LlamaSwapProvider``: one llama-swap instance, its management API and image generation.

One pooled httpx client per provider (sync and async, created on first use or injected),
no read timeout by default so a cold model swap is never cut off, and every method takes
``timeout=`` for callers who want a bound. Sync methods and their ``a``-prefixed async
twins run the same operation code (:mod:`llamaswap._ops`).
"""

from __future__ import annotations

import logging
import os
import time
import weakref
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from llamaswap import _ops as ops
from llamaswap._ops import Op, Target
from llamaswap._version import __version__
from llamaswap._wire import (
    DEFAULT_TIMEOUT,
    USE_CLIENT_DEFAULT,
    Call,
    TimeoutArg,
    closed_client,
    transport_error,
)
from llamaswap.dsn import DEFAULT_DSN, DSN, ENV_API_KEY, ENV_DSN, parse_dsn
from llamaswap.errors import (
    DSNError,
    LlamaSwapError,
)
from llamaswap.events import Event, SSEDecoder, decode_event
from llamaswap.images import ImageInput, ImageResult
from llamaswap.pool import (
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_KEEPALIVE_CONNECTIONS,
    MANAGEMENT_PATHS,
    CertArg,
    LoopClients,
    OwnedClients,
    PoolSettings,
    VerifyArg,
)
from llamaswap.records import ModelInfo, RunningModel, VersionInfo
from llamaswap.rerank import RerankResult
from llamaswap.retry import (
    AsyncRetryTransport,
    RetryPolicy,
    RetryTransport,
    riding_async_client,
    riding_client,
)
from llamaswap.stream_guard import AsyncGuardedTransport, GuardedTransport
from llamaswap.tokens import TokenizerMixin

if TYPE_CHECKING:
    import openai

logger = logging.getLogger("llamaswap")

T = TypeVar("T")
_Self = TypeVar("_Self", bound="LlamaSwapProvider")


class LlamaSwapProvider(TokenizerMixin):
    """A client for one llama-swap instance.

    Args:
        dsn: ``llama-swap://[key@]host[:port]``, ``llama-swap+https://...`` or an
            ``http(s)://`` URL. Defaults to ``$LLAMASWAP_DSN``, then
            ``llama-swap://localhost:8080``.
        base_url: alternative to ``dsn`` without a key (it is not a secret); give one
            or the other.
        api_key: the key for a llama-swap with ``apiKeys``; overrides a key in the DSN,
            which overrides ``$LLAMASWAP_API_KEY``.
        http_client: an ``httpx.Client`` to use (not closed by :meth:`close`).
        async_http_client: an ``httpx.AsyncClient`` to use (not closed by :meth:`aclose`).
        timeout: the default timeout for clients this provider creates. The default
            bounds connecting (10 s) but never reading, because a cold swap can take
            minutes; pass ``timeout=`` per call to bound a call.
        headers: extra headers sent with every request.
        max_retries: opt-in retries (an int or a :class:`~llamaswap.RetryPolicy`) for the
            clients this provider creates, and so for every client riding them. Only what
            started nothing is retried: a 429 (after its ``Retry-After``, capped) and a
            refused connection; never a 5xx, a timeout or a cut-off read. Default 0.
        max_connections: the size of the pool streams and model calls share (default
            1,000, as the OpenAI SDK). Management calls (``health()``, ``list_models()``,
            ``running()`` ...) use a small pool of their own, so long streams never starve
            them. A request that waits for a free connection past its ``timeout=`` raises
            a timeout that says it was a pool wait.
        max_keepalive_connections: idle connections kept open for reuse (default 100).
        verify: TLS verification as httpx takes it: ``True`` (system CAs), ``False``, a CA
            bundle path (for a self-signed llama-swap) or an ``ssl.SSLContext``.
        cert: a client certificate for mutual TLS: a PEM path holding certificate and
            key, or ``(cert_path, key_path)`` or ``(cert_path, key_path, password)``.

    Example:
        >>> from llamaswap import LlamaSwapProvider
        >>> with LlamaSwapProvider("llama-swap://127.0.0.1:8080") as p:  # doctest: +SKIP
        ...     [m.id for m in p.list_models()]
    """

    def __init__(
        self,
        dsn: str | DSN | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        http_client: httpx.Client | None = None,
        async_http_client: httpx.AsyncClient | None = None,
        timeout: TimeoutArg = DEFAULT_TIMEOUT,
        headers: Mapping[str, str] | None = None,
        max_retries: int | RetryPolicy = 0,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        max_keepalive_connections: int = DEFAULT_MAX_KEEPALIVE_CONNECTIONS,
        verify: VerifyArg = True,
        cert: CertArg | None = None,
    ) -> None:
        if dsn is not None and base_url is not None:
            raise DSNError("pass either dsn or base_url, not both")
        source = dsn if dsn is not None else base_url
        if source is None:
            source = os.environ.get(ENV_DSN) or DEFAULT_DSN
        parsed = source if isinstance(source, DSN) else parse_dsn(source)
        if base_url is not None and parsed.api_key:
            raise DSNError(
                "base_url must not contain a key (it is shown in reprs and configs); "
                "pass it as api_key=... or inside dsn=..."
            )
        if api_key is not None and not isinstance(api_key, str):
            raise TypeError("api_key must be a string")
        key = api_key or parsed.api_key or os.environ.get(ENV_API_KEY)
        self._dsn = DSN(
            base_url=parsed.base_url,
            scheme=parsed.scheme,
            host=parsed.host,
            port=parsed.port,
            path=parsed.path,
            api_key=key or None,
        )
        self._target = Target(base_url=self._dsn.base_url, secret=self._dsn.api_key)
        self._timeout = timeout
        self._plain_headers = {"User-Agent": f"llamaswap-python/{__version__}"}
        self._plain_headers.update(headers or {})
        self._headers = dict(self._plain_headers)
        if self._dsn.api_key:
            self._headers["Authorization"] = f"Bearer {self._dsn.api_key}"
        self._pool = PoolSettings(max_connections, max_keepalive_connections, verify, cert)
        self._client = http_client
        self._async_client = async_http_client
        self._owns_client = http_client is None
        self._owns_async_client = async_http_client is None
        # The factories hold the settings, not the provider, so a dropped provider is
        # freed at once (no reference cycle waiting for the garbage collector).
        self._retry = RetryPolicy.of(max_retries) or RetryPolicy(max_retries=0)
        settings = (self._pool, timeout, self._retry)
        self._async_pools = LoopClients(lambda: _async_client(*settings, management=False))
        self._management: httpx.Client | None = None
        self._made_client: httpx.Client | None = None
        self._owned = OwnedClients()
        weakref.finalize(self, self._owned.close)  # a dropped provider leaves no socket
        self._async_management = LoopClients(lambda: _async_client(*settings, management=True))
        self._following_client: httpx.Client | None = None
        self._following_async_client: httpx.AsyncClient | None = None

    # -- identity ---------------------------------------------------------------

    @property
    def dsn(self) -> DSN:
        """The parsed address (its repr hides the key)."""
        return self._dsn

    @property
    def base_url(self) -> str:
        """llama-swap's root URL, e.g. ``http://127.0.0.1:8080`` (never holds the key)."""
        return self._dsn.base_url

    @property
    def openai_base_url(self) -> str:
        """The OpenAI-compatible base, ``<base_url>/v1``, for OpenAI clients."""
        return self._dsn.openai_base_url

    @property
    def api_key(self) -> str | None:
        """The key sent as ``Authorization: Bearer``, or ``None``."""
        return self._dsn.api_key

    @property
    def auth_headers(self) -> dict[str, str]:
        """The headers this provider sends (including ``Authorization`` when keyed)."""
        return dict(self._headers)

    def __repr__(self) -> str:
        key = ", api_key=***" if self._dsn.api_key else ""
        return f"{type(self).__name__}(base_url={self.base_url!r}{key})"

    # -- clients ------------------------------------------------------------------

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
        client = httpx.Client(
            timeout=self._timeout,
            follow_redirects=False,
            transport=GuardedTransport(
                RetryTransport(self._pool.transport(management=management), self._retry)
            ),
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

    def __enter__(self: _Self) -> _Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self: _Self) -> _Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- management API -------------------------------------------------------------

    def list_models(self, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT) -> list[ModelInfo]:
        """The models llama-swap lists (``GET /v1/models``); never loads a model."""
        return self._run(ops.list_models(self._target, timeout))

    async def alist_models(self, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT) -> list[ModelInfo]:
        """Async :meth:`list_models`."""
        return await self._arun(ops.list_models(self._target, timeout))

    def get_model(self, model: str, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT) -> ModelInfo:
        """The listed record for ``model``, or :class:`NotFoundError`.

        ``model`` is an id, an alias, or a bare name that exactly one peer lists.
        """
        return _pick(model, self.list_models(timeout=timeout))

    async def aget_model(
        self, model: str, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT
    ) -> ModelInfo:
        """Async :meth:`get_model`."""
        return _pick(model, await self.alist_models(timeout=timeout))

    def running(self, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT) -> list[RunningModel]:
        """The model processes llama-swap has up (``GET /running``)."""
        return self._run(ops.running(self._target, timeout))

    async def arunning(self, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT) -> list[RunningModel]:
        """Async :meth:`running`."""
        return await self._arun(ops.running(self._target, timeout))

    def load(self, model: str, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT) -> None:
        """Swap ``model`` in and return once it is ready to answer.

        Raises :class:`NotFoundError` for an unknown id (listing the known ones) and
        :class:`ModelLoadError` with llama-swap's reason when the model fails to start.

        A peer's model (``peer/model``, or a bare name only one peer lists) is loaded on
        that peer, when the peer is a llama-swap: this returns once the peer has it ready.
        A peer that is not a llama-swap has nothing to load, and this returns at once.
        An unreachable peer raises :class:`UpstreamError` (llama-swap's 502).
        """
        self._run(ops.load(self._target, model, timeout))

    async def aload(self, model: str, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT) -> None:
        """Async :meth:`load`."""
        await self._arun(ops.load(self._target, model, timeout))

    def unload(self, model: str | None = None, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT) -> None:
        """Stop ``model``, or every local model when no model is given.

        llama-swap never stops a peer's models: ``unload("peer/model")`` raises
        :class:`NotFoundError` (llama-swap's 404) saying which peer serves it, and
        ``unload()`` leaves peers alone.
        """
        self._run(ops.unload(self._target, model, timeout))

    async def aunload(
        self, model: str | None = None, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT
    ) -> None:
        """Async :meth:`unload`."""
        await self._arun(ops.unload(self._target, model, timeout))

    def health(self, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT) -> bool:
        """True when llama-swap answers ``GET /health`` with 200 (says nothing of models)."""
        return self._run(ops.health(self._target, timeout))

    async def ahealth(self, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT) -> bool:
        """Async :meth:`health`."""
        return await self._arun(ops.health(self._target, timeout))

    def version(self, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT) -> VersionInfo:
        """The build llama-swap reports (``GET /api/version``)."""
        return self._run(ops.version(self._target, timeout))

    async def aversion(self, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT) -> VersionInfo:
        """Async :meth:`version`."""
        return await self._arun(ops.version(self._target, timeout))

    # -- images -------------------------------------------------------------------------

    def generate_image(
        self,
        prompt: str,
        *,
        model: str,
        size: str | None = None,
        n: int = 1,
        negative_prompt: str | None = None,
        seed: int | None = None,
        extra: dict[str, Any] | None = None,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> ImageResult:
        """Generate ``n`` images with ``model`` (``POST /v1/images/generations``).

        Args:
            prompt: what to draw.
            model: an image model id configured in llama-swap.
            size: ``WIDTHxHEIGHT`` such as ``"512x512"``; the server's default if omitted.
            n: how many images (1-16).
            negative_prompt: what to keep out of the image.
            seed: a seed for reproducible renders.
            extra: more body fields the image server understands (e.g. ``steps``).
            timeout: bound this call; renders can take minutes, so none by default.

        Returns:
            An :class:`ImageResult` of images as bytes with their MIME types.
        """
        return self._run(
            ops.generate_image(
                self._target,
                prompt,
                model=model,
                size=size,
                n=n,
                negative_prompt=negative_prompt,
                seed=seed,
                extra=extra,
                timeout=timeout,
            )
        )

    async def agenerate_image(
        self,
        prompt: str,
        *,
        model: str,
        size: str | None = None,
        n: int = 1,
        negative_prompt: str | None = None,
        seed: int | None = None,
        extra: dict[str, Any] | None = None,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> ImageResult:
        """Async :meth:`generate_image`."""
        return await self._arun(
            ops.generate_image(
                self._target,
                prompt,
                model=model,
                size=size,
                n=n,
                negative_prompt=negative_prompt,
                seed=seed,
                extra=extra,
                timeout=timeout,
            )
        )

    # -- image edits and reranking (issue 13) ---------------------------------------------

    def edit_image(
        self,
        image: ImageInput,
        prompt: str,
        *,
        model: str,
        mask: ImageInput | None = None,
        size: str | None = None,
        n: int = 1,
        seed: int | None = None,
        extra: dict[str, Any] | None = None,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> ImageResult:
        """Edit ``image`` as ``prompt`` says with ``model`` (``POST /v1/images/edits``).

        Args:
            image: the picture to edit: its bytes, a path to its file, or a
                :class:`GeneratedImage` an earlier call returned.
            prompt: what to change.
            model: an image model id configured in llama-swap.
            mask: where to edit (same forms as ``image``); the server's choice if omitted.
            size: ``WIDTHxHEIGHT`` of the result; the server's default if omitted.
            n: how many variants (1-16).
            seed: a seed for reproducible renders.
            extra: more form fields the image server understands.
            timeout: bound this call; renders can take minutes, so none by default.

        Returns:
            The same :class:`ImageResult` :meth:`generate_image` returns.
        """
        return self._run(
            ops.edit_image(
                self._target,
                image,
                prompt,
                model=model,
                mask=mask,
                size=size,
                n=n,
                seed=seed,
                extra=extra,
                timeout=timeout,
            )
        )

    async def aedit_image(
        self,
        image: ImageInput,
        prompt: str,
        *,
        model: str,
        mask: ImageInput | None = None,
        size: str | None = None,
        n: int = 1,
        seed: int | None = None,
        extra: dict[str, Any] | None = None,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> ImageResult:
        """Async :meth:`edit_image`."""
        return await self._arun(
            ops.edit_image(
                self._target,
                image,
                prompt,
                model=model,
                mask=mask,
                size=size,
                n=n,
                seed=seed,
                extra=extra,
                timeout=timeout,
            )
        )

    def rerank(
        self,
        query: str,
        documents: Sequence[str],
        *,
        model: str,
        top_n: int | None = None,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> list[RerankResult]:
        """Rank ``documents`` by relevance to ``query`` with a reranker (``POST /v1/rerank``).

        Args:
            query: what the documents are ranked against.
            documents: the texts to rank (at least one).
            model: a reranker id configured in llama-swap (llama-server with ``--reranking``).
            top_n: keep only the best ``top_n``; all of them if omitted.
            timeout: bound this call; none by default, as the reranker may be swapped in.

        Returns:
            :class:`RerankResult` items (index, relevance score, document), best first.
        """
        return self._run(
            ops.rerank(self._target, query, documents, model=model, top_n=top_n, timeout=timeout)
        )

    async def arerank(
        self,
        query: str,
        documents: Sequence[str],
        *,
        model: str,
        top_n: int | None = None,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> list[RerankResult]:
        """Async :meth:`rerank`."""
        return await self._arun(
            ops.rerank(self._target, query, documents, model=model, top_n=top_n, timeout=timeout)
        )

    # -- events ----------------------------------------------------------------------------

    def events(self, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT) -> Iterator[Event]:
        """Typed events from ``GET /api/events`` until the server closes the stream.

        The first events replay llama-swap's state (log history, a ``ModelStatus``
        snapshot, ...). Close the generator (``break`` out of the loop) to disconnect.
        """
        url = self._target.url("/api/events")
        try:
            with self.http_client.stream(
                "GET", url, headers=self._headers, timeout=timeout
            ) as response:
                if response.is_error:
                    response.read()
                    self._run(ops.fail(self._target, response))
                decoder = SSEDecoder()
                for line in response.iter_lines():
                    frame = decoder.feed(line)
                    if frame is not None:
                        yield decode_event(frame)
                last = decoder.flush()
                if last is not None:
                    yield decode_event(last)
        except (httpx.TransportError, httpx.DecodingError) as exc:
            raise self._transport_error(exc, "GET", url) from None

    async def aevents(self, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT) -> AsyncIterator[Event]:
        """Async :meth:`events`."""
        url = self._target.url("/api/events")
        try:
            async with self.async_http_client.stream(
                "GET", url, headers=self._headers, timeout=timeout
            ) as response:
                if response.is_error:
                    await response.aread()
                    await self._arun(ops.fail(self._target, response))
                decoder = SSEDecoder()
                async for line in response.aiter_lines():
                    frame = decoder.feed(line)
                    if frame is not None:
                        yield decode_event(frame)
                last = decoder.flush()
                if last is not None:
                    yield decode_event(last)
        except (httpx.TransportError, httpx.DecodingError) as exc:
            raise self._transport_error(exc, "GET", url) from None

    # -- logs ------------------------------------------------------------------------------

    def logs(
        self,
        source: str | None = None,
        *,
        quiet: float = 0.5,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> str:
        """llama-swap's log history as text.

        With no ``source``: the combined proxy and upstream history (``GET /logs``).
        With ``"proxy"``, ``"upstream"`` or a model id or alias: that log's history.
        llama-swap has no history-only route for one log, but its stream
        (``/logs/stream/<source>``) sends the history first, in one write; it is read
        until nothing arrives for ``quiet`` seconds (at most ``20 * quiet`` seconds in
        all, so a busy log still returns). ``timeout`` bounds ``GET /logs``.

        Raises :class:`NotFoundError` for an unknown source, listing the valid ones.
        """
        if source is None:
            return self._run(ops.logs(self._target, timeout))
        _check_quiet(quiet)
        self._run(ops.check_log_source(self._target, source))
        url = self._target.url(ops.log_stream_path(source, history=True))
        deadline = time.monotonic() + 20 * quiet
        parts: list[str] = []
        try:
            with self.http_client.stream(
                "GET", url, headers=self._headers, timeout=_quiet_timeout(quiet)
            ) as response:
                if response.is_error:
                    response.read()
                    self._run(ops.log_stream_failed(self._target, response, source))
                for text in response.iter_text():
                    parts.append(text)
                    if time.monotonic() > deadline:
                        break
        except httpx.ReadTimeout:
            pass  # quiet for `quiet` seconds: the history has been sent
        except (httpx.TransportError, httpx.DecodingError) as exc:
            raise self._transport_error(exc, "GET", url) from None
        return "".join(parts)

    async def alogs(
        self,
        source: str | None = None,
        *,
        quiet: float = 0.5,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> str:
        """Async :meth:`logs`."""
        if source is None:
            return await self._arun(ops.logs(self._target, timeout))
        _check_quiet(quiet)
        await self._arun(ops.check_log_source(self._target, source))
        url = self._target.url(ops.log_stream_path(source, history=True))
        deadline = time.monotonic() + 20 * quiet
        parts: list[str] = []
        try:
            async with self.async_http_client.stream(
                "GET", url, headers=self._headers, timeout=_quiet_timeout(quiet)
            ) as response:
                if response.is_error:
                    await response.aread()
                    await self._arun(ops.log_stream_failed(self._target, response, source))
                async for text in response.aiter_text():
                    parts.append(text)
                    if time.monotonic() > deadline:
                        break
        except httpx.ReadTimeout:
            pass  # quiet for `quiet` seconds: the history has been sent
        except (httpx.TransportError, httpx.DecodingError) as exc:
            raise self._transport_error(exc, "GET", url) from None
        return "".join(parts)

    def stream_logs(
        self,
        source: str | None = None,
        *,
        history: bool = True,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> Iterator[str]:
        """Log lines from ``GET /logs/stream[/<source>]`` as they are written.

        ``source`` is ``"proxy"``, ``"upstream"``, a model id or alias, or ``None`` for
        the combined log. The history comes first unless ``history=False``. The stream
        never ends on its own (only on a config reload or shutdown): close the generator
        (``break``) to disconnect. An unknown source raises :class:`NotFoundError`.
        """
        self._run(ops.check_log_source(self._target, source))
        url = self._target.url(ops.log_stream_path(source, history=history))
        try:
            with self.http_client.stream(
                "GET", url, headers=self._headers, timeout=timeout
            ) as response:
                if response.is_error:
                    response.read()
                    self._run(ops.log_stream_failed(self._target, response, source))
                yield from response.iter_lines()
        except (httpx.TransportError, httpx.DecodingError) as exc:
            raise self._transport_error(exc, "GET", url) from None

    async def astream_logs(
        self,
        source: str | None = None,
        *,
        history: bool = True,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> AsyncIterator[str]:
        """Async :meth:`stream_logs`."""
        await self._arun(ops.check_log_source(self._target, source))
        url = self._target.url(ops.log_stream_path(source, history=history))
        try:
            async with self.async_http_client.stream(
                "GET", url, headers=self._headers, timeout=timeout
            ) as response:
                if response.is_error:
                    await response.aread()
                    await self._arun(ops.log_stream_failed(self._target, response, source))
                async for line in response.aiter_lines():
                    yield line
        except (httpx.TransportError, httpx.DecodingError) as exc:
            raise self._transport_error(exc, "GET", url) from None

    # -- drivers ---------------------------------------------------------------------------

    def _run(self, op: Op[T]) -> T:
        """Drive an operation with blocking sends."""
        try:
            call = next(op)
            while True:
                try:
                    response = self._send(call)
                except LlamaSwapError as exc:
                    call = op.throw(exc)
                else:
                    call = op.send(response)
        except StopIteration as done:
            result: T = done.value
            return result

    async def _arun(self, op: Op[T]) -> T:
        """Drive an operation with awaited sends."""
        try:
            call = next(op)
            while True:
                try:
                    response = await self._asend(call)
                except LlamaSwapError as exc:
                    call = op.throw(exc)
                else:
                    call = op.send(response)
        except StopIteration as done:
            result: T = done.value
            return result

    def _send(self, call: Call) -> httpx.Response:
        started = time.perf_counter()
        try:
            response = self._client_for(call).request(
                call.method,
                call.url,
                json=call.json,
                content=call.content,
                headers=self._call_headers(call),
                timeout=call.timeout,
            )
        except (httpx.TransportError, httpx.DecodingError) as exc:
            raise self._transport_error(exc, call.method, call.url) from None
        except RuntimeError as exc:  # httpx refuses to send on a closed client
            if not closed_client(exc):
                raise
            raise self._transport_error(exc, call.method, call.url) from None
        self._log(call, response, started)
        return response

    async def _asend(self, call: Call) -> httpx.Response:
        started = time.perf_counter()
        try:
            client = (
                self._async_management_client()
                if _quick(call, self.base_url)
                else self.async_http_client
            )
            response = await client.request(
                call.method,
                call.url,
                json=call.json,
                content=call.content,
                headers=self._call_headers(call),
                timeout=call.timeout,
            )
        except (httpx.TransportError, httpx.DecodingError) as exc:
            raise self._transport_error(exc, call.method, call.url) from None
        except RuntimeError as exc:  # httpx refuses to send on a closed client
            if not closed_client(exc):
                raise
            raise self._transport_error(exc, call.method, call.url) from None
        self._log(call, response, started)
        return response

    def _call_headers(self, call: Call) -> dict[str, str]:
        headers = self._headers if call.auth else self._plain_headers
        if call.content_type is None:
            return headers
        return {**headers, "Content-Type": call.content_type}

    def _client_for(self, call: Call) -> httpx.Client:
        return self._management_client() if _quick(call, self.base_url) else self.http_client

    def _log(self, call: Call, response: httpx.Response, started: float) -> None:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s %s -> %d (%.0f ms)",
                call.method,
                call.url,
                response.status_code,
                (time.perf_counter() - started) * 1000,
            )

    def _transport_error(self, exc: Exception, method: str, url: str) -> LlamaSwapError:
        return transport_error(
            exc, base_url=self.base_url, where=f"{method} {url}", secret=self._dsn.api_key
        )


def _openai_compat() -> Any:
    try:
        from llamaswap import openai_compat
    except ImportError as exc:
        raise ImportError(
            "openai_client() and async_openai_client() need the OpenAI SDK: pip install openai "
            f"(or llamaswap[langchain] / llamaswap[llama-index]); import failed: {exc}"
        ) from exc
    return openai_compat


def _check_quiet(quiet: float) -> None:
    if isinstance(quiet, bool) or not isinstance(quiet, int | float) or not quiet > 0:
        raise ValueError(f"quiet must be a positive number of seconds, got {quiet!r}")


def _quiet_timeout(quiet: float) -> httpx.Timeout:
    """Connect as usual; a read that waits ``quiet`` seconds means the history is done."""
    return httpx.Timeout(quiet, connect=DEFAULT_TIMEOUT.connect)


def _async_client(
    pool: PoolSettings, timeout: TimeoutArg, retry: RetryPolicy, *, management: bool
) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=timeout,
        follow_redirects=False,
        transport=AsyncGuardedTransport(
            AsyncRetryTransport(pool.async_transport(management=management), retry)
        ),
    )


def _quick(call: Call, base_url: str) -> bool:
    """True for a call to one of llama-swap's quick endpoints (the management pool)."""
    path = call.url[len(base_url) :].split("?", 1)[0]
    return call.model is None and call.url.startswith(base_url) and path in MANAGEMENT_PATHS


def _pick(model: str, models: list[ModelInfo]) -> ModelInfo:
    from llamaswap.errors import NotFoundError

    for info in models:
        if info.id == model or model in info.aliases:
            return info
    # A bare name that exactly one peer lists routes to that peer's ``peer/model`` record.
    bare = [m for m in models if m.type == "peer" and m.id == f"{m.peer_id}/{model}"]
    if len(bare) == 1:
        return bare[0]
    ids = [m.id for m in models]
    raise NotFoundError(
        f"llama-swap lists no model {model!r}; it lists: {', '.join(ids) or 'nothing'}",
        model=model,
        available=ids,
    )
