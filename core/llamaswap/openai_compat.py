"""OpenAI SDK clients that ride a provider's pool and raise llama-swap's typed errors.

Needs the ``openai`` package (imported here, never by the rest of ``llamaswap``).

The clients subclass ``openai.OpenAI``/``AsyncOpenAI`` and change two things: a status
error becomes llama-swap's typed error with its message (the model, llama-swap's reason)
*and* stays an instance of the SDK's class, so ``except llamaswap.RateLimitError`` and
``except openai.RateLimitError`` both work; a connection failure becomes
:class:`~llamaswap.LlamaSwapConnectionError` (also an ``openai.APIConnectionError``); and
breaking out of a ``for``/``async for`` loop over a stream closes its connection at once;
llama-swap's model-loading progress leaves ``reasoning_content`` for the chunk's
``llamaswap_loading`` field (:func:`separate_loading`).

The error classes here are public: the provider's ``openai_client()`` and the LlamaIndex
classes raise them (``llama_index_llamaswap`` re-exports them, and ``langchain_llamaswap``
subclasses them with LangChain's classes). Each subclasses the :mod:`llamaswap` class of
the same name, so ``except llamaswap.NotFoundError`` catches every flavour.
"""

from __future__ import annotations

import functools
import itertools
import typing
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any, TypeVar

import httpx
import openai
from openai._streaming import ServerSentEvent

from llamaswap import errors
from llamaswap._wire import (
    DEFAULT_TIMEOUT,
    PLACEHOLDER_API_KEY,
    error_from_response,
    lists_available,
    transport_error,
    with_available,
)
from llamaswap.answer_checks import request_json
from llamaswap.loading import LOADING_FIELD, loading_text
from llamaswap.stream_guard import PARSED_EVENTS

_END = (b"",)  # one more turn after the last chunk: the events of the stream's end

LIST_TIMEOUT = 10.0
"""Bound on ``GET /v1/models`` when naming the served ids in an error (it never loads)."""

# The SDK reads OPENAI_ORG_ID / OPENAI_PROJECT_ID from the environment and sends them as
# headers; they mean nothing to llama-swap and must not leave the process.
DROP_OPENAI_HEADERS: dict[str, Any] = {
    "OpenAI-Organization": openai.omit,
    "OpenAI-Project": openai.omit,
}


# -- errors that are both --------------------------------------------------------------


class BadRequestError(errors.APIError, openai.BadRequestError):
    """400 from the model server (bad parameters, context exceeded, ...)."""


class AuthenticationError(errors.AuthenticationError, openai.AuthenticationError):
    """401: see :class:`llamaswap.AuthenticationError`."""


class PermissionDeniedError(errors.APIError, openai.PermissionDeniedError):
    """403 from the model server."""


class NotFoundError(errors.NotFoundError, openai.NotFoundError):
    """404: see :class:`llamaswap.NotFoundError`."""


class ConflictError(errors.APIError, openai.ConflictError):
    """409 (e.g. a path in llama-swap's ``ignorePaths``)."""


class UnprocessableEntityError(errors.APIError, openai.UnprocessableEntityError):
    """422 from the model server."""


class RateLimitError(errors.RateLimitError, openai.RateLimitError):
    """429: see :class:`llamaswap.RateLimitError` (``retry_after``)."""


class ModelLoadError(errors.ModelLoadError, openai.InternalServerError):
    """500 load failure: see :class:`llamaswap.ModelLoadError` (``model``, ``reason``)."""


class UpstreamError(errors.UpstreamError, openai.InternalServerError):
    """5xx from llama-swap or a model server that died: see :class:`llamaswap.UpstreamError`."""


class APIStatusError(errors.APIError, openai.APIStatusError):
    """Any other error status."""


class APIConnectionError(errors.LlamaSwapConnectionError, openai.APIConnectionError):
    """llama-swap could not be reached: see :class:`llamaswap.LlamaSwapConnectionError`."""


class APITimeoutError(errors.LlamaSwapTimeoutError, openai.APITimeoutError):
    """A timeout the caller set ran out: see :class:`llamaswap.LlamaSwapTimeoutError`."""


_E = TypeVar("_E", bound=BaseException)

STATUS_CLASSES: tuple[type[errors.APIError], ...] = (
    BadRequestError,
    AuthenticationError,
    PermissionDeniedError,
    NotFoundError,
    ConflictError,
    UnprocessableEntityError,
    RateLimitError,
    ModelLoadError,
    UpstreamError,
    APIStatusError,
)
"""The one table: each class names its llamaswap class and its SDK class as its bases."""


