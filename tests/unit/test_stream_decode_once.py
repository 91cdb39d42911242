"""A guarded completion stream read by the OpenAI SDK clients decodes each event once.

The stream guard parses every event to check it; the SDK clients of
:mod:`llamaswap.openai_compat` take that parse instead of decoding the event again
(issue 11). They reach it through a private SDK hook, named here so a release that
moves it fails loudly.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import openai
import pytest

from llamaswap import IncompleteResponseError
from llamaswap import openai_compat as compat
from llamaswap.stream_guard import AsyncGuardedTransport, GuardedTransport

WORDS = 5


def _event(i: int, finish: str | None) -> bytes:
    chunk = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": f"w{i} "}, "finish_reason": finish}],
    }
    return f"data: {json.dumps(chunk)}\n\n".encode()


def _body(*, complete: bool = True) -> list[bytes]:
    events = [_event(i, None) for i in range(WORDS)]
    if complete:
        events += [_event(WORDS, "stop"), b"data: [DONE]\n\n"]
    return events


def _handler(body: list[bytes]) -> Any:
    """Answers streamed chunk by chunk (a body given whole is read before the guard)."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    return handler


def _ahandler(body: list[bytes]) -> Any:
    async def chunks() -> AsyncIterator[bytes]:
        for chunk in body:
            yield chunk

    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=chunks())

    return handler


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How often each stream event's JSON text is decoded, by anyone."""
    counts: Counter[str] = Counter()
    real = json.loads

    def counting(text: Any, *args: Any, **kwargs: Any) -> Any:
        key = text.decode() if isinstance(text, bytes) else str(text)
        if '"chat.completion.chunk"' in key:
            counts[key.strip()] += 1
        return real(text, *args, **kwargs)

    monkeypatch.setattr(json, "loads", counting)
    return counts


def _kwargs() -> dict[str, Any]:
    return compat.client_kwargs(base_url="http://h/v1", api_key=None)


