"""Make a cut-off completion stream an error instead of a short answer.

When a model server dies mid-answer, llama-swap ends the chunked response cleanly: the
client sees a normal end of stream with no ``finish_reason`` and no ``data: [DONE]``. With
``sendLoadingState`` on, a load failure is appended to the stream as a bare JSON line.
OpenAI clients take both for a complete (short) answer. The transports here wrap httpx's
and watch every ``text/event-stream`` answer to a completion route: a stream that ends
without ``[DONE]`` or a finish reason raises :class:`IncompleteResponseError`, and an
appended llama-swap error raises the matching typed error. Every client a provider creates
uses them, so any OpenAI SDK client riding the provider's pool gets this for free.

They also check what the model server sent (:mod:`llamaswap.answer_checks`): a stream
event that is not a JSON event, a stream request answered without ``text/event-stream``,
and a non-streamed answer that is not the API's JSON raise :class:`ResponseDecodeError`.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx

from llamaswap._wire import load_error
from llamaswap.answer_checks import (
    asks_to_stream,
    check_on_read,
    check_stream_event,
    not_a_stream,
    route_of,
    subject_for,
)
from llamaswap.errors import (
    IncompleteResponseError,
    ResponseDecodeError,
    UpstreamError,
)

_KEEP_PARSED = 256
PARSED_EVENTS = "llamaswap.parsed_events"
"""The ``response.extensions`` key of a guarded stream's :class:`StreamScanner`, whose
parsed events a reader can take instead of splitting and decoding the stream again."""


class StreamScanner:
    """Watches the lines of one completion stream; pure, so it is tested on its own."""

    def __init__(self, model: str | None = None, request: httpx.Request | None = None) -> None:
        self._model = model
        self._subject = subject_for(request, model) if request is not None else None
        self.done = False
        self.finished = False
        self.events = 0
        self._partial = b""
        # Each event as parsed here (``[DONE]`` as a ``None`` parse), for the OpenAI SDK
        # streams of openai_compat to take instead of framing and decoding the stream
        # again; bounded until a reader claims it, since a raw httpx reader takes none.
        self.parsed: deque[tuple[bytes | str, Any]] = deque(maxlen=_KEEP_PARSED)

    @property
    def model(self) -> str | None:
        """The model asked for (read from the request only when a message names it)."""
        return self._subject.model if self._subject is not None else self._model

    @property
    def complete(self) -> bool:
        """Whether the stream has said it is over (``[DONE]`` or a finish reason)."""
        return self.done or self.finished

    def claim(self) -> deque[tuple[bytes | str, Any]]:
        """The parsed events, unbounded from now on, for one reader that empties it.

        Each entry is ``(data text, parsed event)`` in stream order, and ``[DONE]`` is
        ``("[DONE]", None)``. A reader that takes the entries after each chunk it reads
        sees every event (a chunk may hold more than the unclaimed bound); the events of
        a last line without its newline arrive when the stream ends.
        """
        if self.parsed.maxlen is not None:
            self.parsed = deque(self.parsed)
        return self.parsed

    def feed(self, chunk: bytes) -> None:
        """Take the next bytes; raises at once if llama-swap appended an error."""
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            if line.startswith(b"data:"):  # most lines: straight to the event, once each
                self._data(line[5:].strip())
            elif line and not line.isspace():  # the blank line between events says nothing
                self._line(line.strip())

    def close(self) -> None:
        """The stream ended: raise unless it said it was complete."""
        if self._partial.strip():
            self._line(self._partial.strip())
            self._partial = b""
        if not self.complete:
            subject = f"model {self.model!r}" if self.model else "the model"
            raise IncompleteResponseError(
                f"the answer from {subject} ended before it was complete (after {self.events} "
                "stream events, with no finish_reason and no [DONE]); the model server most "
                "likely stopped mid-answer (crash, unload or swap). See llama-swap's log "
                "(GET /logs); retry the request if you want a complete answer"
            )

    def _line(self, line: bytes) -> None:
        if line.startswith(b"data:"):
            self._data(line[5:].strip())
        elif line.startswith(b"{"):
            self._appended_error(line)

    def _data(self, payload: bytes) -> None:
        self.events += 1
        if payload == b"[DONE]":
            self.done = True
            self.parsed.append(("[DONE]", None))
            return
        try:  # decoded here, once: the SDK's events are text to compare with
            text: bytes | str = payload.decode()
        except UnicodeDecodeError:
            text = payload  # check_stream_event says it is not JSON
        event, finishes = check_stream_event(text, self.events, self._subject)
        self.parsed.append((text, event))
        if finishes:
            self.finished = True

    def _appended_error(self, line: bytes) -> None:
        try:
            body = json.loads(line)
        except ValueError:
            return
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            error = error.get("message")
        if not isinstance(error, str):
            return
        subject = f"model {self.model!r}" if self.model else "the model"
        text = line.decode(errors="replace")
        raise load_error(error, subject=subject, model=self.model, body=text) or UpstreamError(
            f"llama-swap reported an error in the stream for {subject}: {error}",
            status_code=500,
            body=text,
        )


def _guarded(response: httpx.Response, content_type: str) -> bool:
    """Whether an answer to a completion route is a stream to watch."""
    return response.status_code == 200 and content_type.startswith("text/event-stream")


def _cut(scanner: StreamScanner, exc: httpx.TransportError) -> IncompleteResponseError:
    subject = f"model {scanner.model!r}" if scanner.model else "the model"
    return IncompleteResponseError(
        f"the answer from {subject} was cut off after {scanner.events} stream events "
        f"({type(exc).__name__}: {exc}); llama-swap or the model server went away mid-answer"
    )


class _GuardedStream(httpx.SyncByteStream):
    def __init__(self, inner: httpx.SyncByteStream, scanner: StreamScanner) -> None:
        self._inner = inner
        self._scanner = scanner

    def __iter__(self) -> Iterator[bytes]:
        try:
            for chunk in self._inner:
                self._scanner.feed(chunk)
                yield chunk
        except httpx.TransportError as exc:
            raise _cut(self._scanner, exc) from exc
        self._scanner.close()

    def close(self) -> None:
        self._inner.close()


class _AsyncGuardedStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, scanner: StreamScanner) -> None:
        self._inner = inner
        self._scanner = scanner

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._inner:
                self._scanner.feed(chunk)
                yield chunk
        except httpx.TransportError as exc:
            raise _cut(self._scanner, exc) from exc
        self._scanner.close()

    async def aclose(self) -> None:
        """Close the inner transport."""
        await self._inner.aclose()


class _FailingStream(httpx.SyncByteStream):
    """A body that raises when read: the client has the headers, the read says why."""

    def __init__(self, inner: httpx.SyncByteStream, error: ResponseDecodeError) -> None:
        self._inner = inner
        self._error = error

    def __iter__(self) -> Iterator[bytes]:
        raise self._error

    def close(self) -> None:
        self._inner.close()


class _AsyncFailingStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, error: ResponseDecodeError) -> None:
        self._inner = inner
        self._error = error

    async def __aiter__(self) -> AsyncIterator[bytes]:
        raise self._error
        yield b""  # pragma: no cover

    async def aclose(self) -> None:
        """Close the inner transport."""
        await self._inner.aclose()


def _inspect(
    request: httpx.Request,
    response: httpx.Response,
    guard: Callable[[Any, StreamScanner], Any],
    fail: Callable[[Any, ResponseDecodeError], Any],
) -> httpx.Response:
    """Wrap an OpenAI-route answer in the check it needs; one logic for sync and async.

    The request body is parsed only when needed: to confirm a ``"stream": true`` that a
    non-stream answer contradicts, and to name the model or count the inputs when an
    answer is checked or fails.
    """
    route = route_of(request.url.path)
    if route is None or not 200 <= response.status_code < 300:
        return response
    content_type = response.headers.get("content-type", "")  # read once, for both checks
    if route != "embeddings":  # chat or completions: the routes that stream
        if _guarded(response, content_type):
            scanner = StreamScanner(request=request)
            response.stream = guard(response.stream, scanner)
            response.extensions = {**response.extensions, PARSED_EVENTS: scanner}
            return response
        if asks_to_stream(request):
            error = not_a_stream(request, response)
            if error is not None:
                response.stream = fail(response.stream, error)
            return response
    return check_on_read(request, response, route, content_type)


class GuardedTransport(httpx.BaseTransport):
    """An httpx transport that raises on cut-off completion streams."""

    def __init__(self, inner: httpx.BaseTransport | None = None) -> None:
        self._inner = inner or httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send through the inner transport; wrap completion streams in the scanner."""
        response = self._inner.handle_request(request)
        return _inspect(request, response, _GuardedStream, _FailingStream)

    def close(self) -> None:
        """Close the inner transport."""
        self._inner.close()


class AsyncGuardedTransport(httpx.AsyncBaseTransport):
    """The async twin of :class:`GuardedTransport`."""

    def __init__(self, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self._inner = inner or httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send through the inner transport; wrap completion streams in the scanner."""
        response = await self._inner.handle_async_request(request)
        return _inspect(request, response, _AsyncGuardedStream, _AsyncFailingStream)

    async def aclose(self) -> None:
        """Close the inner transport."""
        await self._inner.aclose()
