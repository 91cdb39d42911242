"""Check 2xx answers of the OpenAI-compatible routes before any client reads them.

llama-swap passes a model server's answer through untouched, so a server that answers 200
with HTML, cut-off JSON or the wrong shape reaches the OpenAI SDK, which then fails with a
bare ``JSONDecodeError``, hands a ``str`` to the framework (``'str' object has no attribute
'choices'``), or silently yields an empty stream. The provider's transports
(:mod:`llamaswap.stream_guard`) use this module so that every client on a provider's pool,
the LangChain and LlamaIndex classes included, gets a :class:`ResponseDecodeError` that
says what was wrong instead:

- a non-streamed answer to ``/chat/completions``, ``/completions`` or ``/embeddings``
  becomes a :class:`CheckedResponse`, whose ``json()`` (what the SDK calls to parse it)
  decodes strictly and checks the shape the SDK and frameworks rely on;
- a stream request answered without ``text/event-stream`` raises when it is read;
- every event of a completion stream must be a JSON object with a ``choices`` list.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
import typing
from collections.abc import Mapping
from typing import Any

import httpx

from llamaswap._wire import request_secret, scrub
from llamaswap.errors import ResponseDecodeError

ROUTES = {"/chat/completions": "chat", "/completions": "completions", "/embeddings": "embeddings"}
_EXCERPT = 120


def route_of(path: str) -> str | None:
    """``chat``, ``completions`` or ``embeddings`` for an OpenAI-compatible path, else None."""
    for suffix, route in ROUTES.items():
        if path.endswith(suffix):
            return route
    return None


def request_json(request: httpx.Request) -> dict[str, Any]:
    """The request's JSON body as a dict (empty when unreadable or not an object)."""
    try:
        body = json.loads(request.content)
    except (ValueError, httpx.RequestNotRead):
        return {}
    return body if isinstance(body, dict) else {}


def input_count(body: Mapping[str, Any]) -> int | None:
    """How many embeddings an ``/embeddings`` request asks for (None if unclear)."""
    inp = body.get("input")
    if isinstance(inp, str):
        return 1
    if isinstance(inp, list) and inp:
        if all(isinstance(item, int) and not isinstance(item, bool) for item in inp):
            return 1  # one text as token ids
        return len(inp)
    return None


def excerpt(data: bytes | str) -> str:
    """The start of a body, for messages."""
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    return repr(text[:_EXCERPT] + ("..." if len(text) > _EXCERPT else ""))


def _show(value: Any) -> str:
    """A shortened repr of a parsed value, for messages."""
    text = repr(value)
    return text if len(text) <= _EXCERPT else text[: _EXCERPT - 3] + "..."


def request_model(request: httpx.Request) -> str | None:
    """The ``model`` a request's JSON body names, if any."""
    model = request_json(request).get("model")
    return model if isinstance(model, str) else None


class _Subject:
    """Says which answer a message is about: ``POST /v1/chat/completions for model 'x'``.

    Worked out only when a message needs it (the request is parsed for its model only
    then): every answer gets a subject, few answers fail.
    """

    def __init__(self, request: httpx.Request, model: str | None = None) -> None:
        self._request = request
        self._model = model

    @functools.cached_property
    def url(self) -> str:
        return str(self._request.url.copy_with(query=None))

    @functools.cached_property
    def secret(self) -> str | None:
        return request_secret(self._request)  # a server may echo it: never show it

    @functools.cached_property
    def model(self) -> str | None:
        return self._model if self._model is not None else request_model(self._request)

    @functools.cached_property
    def text(self) -> str:
        request, model = self._request, self.model
        return f"{request.method} {request.url.path}" + (f" for model {model!r}" if model else "")

    def fail(self, problem: str, body: str = "") -> ResponseDecodeError:
        return ResponseDecodeError(
            scrub(
                f"the answer to {self.text} {problem}; the model server behind llama-swap "
                "sent something that is not the OpenAI-compatible API",
                self.secret,
            ),
            url=self.url,
            body=scrub(body, self.secret),
        )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_choices(data: Mapping[str, Any], subject: _Subject, key: str) -> None:
    # Every answer runs through here: JSON's plain dicts skip the ABC checks (``type(x) is
    # dict or isinstance(x, Mapping)`` is ``isinstance(x, Mapping)``, without its frame).
    choices = data.get("choices")
    if not isinstance(choices, list):
        raise subject.fail(f"has no 'choices' list (got {type(choices).__name__})")
    if not choices:
        raise subject.fail("has an empty 'choices' list (no answer at all)")
    for i, choice in enumerate(choices):
        if type(choice) is not dict and not isinstance(choice, Mapping):
            raise subject.fail(f"has choice {i} that is not an object: {_show(choice)}")
        if key == "message":
            message = choice.get("message")
            if type(message) is not dict and not isinstance(message, Mapping):
                raise subject.fail(
                    f"has choice {i} whose 'message' is not an object: {_show(message)}"
                )
            content = message.get("content")
            if content is not None and not isinstance(content, str | list):
                raise subject.fail(f"has choice {i} whose message content is not text")
            calls = message.get("tool_calls")
            if calls is not None and not (
                isinstance(calls, list) and all(isinstance(c, Mapping) for c in calls)
            ):
                raise subject.fail(f"has choice {i} whose 'tool_calls' is not a list of objects")
        elif not isinstance(choice.get("text"), str):
            raise subject.fail(f"has choice {i} without a 'text' string")


