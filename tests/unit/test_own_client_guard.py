"""A client the caller passes in (for a proxy, a CA, mTLS) keeps the cut-off-stream guard.

The caller's client does the I/O, so its settings apply; a stream it delivers that ends
before ``[DONE]`` or a finish reason still raises :class:`IncompleteResponseError`
instead of returning the truncated text as a whole answer.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from llama_index.core.llms import ChatMessage

from langchain_llamaswap import ChatLlamaSwap
from llama_index_llamaswap import LlamaSwap
from llamaswap import IncompleteResponseError

MODELS = {"object": "list", "data": [{"id": "qwen", "object": "model", "meta": {}}]}


def chunk(content: str) -> bytes:
    body = {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "qwen",
        "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}],
    }
    return f"data: {json.dumps(body)}\n\n".encode()


CUT = [chunk("Hel"), chunk("lo")]  # no finish reason, no [DONE]: the stream was cut


class Seen:
    def __init__(self) -> None:
        self.headers: list[httpx.Headers] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.headers.append(request.headers)
        if request.url.path == "/v1/models":
            return httpx.Response(200, json=MODELS)
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=CUT)

    async def ahandle(self, request: httpx.Request) -> httpx.Response:
        self.headers.append(request.headers)

        async def body() -> AsyncIterator[bytes]:
            for c in CUT:
                yield c

        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body())


def test_langchain_stream_through_own_client_raises_when_cut() -> None:
    seen = Seen()
    own = httpx.Client(transport=httpx.MockTransport(seen.handle), headers={"X-Tenant": "t1"})
    chat = ChatLlamaSwap(model="qwen", dsn="http://own-client.invalid:8080", http_client=own)
    with pytest.raises(IncompleteResponseError):
        "".join(str(c.content) for c in chat.stream("hi"))
    assert seen.headers and seen.headers[-1]["x-tenant"] == "t1"  # the caller's client sent it


async def test_langchain_async_stream_through_own_client_raises_when_cut() -> None:
    seen = Seen()
    own = httpx.AsyncClient(transport=httpx.MockTransport(seen.ahandle))
    chat = ChatLlamaSwap(
        model="qwen", dsn="http://own-client-async.invalid:8080", http_async_client=own
    )
    with pytest.raises(IncompleteResponseError):
        async for _ in chat.astream("hi"):
            pass
    assert seen.headers


def test_llama_index_stream_through_own_client_raises_when_cut() -> None:
    seen = Seen()
    own = httpx.Client(transport=httpx.MockTransport(seen.handle))
    llm = LlamaSwap(
        model="qwen", dsn="http://own-client-li.invalid:8080", http_client=own, context_window=2048
    )
    with pytest.raises(IncompleteResponseError):
        for _ in llm.stream_chat([ChatMessage(role="user", content="hi")]):
            pass
    assert seen.headers
