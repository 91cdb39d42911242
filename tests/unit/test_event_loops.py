"""One async pool per live event loop, closed with its loop, no ResourceWarning (issue 15).

Runs with warnings turned into errors: ``asyncio.run`` per call and one loop per thread
must neither leak an unclosed client nor share connections across loops.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import threading
from collections.abc import Callable, Coroutine, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from llamaswap import LlamaSwapProvider

MODELS = {"object": "list", "data": [{"id": "qwen", "object": "model"}]}

pytestmark = pytest.mark.filterwarnings("error")


class CountingTransport(httpx.AsyncBaseTransport):
    """A stand-in connection pool that records whether it was closed."""

    def __init__(self, opened: list[CountingTransport]) -> None:
        self.closed = False
        opened.append(self)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=MODELS)

    async def aclose(self) -> None:
        self.closed = True


def provider_with(opened: list[CountingTransport]) -> LlamaSwapProvider:
    provider = LlamaSwapProvider("llama-swap://loops.invalid:8080")
    settings = provider.pool_settings
    object.__setattr__(settings, "async_transport", lambda **_: CountingTransport(opened))
    return provider


def test_asyncio_run_per_call_closes_each_loops_pools() -> None:
    opened: list[CountingTransport] = []
    provider = provider_with(opened)
    for _ in range(20):
        assert [m.id for m in asyncio.run(provider.alist_models())] == ["qwen"]
    assert opened and all(t.closed for t in opened)
    assert len(opened) <= 20  # one management pool per loop, none per call


def test_one_loop_per_thread_gets_its_own_pool_closed_with_its_loop() -> None:
    opened: list[CountingTransport] = []
    provider = provider_with(opened)
    clients: list[httpx.AsyncClient] = []

    def worker() -> None:
        async def calls() -> None:
            for _ in range(5):
                await provider.alist_models()
            clients.append(provider.async_http_client)

        asyncio.run(calls())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(c) for c in clients}) == 4  # no loop used another loop's pool
    assert all(t.closed for t in opened)


class ModelsHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: connections stay in the pools

    def do_GET(self) -> None:
        body = json.dumps(MODELS).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        answer = EMBEDDING if self.path.endswith("/embeddings") else COMPLETION
        body = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


COMPLETION = {
    "id": "c",
    "object": "chat.completion",
    "created": 1,
    "model": "qwen",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
    ],
}
EMBEDDING = {
    "object": "list",
    "model": "qwen",
    "data": [{"object": "embedding", "index": 0, "embedding": [0.5, 0.25]}],
}


@contextlib.contextmanager
def local_server() -> Iterator[str]:
    """A keep-alive HTTP server on loopback answering as llama-swap would; yields its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), ModelsHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def across_loops_and_threads(calls: Callable[[], Coroutine[Any, Any, None]], runs: int) -> None:
    """``asyncio.run(calls())`` ``runs`` times, then once in each of two threads' loops."""
    for _ in range(runs):
        asyncio.run(calls())
    threads = [threading.Thread(target=asyncio.run, args=(calls(),)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    gc.collect()


def test_real_connections_across_loops_and_threads_leave_no_resource_warning() -> None:
    with local_server() as url:
        provider = LlamaSwapProvider(url)

        async def calls() -> None:
            for _ in range(3):
                assert [m.id for m in await provider.alist_models()] == ["qwen"]

        across_loops_and_threads(calls, 20)


def test_llama_index_classes_across_loops_and_threads_leave_no_resource_warning() -> None:
    """LlamaIndex's SDK clients ride core's per-loop pools, as LangChain's do (issue 11)."""
    from llama_index.core.llms import ChatMessage

    from llama_index_llamaswap import LlamaSwap, LlamaSwapEmbedding

    answers: list[str] = []
    with local_server() as url:
        llm = LlamaSwap(model="qwen", dsn=url, context_window=2048)
        embedding = LlamaSwapEmbedding(model="qwen", dsn=url, split_long_inputs=False)

        async def calls() -> None:
            for _ in range(2):
                reply = await llm.achat([ChatMessage(role="user", content="x")])
                answers.append(str(reply.message))
                assert await embedding.aget_text_embedding("x") == [0.5, 0.25]

        across_loops_and_threads(calls, 10)
    assert answers == ["assistant: hi"] * 24


def test_aclose_before_the_loop_runs_again_reports_no_task_error() -> None:
    """Closing the provider right after its first async client, before any other await."""
    opened: list[CountingTransport] = []
    provider = provider_with(opened)
    reported: list[dict[str, Any]] = []

    async def open_then_close() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _, ctx: reported.append(ctx))
        assert not provider.async_http_client.is_closed
        await provider.aclose()
        for _ in range(3):  # let the loop run the closer's start task
            await asyncio.sleep(0)

    asyncio.run(open_then_close())
    gc.collect()
    assert opened and all(t.closed for t in opened)
    assert [ctx.get("message") for ctx in reported] == []