def _check_embeddings(
    data: Mapping[str, Any], subject: _Subject, expected: int | None, encoded: bool
) -> None:
    items = data.get("data")
    if not isinstance(items, list):
        raise subject.fail(f"has no 'data' list of embeddings (got {type(items).__name__})")
    if expected is not None and len(items) != expected:
        raise subject.fail(f"has {len(items)} embeddings for {expected} inputs")
    sizes: set[int] = set()
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise subject.fail(f"has embedding {i} that is not an object")
        index = item.get("index", i)
        if not isinstance(index, int) or isinstance(index, bool):
            raise subject.fail(f"has embedding {i} whose 'index' is not an integer: {index!r}")
        vector = item.get("embedding")
        if encoded and isinstance(vector, str):
            try:
                size = len(base64.b64decode(vector, validate=True)) // 4
            except (binascii.Error, ValueError):
                raise subject.fail(f"has embedding {i} that is not valid base64") from None
        elif isinstance(vector, list) and all(_is_number(v) for v in vector):
            size = len(vector)
        else:
            raise subject.fail(f"has embedding {i} that is not a list of numbers: {_show(vector)}")
        if size == 0:
            raise subject.fail(f"has embedding {i} that is empty")
        sizes.add(size)
    if len(sizes) > 1:
        raise subject.fail(f"has embeddings of different sizes {sorted(sizes)}")


def check_answer(
    route: str,
    data: Any,
    subject: _Subject,
    *,
    expected_inputs: int | None = None,
    encoded: bool = False,
) -> None:
    """Raise :class:`ResponseDecodeError` unless ``data`` has the shape of a ``route`` answer."""
    if type(data) is not dict and not isinstance(data, Mapping):  # see _check_choices
        raise subject.fail(f"is JSON but not an object: {_show(data)}")
    if route == "embeddings":
        _check_embeddings(data, subject, expected_inputs, encoded)
    else:
        _check_choices(data, subject, "message" if route == "chat" else "text")


def check_stream_event(
    payload: bytes | str, index: int, subject: _Subject | None = None
) -> tuple[Mapping[str, Any], bool]:
    """One ``data:`` payload of a completion stream, parsed; raise unless it is usable.

    Returns the parse, so that nothing decodes the event again (see :mod:`.stream_guard`),
    and whether a choice in it has a ``finish_reason`` (the stream said it is complete),
    found in the same pass over the choices. Every event runs through here, so the common
    case (plain dicts) skips the ABC checks.
    """
    try:
        event = json.loads(payload)
    except ValueError as exc:
        raise _event_error(
            f"is not JSON ({type(exc).__name__}: {exc})", payload, index, subject
        ) from None
    if type(event) is not dict:  # json.loads makes dicts of objects, nothing else
        raise _event_error("is not a JSON object", payload, index, subject)
    choices = event.get("choices")
    if choices is None:
        return event, False  # usage-only and error events have no choices
    if type(choices) is not list:
        raise _event_error("has a 'choices' that is not a list", payload, index, subject)
    finishes = False
    for choice in choices:
        if type(choice) is not dict:
            raise _event_error("has a choice that is not an object", payload, index, subject)
        delta = choice.get("delta")
        if delta is not None and type(delta) is not dict:
            raise _event_error(
                "has a choice whose 'delta' is not an object", payload, index, subject
            )
        if isinstance(choice.get("finish_reason"), str):
            finishes = True
    return event, finishes