def _status_class(
    typed: errors.APIError, sdk_error: openai.APIStatusError
) -> type[errors.APIError]:
    """The class that is both: llamaswap's own class decides, else the SDK's (the status)."""
    for cls in STATUS_CLASSES:
        ours, sdk = cls.__bases__
        if type(typed) is ours and (ours is not errors.APIError or type(sdk_error) is sdk):
            return cls
    return APIStatusError


_LLAMACPP_CONTEXT = "exceed_context_size_error"
_OPENAI_CONTEXT = "context_length_exceeded"


def merged_error(cls: type[_E], message: str, *parts: BaseException) -> _E:
    """An instance of ``cls`` carrying the attributes of every part (later parts win).

    The one merge helper: ``cls`` subclasses the classes of the parts (llamaswap's, the
    SDK's, and in the LangChain adapter LangChain's), so one object is all of them. No
    ``__init__`` runs: each class's constructor wants different arguments, and the parts
    already hold every attribute those constructors would set.
    """
    err = cls.__new__(cls)
    BaseException.__init__(err, message)
    for part in parts:
        err.__dict__.update(part.__dict__)
    err.__dict__["message"] = message
    return err


def _request_model(request: httpx.Request | None) -> str | None:
    model = request_json(request).get("model") if request is not None else None
    return model if isinstance(model, str) else None


def status_error(sdk_error: openai.APIStatusError, *, secret: str | None = None) -> errors.APIError:
    """llama-swap's typed error for an SDK status error, also an instance of its SDK class."""
    response = sdk_error.response
    typed = error_from_response(response, model=_request_model(response.request), secret=secret)
    cls = _status_class(typed, sdk_error)
    message = typed.message
    if sdk_error.type == _LLAMACPP_CONTEXT and _OPENAI_CONTEXT not in message:
        # llama.cpp's name for it; LangChain and others look for OpenAI's code.
        message = f"{message} ({_OPENAI_CONTEXT})"
        sdk_error.code = _OPENAI_CONTEXT
    return merged_error(cls, message, sdk_error, typed)


def connection_error(
    sdk_error: openai.APIConnectionError, *, base_url: str, secret: str | None = None
) -> errors.LlamaSwapError:
    """llama-swap's connection/timeout error for an SDK one, also an instance of it."""
    request = sdk_error.request
    where = f"{request.method} {request.url.copy_with(query=None)}"
    cause = sdk_error.__cause__
    if isinstance(sdk_error, openai.APITimeoutError) and not isinstance(
        cause, httpx.TimeoutException
    ):
        cause = httpx.TimeoutException(str(sdk_error))
    typed = transport_error(cause or sdk_error, base_url=base_url, where=where, secret=secret)
    cls: type[errors.LlamaSwapError] = (
        APITimeoutError if isinstance(typed, errors.LlamaSwapTimeoutError) else APIConnectionError
    )
    if isinstance(typed, errors.PoolTimeoutError):
        cls = PoolTimeoutError
    return merged_error(cls, str(typed), sdk_error)


_T = TypeVar("_T")


class ClosingStream(openai.Stream[_T]):
    """An SDK stream that closes its connection when a ``for`` loop over it ends early.

    The SDK's stream holds its own generator (a reference cycle), so a stream abandoned
    by ``break`` keeps its connection, and llama-swap keeps generating, until the garbage
    collector runs. The loop's iterator here is freed at once, and closes the response.
    """

    def __iter__(self) -> Iterator[_T]:
        try:
            for item in self._iterator:
                yield separate_loading(item)
        finally:
            self.close()

    def _iter_events(self) -> Iterator[ServerSentEvent]:
        response = self.response
        scanner = response.extensions.get(PARSED_EVENTS)
        if scanner is None or response.is_stream_consumed:
            yield from super()._iter_events()
            return
        # The guard frames and decodes every event as it reads the bytes (see
        # _ParsedEvent): take its events after each chunk instead of doing both again.
        parsed = scanner.claim()
        take = parsed.popleft
        for _ in itertools.chain(response.iter_raw(), _END):
            while parsed:
                text, value = take()
                if value is None:  # [DONE]: the SDK stops here
                    return
                yield _ParsedEvent(text, value)


class ClosingAsyncStream(openai.AsyncStream[_T]):
    """The async twin of :class:`ClosingStream` (``break`` and task cancellation)."""

    async def __aiter__(self) -> AsyncIterator[_T]:
        try:
            async for item in self._iterator:
                yield separate_loading(item)
        finally:
            await self.close()

    async def _iter_events(self) -> AsyncIterator[ServerSentEvent]:
        response = self.response
        scanner = response.extensions.get(PARSED_EVENTS)
        if scanner is None or response.is_stream_consumed:
            async for sse in super()._iter_events():
                yield sse
            return
        parsed = scanner.claim()  # see ClosingStream._iter_events
        take = parsed.popleft
        chunks, more = response.aiter_raw(), True
        while more:
            try:
                await anext(chunks)
            except StopAsyncIteration:
                more = False  # one more turn: the events of the stream's end
            while parsed:
                text, value = take()
                if value is None:  # [DONE]: the SDK stops here
                    return
                yield _ParsedEvent(text, value)


