"""An offline llama-swap for the LlamaIndex unit tests: httpx.MockTransport on the shared provider.

Each test gets its own host name, so the process-wide shared provider for that DSN is fresh
and its pooled clients can be swapped for MockTransport clients. Because the LlamaIndex
classes hand the provider's pooled clients to the OpenAI SDK, the mock sees every request:
chat, embeddings, images and the ``/v1/models`` lookup.
"""

from __future__ import annotations

import base64
import itertools
import json
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from llamaswap import LlamaSwapProvider, shared_provider

KEY = "sk-li-unit-secret-77"
_COUNTER = itertools.count()

Reply = Callable[[httpx.Request, dict[str, Any]], httpx.Response | None]


def tiny_png(width: int = 2, height: int = 2) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def models_body(**record: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "qwen",
        "object": "model",
        "created": 1,
        "owned_by": "llama-swap",
        "meta": {"llamaswap": {"type": "model", "aliases": ["coder"]}},
        "status": {"value": "unloaded"},
    }
    base.update(record)
    return {"object": "list", "data": [base]}


def chat_body(content: str = "Hello", **message: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "qwen",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, **message},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
    }


def sse(chunks: list[dict[str, Any]]) -> httpx.Response:
    text = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    return httpx.Response(200, text=text, headers={"content-type": "text/event-stream"})


def stream_chunks(pieces: list[str], reasoning: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": "chatcmpl-2",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "qwen",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    out = [chunk({"role": "assistant", "content": ""})]
    out += [chunk({"reasoning_content": r}) for r in reasoning]
    out += [chunk({"content": p}) for p in pieces]
    out.append(chunk({}, "stop"))
    out.append(
        {
            "id": "chatcmpl-2",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "qwen",
            "choices": [],
            "usage": {"prompt_tokens": 5, "completion_tokens": len(pieces), "total_tokens": 9},
        }
    )
    return out


@dataclass
class FakeSwap:
    """Records requests; answers from ``replies`` (path -> reply) or sensible defaults."""

    dsn: str
    provider: LlamaSwapProvider
    requests: list[httpx.Request] = field(default_factory=list)
    replies: dict[str, Reply] = field(default_factory=dict)
    models: dict[str, Any] = field(default_factory=lambda: models_body(context_length=2048))

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        body: dict[str, Any] = json.loads(request.content) if request.content else {}
        reply = self.replies.get(request.url.path)
        if reply is not None:
            answer = reply(request, body)
            if answer is not None:
                return answer
        path = request.url.path
        if path == "/v1/models":
            return httpx.Response(200, json=self.models)
        if path == "/v1/chat/completions":
            if body.get("stream"):
                return sse(stream_chunks(["Hel", "lo"]))
            return httpx.Response(200, json=chat_body())
        if path == "/v1/embeddings":
            data = [
                {"object": "embedding", "index": i, "embedding": [float(i), 0.5, -1.0]}
                for i, _ in enumerate(body["input"])
            ]
            return httpx.Response(
                200, json={"object": "list", "model": body["model"], "data": data}
            )
        if path == "/v1/images/generations":
            b64 = base64.b64encode(tiny_png()).decode()
            return httpx.Response(200, json={"created": 7, "data": [{"b64_json": b64}] * body["n"]})
        return httpx.Response(404, text="404 page not found")

    def paths(self) -> list[str]:
        return [r.url.path for r in self.requests]

    def last(self, path: str) -> tuple[httpx.Request, dict[str, Any]]:
        for request in reversed(self.requests):
            if request.url.path == path:
                return request, json.loads(request.content) if request.content else {}
        raise AssertionError(f"no request to {path}; saw {self.paths()}")


def fake_swap(key: str | None = None) -> FakeSwap:
    """A fresh shared provider for a unique host, wired to a MockTransport."""
    host = f"li-unit-{next(_COUNTER)}.invalid"
    dsn = f"llama-swap://{key}@{host}:8080" if key else f"llama-swap://{host}:8080"
    provider = shared_provider(dsn)
    fake = FakeSwap(dsn=dsn, provider=provider)
    transport = httpx.MockTransport(fake.handle)
    provider._client = httpx.Client(transport=transport)
    provider._async_client = httpx.AsyncClient(transport=transport)
    provider._owns_async_client = False  # keep the mock when a test runs on a new loop
    return fake