def _event_error(
    problem: str, payload: bytes | str, index: int, subject: _Subject | None
) -> ResponseDecodeError:
    where = subject.text if subject else "a completion stream"
    secret = subject.secret if subject else None
    head = payload[:200]
    return ResponseDecodeError(
        scrub(f"stream event {index} of {where} {problem}: {excerpt(payload)}", secret),
        url=subject.url if subject else "",
        body=scrub(
            head.decode("utf-8", errors="replace") if isinstance(head, bytes) else head, secret
        ),
    )


def _is_json_type(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower().endswith("json")


class CheckedResponse(httpx.Response):
    """A 2xx answer of an OpenAI-compatible route whose ``json()`` checks what it returns.

    A body served with a non-JSON ``Content-Type`` is presented as ``application/json`` so
    the OpenAI SDK parses it through ``json()`` (it would otherwise hand the raw text on as
    the result); the original type is kept in :attr:`original_content_type` and named in
    the error.
    """

    route: str = ""
    original_content_type: str = ""
    subject: _Subject | None = None

    def json(self, **kwargs: Any) -> Any:
        """Decode strictly; raise :class:`ResponseDecodeError` saying what was wrong."""
        assert self.subject is not None
        try:
            data = super().json(**kwargs)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            what = (
                f"Content-Type {self.original_content_type or 'missing'} instead of JSON"
                if not _is_json_type(self.original_content_type)
                else f"a body that is not valid JSON ({type(exc).__name__}: {exc})"
            )
            raise self.subject.fail(
                f"came back {self.status_code} with {what}: {excerpt(self.content)}",
                body=self.content[:200].decode("utf-8", errors="replace"),
            ) from None
        if self.route == "embeddings":  # the request says how many vectors, in which encoding
            body = request_json(self.request)
            check_answer(
                self.route,
                data,
                self.subject,
                expected_inputs=input_count(body),
                encoded=body.get("encoding_format") == "base64",
            )
        else:
            check_answer(self.route, data, self.subject)
        return data


_STREAM_TRUE = re.compile(rb'"stream"\s*:\s*true')


def asks_to_stream(request: httpx.Request) -> bool:
    """Whether the request's JSON body has ``"stream": true`` (parsed only if it may)."""
    try:
        content = request.content
    except httpx.RequestNotRead:
        return False
    return _STREAM_TRUE.search(content) is not None and request_json(request).get("stream") is True


def check_on_read(
    request: httpx.Request,
    response: httpx.Response,
    route: str,
    content_type: str,
) -> CheckedResponse:
    """``response``, a 2xx non-stream answer to ``route``, as a :class:`CheckedResponse`.

    For a caller that has made sure of that already (the stream guard: :func:`route_of`
    named the route, the status is 2xx and :func:`asks_to_stream` said no), with the
    ``Content-Type`` it read: each read of a header walks them all. The response is
    retyped in place (its headers, stream and extensions stay its own) rather than copied
    into a new one: every chat and embeddings answer comes through here.
    """
    in_place = type(response) is httpx.Response  # a subclass is copied: its layout may differ
    headers = response.headers if in_place else response.headers.copy()
    if not _is_json_type(content_type):
        headers["content-type"] = "application/json"
    if in_place:
        response.__class__ = CheckedResponse
        wrapped = typing.cast(CheckedResponse, response)
    else:
        wrapped = CheckedResponse(
            status_code=response.status_code,
            headers=headers,
            stream=response.stream,
            extensions=response.extensions,
            request=request,
        )
    wrapped.route = route
    wrapped.original_content_type = content_type
    wrapped.subject = _Subject(request)
    return wrapped


def subject_for(request: httpx.Request, model: str | None = None) -> _Subject:
    """The subject used in stream messages (the model is read from the request if not given)."""
    return _Subject(request, model)


def not_a_stream(
    request: httpx.Request, response: httpx.Response, model: str | None = None
) -> ResponseDecodeError | None:
    """The error for a stream request answered 200 without ``text/event-stream``, if so."""
    ctype = response.headers.get("content-type", "")
    if response.status_code != 200 or ctype.startswith("text/event-stream"):
        return None
    return _Subject(request, model).fail(
        f"was asked to stream (stream: true) but came back with "
        f"Content-Type {ctype or 'missing'} instead of text/event-stream"
    )