class _ParsedEvent(ServerSentEvent):
    """An SDK event built from the stream guard's parse (each stream framed and decoded once).

    The guard (:mod:`llamaswap.stream_guard`) splits the lines of a completion stream and
    decodes and checks every ``data:`` event; the streams' ``_iter_events`` hand those on
    instead of running the SDK's own line splitting and ``json.loads`` per event. A
    completion stream's events carry only ``data`` (``event``, ``id`` and ``retry`` are
    for the SDK's Assistants events, on routes the guard does not watch).
    """

    _event = None
    _id = None
    _retry = None

    def __init__(self, data: str, value: Any) -> None:
        self._data = data
        self._value = value

    def json(self) -> Any:
        return self._value


def separate_loading(item: _T) -> _T:
    """Keep llama-swap's loading progress out of the model's reasoning.

    A chunk that is llama-swap's ``sendLoadingState`` progress (see :mod:`llamaswap.loading`)
    loses its ``reasoning_content``; its text goes to the chunk's ``llamaswap_loading``
    field instead. Every other chunk passes untouched (a chunk with an ``id`` is never one).
    """
    if not isinstance(item, openai.BaseModel) or "id" in item.__pydantic_fields_set__:
        return item
    text = loading_text(item.model_dump(exclude_unset=True))
    if text is None:
        return item
    for choice in getattr(item, "choices", None) or []:
        extra = getattr(choice.delta, "__pydantic_extra__", None)
        if isinstance(extra, dict):
            extra.pop("reasoning_content", None)
    setattr(item, LOADING_FIELD, text)
    return item


def _closing_streams(kwargs: dict[str, Any], closing: Any) -> dict[str, Any]:
    stream_cls = kwargs.get("stream_cls")
    if stream_cls is not None:
        kwargs["stream_cls"] = _closing_class(stream_cls, closing)
    return kwargs


@functools.lru_cache(maxsize=64)
def _closing_class(stream_cls: Any, closing: Any) -> Any:
    """``closing[T]`` for the SDK's ``Stream[T]`` (cached: the SDK passes one on every call)."""
    if typing.get_origin(stream_cls) in (openai.Stream, openai.AsyncStream):
        return closing[typing.get_args(stream_cls)[0]]
    return stream_cls


def _root(url: httpx.URL) -> str:
    text = str(url).rstrip("/")
    return text[: -len("/v1")] if text.endswith("/v1") else text


def _secret(api_key: str) -> str | None:
    return None if api_key == PLACEHOLDER_API_KEY else api_key


class OpenAI(openai.OpenAI):
    """``openai.OpenAI`` whose errors are llama-swap's typed errors (and the SDK's)."""

    def _make_status_error(
        self, err_msg: str, *, body: object, response: httpx.Response
    ) -> openai.APIStatusError:
        sdk_error = super()._make_status_error(err_msg, body=body, response=response)
        mapped = status_error(sdk_error, secret=_secret(self.api_key))
        assert isinstance(mapped, openai.APIStatusError)
        return mapped

    def _served_ids(self) -> list[str]:
        """The ids llama-swap lists, or none when it cannot say."""
        try:
            return [m.id for m in self.models.list(timeout=LIST_TIMEOUT).data]
        except Exception:  # the original error is what the caller needs
            return []

    def request(self, *args: Any, **kwargs: Any) -> Any:
        """Send as the SDK does; connection failures become llama-swap's typed error."""
        try:
            return super().request(*args, **_closing_streams(kwargs, ClosingStream))
        except errors.NotFoundError as exc:
            if lists_available(exc):
                with_available(exc, self._served_ids())
            raise
        except openai.APIConnectionError as exc:
            if isinstance(exc, errors.LlamaSwapError):
                raise
            raise connection_error(
                exc, base_url=_root(self.base_url), secret=_secret(self.api_key)
            ) from exc


