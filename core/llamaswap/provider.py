"""``LlamaSwapProvider``: one llama-swap instance, its management API and image generation.

Its pools and the clients riding them live in :mod:`llamaswap.connections`. No read
timeout by default so a cold model swap is never cut off, and every method takes
``timeout=`` for callers who want a bound. Sync methods and their ``a``-prefixed async
twins run the same operation code (:mod:`llamaswap._ops`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Generator,
    Iterator,
    Mapping,
    Sequence,
)
from types import TracebackType
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import httpx

from llamaswap import _ops as ops
from llamaswap._ops import Op, Target
from llamaswap._version import __version__
from llamaswap._wire import (
    DEFAULT_TIMEOUT,
    MODEL_ROUTES,
    USE_CLIENT_DEFAULT,
    Call,
    KeyedHeaders,
    TimeoutArg,
    closed_client,
    transport_error,
)
from llamaswap.connections import ProviderClients
from llamaswap.dsn import DEFAULT_DSN, DSN, ENV_API_KEY, ENV_DSN, parse_dsn
from llamaswap.errors import (
    DSNError,
    LlamaSwapError,
)
from llamaswap.pool import (
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_KEEPALIVE_CONNECTIONS,
    MANAGEMENT_PATHS,
    AsyncPoolClient,
    CertArg,
    PoolClient,
    PoolSettings,
    VerifyArg,
)
from llamaswap.retry import RetryPolicy
from llamaswap.tokens import TokenizerMixin

if TYPE_CHECKING:  # annotations only: each module loads with the first method that needs it
    from llamaswap import long_inputs
    from llamaswap.audio import AudioInput, SpeechResult, Transcription
    from llamaswap.events import Event
    from llamaswap.host import HardwareInfo, ModelProps, Profiles
    from llamaswap.images import ImageInput, ImageResult
    from llamaswap.long_inputs import EmbedInput
    from llamaswap.metrics import Metrics
    from llamaswap.records import ModelInfo, RunningModel, VersionInfo
    from llamaswap.rerank import RerankResult

logger = logging.getLogger("llamaswap")

T = TypeVar("T")
_Self = TypeVar("_Self", bound="LlamaSwapProvider")


class LlamaSwapProvider(ProviderClients, TokenizerMixin):
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
        self._listing_lock = threading.Lock()
        self._listing: tuple[float, list[ModelInfo] | LlamaSwapError] | None = None
        self._plain_headers = {"User-Agent": f"llamaswap-python/{__version__}"}
        self._plain_headers.update(headers or {})
        self._headers = KeyedHeaders(self._plain_headers)
        if self._dsn.api_key:
            self._headers["Authorization"] = f"Bearer {self._dsn.api_key}"
        # what a call adds on a pool made here, which sends the plain headers by default
        self._auth_header = KeyedHeaders(
            {k: v for k, v in self._headers.items() if k == "Authorization"}
        )
        self._endpoints: dict[str, tuple[httpx.URL, bool]] = {}
        self._init_clients(
            PoolSettings(max_connections, max_keepalive_connections, verify, cert),
            timeout=timeout,
            retry=RetryPolicy.of(max_retries) or RetryPolicy(max_retries=0),
            http_client=http_client,
            async_http_client=async_http_client,
        )

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
        return self._run(ops.get_model(self._target, model, timeout))

    async def aget_model(
        self, model: str, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT
    ) -> ModelInfo:
        """Async :meth:`get_model`."""
        return await self._arun(ops.get_model(self._target, model, timeout))

    def model_facts(self, model: str) -> ModelInfo:
        """:meth:`get_model` from a listing up to :data:`LISTING_MAX_AGE` seconds old.

        For framework classes that read a model's context and capabilities when they are
        built and several times per call: one ``GET /v1/models`` (bounded by
        :data:`MODEL_LOOKUP_TIMEOUT`; it never loads a model) serves every class on this
        provider for the interval, and a failure to list is remembered as long and
        raised again, so an unreachable llama-swap is not asked on every call.
        """
        with self._listing_lock:
            kept = self._listing
            if kept is None or time.monotonic() - kept[0] >= LISTING_MAX_AGE:
                answer: list[ModelInfo] | LlamaSwapError
                try:
                    answer = self.list_models(timeout=MODEL_LOOKUP_TIMEOUT)
                except LlamaSwapError as exc:
                    answer = exc
                kept = self._listing = (time.monotonic(), answer)
        if isinstance(kept[1], LlamaSwapError):
            raise kept[1]
        return ops.pick(model, kept[1])

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

    # -- audio -----------------------------------------------------------------------------

    def transcribe(
        self,
        audio: AudioInput,
        *,
        model: str,
        language: str | None = None,
        prompt: str | None = None,
        extra: dict[str, Any] | None = None,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> Transcription:
        """Turn speech into text with ``model`` (``POST /v1/audio/transcriptions``).

        Args:
            audio: the audio as bytes, a file path, or a :class:`SpeechResult`.
            model: a speech-to-text model id (a whisper.cpp server) configured in llama-swap.
            language: the spoken language's code (``"en"``); the server detects it if omitted.
            prompt: words to expect (names, jargon), to steer the spelling.
            extra: more form fields the server understands (e.g. ``temperature``).
            timeout: bound this call; a cold whisper model can take long, so none by default.

        Returns:
            A :class:`Transcription`: the text, and timed segments when the server sends them.
        """
        return self._run(
            ops.transcribe(
                self._target,
                audio,
                model=model,
                language=language,
                prompt=prompt,
                extra=extra,
                timeout=timeout,
            )
        )

    async def atranscribe(
        self,
        audio: AudioInput,
        *,
        model: str,
        language: str | None = None,
        prompt: str | None = None,
        extra: dict[str, Any] | None = None,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> Transcription:
        """Async :meth:`transcribe`."""
        return await self._arun(
            ops.transcribe(
                self._target,
                audio,
                model=model,
                language=language,
                prompt=prompt,
                extra=extra,
                timeout=timeout,
            )
        )

    def speech(
        self,
        text: str,
        *,
        model: str,
        voice: str | None = None,
        format: str | None = None,
        extra: dict[str, Any] | None = None,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> SpeechResult:
        """Speak ``text`` with ``model`` (``POST /v1/audio/speech``).

        Args:
            text: the words to speak.
            model: a text-to-speech model id configured in llama-swap.
            voice: one of :meth:`voices`; the server's default if omitted.
            format: ``wav``, ``mp3``, ``opus``, ``aac``, ``flac`` or ``pcm``; the
                server's default if omitted.
            extra: more body fields the server understands (e.g. ``speed``).
            timeout: bound this call; none by default.

        Returns:
            A :class:`SpeechResult`: the audio bytes and their MIME type, with ``save``.
        """
        return self._run(
            ops.speech(
                self._target,
                text,
                model=model,
                voice=voice,
                format=format,
                extra=extra,
                timeout=timeout,
            )
        )

    async def aspeech(
        self,
        text: str,
        *,
        model: str,
        voice: str | None = None,
        format: str | None = None,
        extra: dict[str, Any] | None = None,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> SpeechResult:
        """Async :meth:`speech`."""
        return await self._arun(
            ops.speech(
                self._target,
                text,
                model=model,
                voice=voice,
                format=format,
                extra=extra,
                timeout=timeout,
            )
        )

    def voices(self, model: str, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT) -> list[str]:
        """The voices a speech model offers (``GET /v1/audio/voices?model=<id>``)."""
        return self._run(ops.voices(self._target, model, timeout))

    async def avoices(self, model: str, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT) -> list[str]:
        """Async :meth:`voices`."""
        return await self._arun(ops.voices(self._target, model, timeout))

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
        from llamaswap.events import decode_event, iter_frames

        with self._stream("/api/events", timeout, lambda r: ops.fail(self._target, r)) as response:
            for frame in iter_frames(response.iter_lines()):
                yield decode_event(frame)

    async def aevents(self, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT) -> AsyncIterator[Event]:
        """Async :meth:`events`."""
        from llamaswap.events import aiter_frames, decode_event

        async with self._astream(
            "/api/events", timeout, lambda r: ops.fail(self._target, r)
        ) as response:
            async for frame in aiter_frames(response.aiter_lines()):
                yield decode_event(frame)

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
        deadline = time.monotonic() + 20 * quiet
        parts: list[str] = []
        path = ops.log_stream_path(source, history=True)
        failed = self._log_failed(source)
        try:
            with self._stream(path, _quiet_timeout(quiet), failed, quiet=True) as response:
                for text in response.iter_text():
                    parts.append(text)
                    if time.monotonic() > deadline:
                        break
        except httpx.ReadTimeout:
            pass  # quiet for `quiet` seconds: the history has been sent
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
        deadline = time.monotonic() + 20 * quiet
        parts: list[str] = []
        path = ops.log_stream_path(source, history=True)
        failed = self._log_failed(source)
        try:
            async with self._astream(path, _quiet_timeout(quiet), failed, quiet=True) as response:
                async for text in response.aiter_text():
                    parts.append(text)
                    if time.monotonic() > deadline:
                        break
        except httpx.ReadTimeout:
            pass  # quiet for `quiet` seconds: the history has been sent
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
        path = ops.log_stream_path(source, history=history)
        with self._stream(path, timeout, self._log_failed(source)) as response:
            yield from response.iter_lines()

    async def astream_logs(
        self,
        source: str | None = None,
        *,
        history: bool = True,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> AsyncIterator[str]:
        """Async :meth:`stream_logs`."""
        await self._arun(ops.check_log_source(self._target, source))
        path = ops.log_stream_path(source, history=history)
        async with self._astream(path, timeout, self._log_failed(source)) as response:
            async for line in response.aiter_lines():
                yield line

    def _log_failed(self, source: str | None) -> Callable[[httpx.Response], Op[NoReturn]]:
        return lambda response: ops.log_stream_failed(self._target, response, source)

    @contextlib.contextmanager
    def _stream(
        self,
        path: str,
        timeout: TimeoutArg,
        failed: Callable[[httpx.Response], Op[NoReturn]],
        *,
        quiet: bool = False,
    ) -> Iterator[httpx.Response]:
        """``GET path`` as a stream; an error status raises ``failed``'s typed error."""
        url = self._target.url(path)
        try:
            with self.http_client.stream(
                "GET", url, headers=self._headers, timeout=timeout
            ) as response:
                if response.is_error:
                    response.read()
                    self._run(failed(response))
                yield response
        except (httpx.TransportError, httpx.DecodingError) as exc:
            if quiet and isinstance(exc, httpx.ReadTimeout):
                raise  # the caller's sign that the history has been sent
            raise self._transport_error(exc, "GET", url) from None

    @contextlib.asynccontextmanager
    async def _astream(
        self,
        path: str,
        timeout: TimeoutArg,
        failed: Callable[[httpx.Response], Op[NoReturn]],
        *,
        quiet: bool = False,
    ) -> AsyncIterator[httpx.Response]:
        """The async twin of :meth:`_stream`."""
        url = self._target.url(path)
        try:
            async with self.async_http_client.stream(
                "GET", url, headers=self._headers, timeout=timeout
            ) as response:
                if response.is_error:
                    await response.aread()
                    await self._arun(failed(response))
                yield response
        except (httpx.TransportError, httpx.DecodingError) as exc:
            if quiet and isinstance(exc, httpx.ReadTimeout):
                raise  # the caller's sign that the history has been sent
            raise self._transport_error(exc, "GET", url) from None

    # -- drivers ---------------------------------------------------------------------------

    def _run(self, op: Generator[Any, Any, T], other: Callable[[Any], Any] | None = None) -> T:
        """Drive an operation with blocking sends.

        A step that is not a :class:`Call` (the caller's own request, such as
        :meth:`embed_in_context`'s batches) goes to ``other``.
        """
        try:
            step = next(op)
            while True:
                try:
                    if isinstance(step, Call):
                        answer = self._send(step)
                    else:
                        assert other is not None, f"nothing handles {step!r}"
                        answer = other(step)
                except LlamaSwapError as exc:
                    step = op.throw(exc)
                else:
                    step = op.send(answer)
        except StopIteration as done:
            result: T = done.value
            return result

    async def _arun(
        self, op: Generator[Any, Any, T], other: Callable[[Any], Awaitable[Any]] | None = None
    ) -> T:
        """Drive an operation with awaited sends (``other`` as in :meth:`_run`, awaited)."""
        try:
            step = next(op)
            while True:
                try:
                    if isinstance(step, Call):
                        answer = await self._asend(step)
                    else:
                        assert other is not None, f"nothing handles {step!r}"
                        answer = await other(step)
                except LlamaSwapError as exc:
                    step = op.throw(exc)
                else:
                    step = op.send(answer)
        except StopIteration as done:
            result: T = done.value
            return result

    def _send(self, call: Call) -> httpx.Response:
        started = time.perf_counter()
        try:
            url, quick = self._endpoint(call)
            client = self._management_client() if quick else self.http_client
            response = client.request(
                call.method,
                url,
                json=call.json,
                content=call.content,
                headers=self._call_headers(call, client),
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
            url, quick = self._endpoint(call)
            client = self._async_management_client() if quick else self.async_http_client
            response = await client.request(
                call.method,
                url,
                json=call.json,
                content=call.content,
                headers=self._call_headers(call, client),
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

    def _call_headers(self, call: Call, client: httpx.Client | httpx.AsyncClient) -> dict[str, str]:
        """The headers ``call`` sends on ``client``.

        A pool this provider made already sends the plain headers (``User-Agent`` and the
        caller's ``headers=``), so a call adds only its key there; a client passed in gets
        them all with every call.
        """
        if type(client) is PoolClient or type(client) is AsyncPoolClient:
            headers = self._auth_header if call.auth else {}
        else:
            headers = self._headers if call.auth else self._plain_headers
        if call.content_type is None:
            return headers
        return {**headers, "Content-Type": call.content_type}

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

    # -- where a call goes, worked out once per fixed endpoint (issue 14) -----------------

    def _endpoint(self, call: Call) -> tuple[httpx.URL | str, bool]:
        """``call``'s URL to send, and whether it rides the management pool.

        A call to one of llama-swap's quick endpoints without a model goes to the
        management pool. The URL of a fixed endpoint (a management path or a model route,
        no query) is parsed into an ``httpx.URL`` once per provider: httpx parses a string
        URL on every request (~20 us), a sizeable share of a quick call's client time.
        """
        known = self._endpoints.get(call.url)
        if known is None:
            return self._learn_endpoint(call)
        return known[0], known[1] and call.model is None

    def _learn_endpoint(self, call: Call) -> tuple[httpx.URL | str, bool]:
        """:meth:`_endpoint` for a URL not seen yet; a fixed endpoint's is kept."""
        url, base = call.url, self.base_url
        if not url.startswith(base):
            return url, False
        path = url[len(base) :]
        quick = path.split("?", 1)[0] in MANAGEMENT_PATHS
        sent: httpx.URL | str = url
        if path in MANAGEMENT_PATHS or path in MODEL_ROUTES:  # a bounded set: no ids, no query
            sent = httpx.URL(url)
            self._endpoints[url] = (sent, quick)
        return sent, quick and call.model is None

    # -- embeddings within the model's context (llamaswap.long_inputs) ---------------------
    # -- management extras: profiles, props, metrics, hardware, cancel, capabilities --------
    # (issue 13) An endpoint this llama-swap is too old for raises UnsupportedFeatureError
    # naming the release that added it (llamaswap.features).

    def profiles(self, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT) -> Profiles:
        """The profiles in llama-swap's config and the active one (``GET /api/profiles``).

        A profile pins requested names to models (``assistant`` -> ``qwen``) while active.
        Needs llama-swap v241 or newer.
        """
        return self._run(ops.profiles(self._target, timeout))

    async def aprofiles(self, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT) -> Profiles:
        """Async :meth:`profiles`."""
        return await self._arun(ops.profiles(self._target, timeout))

    def set_profile(
        self, name: str | None, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT
    ) -> str | None:
        """Activate profile ``name``, or none with ``None`` (``PUT /api/profiles/active``).

        Returns the active profile. An unknown name raises :class:`NotFoundError` listing
        the profiles. llama-swap forgets the choice on restart and config reload.
        """
        return self._run(ops.set_profile(self._target, name, timeout))

    async def aset_profile(
        self, name: str | None, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT
    ) -> str | None:
        """Async :meth:`set_profile`."""
        return await self._arun(ops.set_profile(self._target, name, timeout))

    def props(self, model: str, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT) -> ModelProps:
        """What ``model``'s llama.cpp server reports (``GET /props?model=``).

        Context size, chat template, build and modalities. This loads the model (a swap);
        for what the config declares without loading, see :meth:`get_model`. A model
        whose server has no ``/props`` (an image server) raises :class:`NotFoundError`.
        Needs llama-swap v234 or newer.
        """
        return self._run(ops.props(self._target, model, timeout))

    async def aprops(self, model: str, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT) -> ModelProps:
        """Async :meth:`props`."""
        return await self._arun(ops.props(self._target, model, timeout))

    def metrics(self, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT) -> Metrics:
        """llama-swap's host and GPU gauges (``GET /metrics``, Prometheus text, parsed).

        Empty until the performance monitor's first sample (``performance.every``, 5 s by
        default); :class:`APIError` (503) when ``performance.disabled`` is set. Needs
        llama-swap v212 or newer.
        """
        return self._run(ops.metrics(self._target, timeout))

    async def ametrics(self, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT) -> Metrics:
        """Async :meth:`metrics`."""
        return await self._arun(ops.metrics(self._target, timeout))

    def hardware(self, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT) -> HardwareInfo:
        """The host llama-swap detected at startup (``GET /api/hardware``); v247 or newer."""
        return self._run(ops.hardware(self._target, timeout))

    async def ahardware(self, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT) -> HardwareInfo:
        """Async :meth:`hardware`."""
        return await self._arun(ops.hardware(self._target, timeout))

    def cancel(self, inflight_id: str | int, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT) -> None:
        """Cancel one in-flight request (``POST /api/inflight/{id}/cancel``).

        The id comes from an :class:`~llamaswap.InFlight` event (:meth:`events`).
        llama-swap aborts the upstream call; its client gets a cut-off answer. An id that
        is not in flight raises :class:`NotFoundError`. Needs llama-swap v235 or newer.
        """
        self._run(ops.cancel(self._target, inflight_id, timeout))

    async def acancel(
        self, inflight_id: str | int, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT
    ) -> None:
        """Async :meth:`cancel`."""
        await self._arun(ops.cancel(self._target, inflight_id, timeout))

    def models_with(
        self, capability: str, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT
    ) -> list[ModelInfo]:
        """The listed models whose config declares ``capability`` (never loads a model).

        ``capability`` is a key of llama-swap's ``capabilities`` map: ``reranker``,
        ``function_calling``, ``vision``, ``image_generation``, ``image_to_image``,
        ``audio_transcriptions`` or ``audio_speech``.
        """
        return _with_capability(capability, self.list_models(timeout=timeout))

    async def amodels_with(
        self, capability: str, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT
    ) -> list[ModelInfo]:
        """Async :meth:`models_with`."""
        return _with_capability(capability, await self.alist_models(timeout=timeout))

    def embed_in_context(
        self,
        texts: Sequence[str],
        *,
        model: str,
        send: Callable[[list[EmbedInput]], Sequence[Sequence[float]]],
        split_long_inputs: bool = True,
        max_input_tokens: int | None = None,
        batch_size: int | None = None,
    ) -> list[list[float]]:
        """One vector per text, every input within ``model``'s context.

        Over-long inputs are split by the model's own tokenizer and pooled (see
        :mod:`llamaswap.long_inputs`); the operation rides this provider's driver.

        Args:
            texts: what to embed.
            model: the embedding model id.
            send: embeds one batch of inputs (strings or token-id lists), one vector each,
                in order; the caller's embeddings client.
            split_long_inputs: split over-long inputs and pool them (default); ``False``
                raises :class:`~llamaswap.InputTooLongError` for them instead.
            max_input_tokens: a limit below the model's own (``None``: the model's).
            batch_size: most inputs per ``send`` (``None``: all at once).
        """
        op = self._embed_op(texts, model, split_long_inputs, max_input_tokens, batch_size)
        return self._run(op, lambda batch: [list(v) for v in send(batch.inputs)])

    async def aembed_in_context(
        self,
        texts: Sequence[str],
        *,
        model: str,
        send: Callable[[list[EmbedInput]], Awaitable[Sequence[Sequence[float]]]],
        split_long_inputs: bool = True,
        max_input_tokens: int | None = None,
        batch_size: int | None = None,
    ) -> list[list[float]]:
        """Async :meth:`embed_in_context` (``send`` is awaited)."""

        async def other(batch: long_inputs.EmbedRequest) -> list[list[float]]:
            return [list(v) for v in await send(batch.inputs)]

        op = self._embed_op(texts, model, split_long_inputs, max_input_tokens, batch_size)
        return await self._arun(op, other)

    def _embed_op(
        self, texts: Sequence[str], model: str, split: bool, limit: int | None, batch: int | None
    ) -> long_inputs.EmbedOp:
        from llamaswap import long_inputs

        return long_inputs.embed_op(
            self._target,
            self._answers,
            self,
            texts,
            model=model,
            split=split,
            max_input_tokens=limit,
            batch_size=batch,
        )


def _check_quiet(quiet: float) -> None:
    if isinstance(quiet, bool) or not isinstance(quiet, int | float) or not quiet > 0:
        raise ValueError(f"quiet must be a positive number of seconds, got {quiet!r}")


def _quiet_timeout(quiet: float) -> httpx.Timeout:
    """Connect as usual; a read that waits ``quiet`` seconds means the history is done."""
    return httpx.Timeout(quiet, connect=DEFAULT_TIMEOUT.connect)


MODEL_LOOKUP_TIMEOUT = 10.0
"""Seconds a framework class waits for ``/v1/models`` when it reads a model's context
and capabilities on its own (that route never loads a model, so a bound is safe)."""

LISTING_MAX_AGE = 30.0
"""Seconds :meth:`LlamaSwapProvider.model_facts` reuses a ``/v1/models`` answer (or the
failure to get one): a service that builds a chat model per request asks once per
interval, not once per request."""

CAPABILITIES = (
    "function_calling",
    "vision",
    "reranker",
    "image_generation",
    "image_to_image",
    "audio_transcriptions",
    "audio_speech",
)
"""The ``capabilities`` keys llama-swap v225-v250 renders in ``/v1/models``."""


def _with_capability(capability: str, models: list[ModelInfo]) -> list[ModelInfo]:
    """The models declaring ``capability``; a name no release uses and no model has is a typo."""
    if not isinstance(capability, str) or not capability:
        raise ValueError(f"capability must be a non-empty string, got {capability!r}")
    found = [m for m in models if m.has(capability)]
    if not found and capability not in CAPABILITIES:
        raise ValueError(
            f"llama-swap has no capability {capability!r}; it renders: {', '.join(CAPABILITIES)}"
        )
    return found