def test_sync_sdk_stream_decodes_each_event_once(decoded: Counter[str]) -> None:
    http = httpx.Client(transport=GuardedTransport(httpx.MockTransport(_handler(_body()))))
    client = compat.OpenAI(**_kwargs(), http_client=http)
    stream = client.chat.completions.create(model="m", messages=[], stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "".join(f"w{i} " for i in range(WORDS + 1))
    assert len(decoded) == WORDS + 1
    assert set(decoded.values()) == {1}, decoded


async def test_async_sdk_stream_decodes_each_event_once(decoded: Counter[str]) -> None:
    transport = AsyncGuardedTransport(httpx.MockTransport(_ahandler(_body())))
    client = compat.AsyncOpenAI(**_kwargs(), http_client=httpx.AsyncClient(transport=transport))
    stream = await client.chat.completions.create(model="m", messages=[], stream=True)
    parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
    assert "".join(parts) == "".join(f"w{i} " for i in range(WORDS + 1))
    assert len(decoded) == WORDS + 1
    assert set(decoded.values()) == {1}, decoded


def test_sdk_stream_cut_midway_still_raises_incomplete() -> None:
    body = _body(complete=False)
    http = httpx.Client(transport=GuardedTransport(httpx.MockTransport(_handler(body))))
    client = compat.OpenAI(**_kwargs(), http_client=http)
    stream = client.chat.completions.create(model="m", messages=[], stream=True)
    with pytest.raises(IncompleteResponseError, match=f"after {WORDS} stream events"):
        list(stream)


def test_private_sse_hooks_the_parse_rides_on_still_exist() -> None:
    # openai_compat's streams override Stream._iter_events and hand the SDK
    # ServerSentEvent objects whose json() returns the guard's parse.
    from openai._streaming import ServerSentEvent

    for cls in (openai.Stream, openai.AsyncStream):
        assert callable(getattr(cls, "_iter_events", None)), f"{cls.__name__}._iter_events is gone"
    sse = ServerSentEvent(event=None, data='{"a": 1}', id=None, retry=None)
    assert sse.json() == {"a": 1}


# -- the guard frames the stream once: the SDK's own line splitting is not run again --


def _chunk_of(count: int) -> list[bytes]:
    """``count`` events, the finishing one, and ``[DONE]``, all in one network chunk."""
    return [
        b"".join(_event(i, None) for i in range(count))
        + _event(count, "stop")
        + b"data: [DONE]\n\n"
    ]


@pytest.fixture
def sdk_framed(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How many lines the SDK's own SSE decoder reads."""
    from openai._streaming import SSEDecoder

    counts: Counter[str] = Counter()
    real = SSEDecoder.decode

    def counting(self: SSEDecoder, line: str) -> Any:
        counts["lines"] += 1
        return real(self, line)

    monkeypatch.setattr(SSEDecoder, "decode", counting)
    return counts


def test_sync_sdk_stream_takes_the_guards_framing(sdk_framed: Counter[str]) -> None:
    http = httpx.Client(transport=GuardedTransport(httpx.MockTransport(_handler(_body()))))
    client = compat.OpenAI(**_kwargs(), http_client=http)
    chunks = list(client.chat.completions.create(model="m", messages=[], stream=True))
    assert [c.choices[0].delta.content for c in chunks] == [f"w{i} " for i in range(WORDS + 1)]
    assert sdk_framed["lines"] == 0


async def test_async_sdk_stream_takes_the_guards_framing(sdk_framed: Counter[str]) -> None:
    transport = AsyncGuardedTransport(httpx.MockTransport(_ahandler(_body())))
    client = compat.AsyncOpenAI(**_kwargs(), http_client=httpx.AsyncClient(transport=transport))
    stream = await client.chat.completions.create(model="m", messages=[], stream=True)
    parts = [c.choices[0].delta.content async for c in stream]
    assert parts == [f"w{i} " for i in range(WORDS + 1)]
    assert sdk_framed["lines"] == 0


def test_one_chunk_with_more_events_than_the_unclaimed_bound_loses_none() -> None:
    # A raw httpx reader never takes the parsed events, so the guard keeps a bounded
    # number; an SDK stream claims them all, however many one read brings.
    count = 1000
    http = httpx.Client(transport=GuardedTransport(httpx.MockTransport(_handler(_chunk_of(count)))))
    client = compat.OpenAI(**_kwargs(), http_client=http)
    chunks = list(client.chat.completions.create(model="m", messages=[], stream=True))
    assert [c.choices[0].delta.content for c in chunks] == [f"w{i} " for i in range(count + 1)]


async def test_async_one_chunk_with_more_events_than_the_unclaimed_bound_loses_none() -> None:
    count = 1000
    transport = AsyncGuardedTransport(httpx.MockTransport(_ahandler(_chunk_of(count))))
    client = compat.AsyncOpenAI(**_kwargs(), http_client=httpx.AsyncClient(transport=transport))
    stream = await client.chat.completions.create(model="m", messages=[], stream=True)
    parts = [c.choices[0].delta.content async for c in stream]
    assert parts == [f"w{i} " for i in range(count + 1)]


def test_events_after_done_are_not_chunks() -> None:
    # As the SDK itself does: [DONE] ends the stream, whatever follows it.
    body = [*_body(), _event(99, None)]
    http = httpx.Client(transport=GuardedTransport(httpx.MockTransport(_handler(body))))
    client = compat.OpenAI(**_kwargs(), http_client=http)
    chunks = list(client.chat.completions.create(model="m", messages=[], stream=True))
    assert [c.choices[0].delta.content for c in chunks] == [f"w{i} " for i in range(WORDS + 1)]


def test_a_last_event_without_its_newline_is_a_chunk() -> None:
    # The guard reads a last line without its newline when the stream ends (it may be
    # the finishing event, which makes the answer complete): the stream yields it too.
    body = [*_body(complete=False), _event(WORDS, "stop").rstrip(b"\n")]
    http = httpx.Client(transport=GuardedTransport(httpx.MockTransport(_handler(body))))
    client = compat.OpenAI(**_kwargs(), http_client=http)
    chunks = list(client.chat.completions.create(model="m", messages=[], stream=True))
    assert [c.choices[0].finish_reason for c in chunks][-1] == "stop"
    assert len(chunks) == WORDS + 1


def test_an_unguarded_client_streams_through_the_sdks_own_decoder(
    sdk_framed: Counter[str],
) -> None:
    http = httpx.Client(transport=httpx.MockTransport(_handler(_body())))
    client = compat.OpenAI(**_kwargs(), http_client=http)
    chunks = list(client.chat.completions.create(model="m", messages=[], stream=True))
    assert [c.choices[0].delta.content for c in chunks] == [f"w{i} " for i in range(WORDS + 1)]
    assert sdk_framed["lines"] > 0


async def test_async_unguarded_client_streams_through_the_sdks_own_decoder(
    sdk_framed: Counter[str],
) -> None:
    client = compat.AsyncOpenAI(
        **_kwargs(),
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(_ahandler(_body()))),
    )
    stream = await client.chat.completions.create(model="m", messages=[], stream=True)
    parts = [c.choices[0].delta.content async for c in stream]
    assert parts == [f"w{i} " for i in range(WORDS + 1)]
    assert sdk_framed["lines"] > 0