class AsyncOpenAI(openai.AsyncOpenAI):
    """``openai.AsyncOpenAI`` whose errors are llama-swap's typed errors (and the SDK's)."""

    def _make_status_error(
        self, err_msg: str, *, body: object, response: httpx.Response
    ) -> openai.APIStatusError:
        sdk_error = super()._make_status_error(err_msg, body=body, response=response)
        mapped = status_error(sdk_error, secret=_secret(self.api_key))
        assert isinstance(mapped, openai.APIStatusError)
        return mapped

    async def _served_ids(self) -> list[str]:
        """The ids llama-swap lists, or none when it cannot say."""
        try:
            page = await self.models.list(timeout=LIST_TIMEOUT)
        except Exception:  # the original error is what the caller needs
            return []
        return [m.id for m in page.data]

    async def request(self, *args: Any, **kwargs: Any) -> Any:
        """Send as the SDK does; connection failures become llama-swap's typed error."""
        try:
            return await super().request(*args, **_closing_streams(kwargs, ClosingAsyncStream))
        except errors.NotFoundError as exc:
            if lists_available(exc):
                with_available(exc, await self._served_ids())
            raise
        except openai.APIConnectionError as exc:
            if isinstance(exc, errors.LlamaSwapError):
                raise
            raise connection_error(
                exc, base_url=_root(self.base_url), secret=_secret(self.api_key)
            ) from exc


@functools.cache
def sdk_parameters() -> frozenset[str]:
    """Keyword names ``chat.completions.create`` and ``completions.create`` take.

    Read on first use, not at import: ``openai.resources`` imports every resource of the
    SDK (~1 s of CPU), which ``import openai`` and ``ChatOpenAI`` put off until a client
    first touches ``.chat``; importing this module must not pay it earlier.
    """
    import inspect

    from openai.resources.chat.completions import Completions as Chat
    from openai.resources.completions import Completions as Legacy

    names: set[str] = set()
    for method in (Chat.create, Legacy.create):
        names.update(p for p in inspect.signature(method).parameters if p != "self")
    return frozenset(names)


def with_extra_body(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for the SDK's ``create`` with llama.cpp's own fields in ``extra_body``.

    llama-server reads sampling and slot settings the OpenAI API lacks (``top_k``,
    ``min_p``, ``typical_p``, ``repeat_penalty``, ``repeat_last_n``, ``mirostat*``,
    ``n_probs``, ``cache_prompt``, ``id_slot``, ``grammar``, ``chat_template_kwargs``, ...);
    the SDK raises ``TypeError`` for keywords it does not know. Every such field, and any
    unknown one, is moved into ``extra_body``, which the SDK merges into the JSON body as
    is, so it goes on the wire under its own name. A field given both ways keeps the
    top-level value.
    """
    known = sdk_parameters()
    if known.issuperset(kwargs):  # the usual body: no walk over it in Python
        return kwargs
    extra = {k: v for k, v in kwargs.items() if k not in known}
    out = {k: v for k, v in kwargs.items() if k in known}
    given = out.get("extra_body")
    if given is not None and not isinstance(given, dict):
        raise TypeError(f"extra_body must be a dict, got {type(given).__name__}")
    out["extra_body"] = {**(given or {}), **extra}
    return out


def embedding_vectors(response: Any) -> list[list[float]]:
    """The vectors of an SDK embeddings answer, in input order (by ``index``).

    Their count, types and sizes were checked once, on the wire, by
    :mod:`llamaswap.answer_checks` (a :class:`~llamaswap.ResponseDecodeError` names what
    was wrong), so the adapters only reorder.
    """
    return [[float(v) for v in item.embedding] for item in sorted(response.data, key=_index)]


def _index(item: Any) -> int:
    return int(item.index)


def client_kwargs(
    *,
    base_url: str,
    api_key: str | None,
    timeout: Any = DEFAULT_TIMEOUT,
    default_headers: Mapping[str, str] | None = None,
    default_query: Mapping[str, object] | None = None,
) -> dict[str, Any]:
    """Constructor arguments for the clients above aimed at llama-swap (SDK retries off).

    The one place SDK clients get their settings, for core and both adapters: the key or
    the placeholder, ``<base_url>/v1``, no SDK retries (they would resend 5xx answers and
    timeouts, which may have started a swap), a bounded connect but no read timeout for
    ``None``, and none of the ``OPENAI_*`` organisation/project headers.
    """
    headers: dict[str, Any] = dict(DROP_OPENAI_HEADERS)
    headers.update(default_headers or {})
    kwargs: dict[str, Any] = {
        "api_key": api_key or PLACEHOLDER_API_KEY,
        "base_url": base_url,
        "timeout": DEFAULT_TIMEOUT if timeout is None else timeout,
        "max_retries": 0,
        "default_headers": headers,
        "organization": None,
        "project": None,
    }
    if default_query:
        kwargs["default_query"] = dict(default_query)
    return kwargs


class PoolTimeoutError(errors.PoolTimeoutError, APITimeoutError):
    """No pooled connection came free in time: see :class:`llamaswap.PoolTimeoutError`."""
