"""SDK clients ride the provider's own pool straight through its transport stack (issue 14).

The rider hands a built request to the pool's guard/retry/connection layers without a
second ``Client.send``; these tests pin that everything the second send gave still holds:
the cut-off-stream guard, the pool's retry policy, the SDK's headers, following a pool
the provider replaced, and auth or hooks set on the pool client by a caller.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from llamaswap import IncompleteResponseError, LlamaSwapProvider, RateLimitError, RetryPolicy
from llamaswap.pool import PoolSettings

KEY = "sk-rider-key-91"


def chunk(content: str, finish: str | None = None) -> bytes:
    body = {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "qwen",
        "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": finish}],
    }
    return f"data: {json.dumps(body)}\n\n".encode()


CHAT = {
    "id": "c",
    "object": "chat.completion",
    "created": 0,
    "model": "qwen",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
    ],
}
USER = [{"role": "user", "content": "hi"}]


class Wire:
    """The pool's connection layer: records what reached it and answers from ``answers``."""

    def __init__(self, *answers: Callable[[], httpx.Response]) -> None:
        self.requests: list[httpx.Request] = []
        self._answers = list(answers)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self._answers.pop(0) if len(self._answers) > 1 else self._answers[0]
        return answer()

    async def ahandle(self, request: httpx.Request) -> httpx.Response:
        return self.handle(request)


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Wire]:
    """Make every pool a provider builds send to a :class:`Wire` (its real stack on top)."""

    def install(*answers: Callable[[], httpx.Response]) -> Wire:
        w = Wire(*answers)
        monkeypatch.setattr(
            PoolSettings, "transport", lambda self, management=False: httpx.MockTransport(w.handle)
        )
        monkeypatch.setattr(
            PoolSettings,
            "async_transport",
            lambda self, management=False: httpx.MockTransport(w.ahandle),
        )
        return w

    return install


def ok() -> httpx.Response:
    return httpx.Response(200, json=CHAT)


def cut_stream() -> httpx.Response:
    return httpx.Response(
        200, headers={"content-type": "text/event-stream"}, content=[chunk("Hel"), chunk("lo")]
    )


def test_sdk_request_reaches_the_pool_once_with_the_sdk_key_and_headers(
    wire: Callable[..., Wire],
) -> None:
    w = wire(ok)
    provider = LlamaSwapProvider(
        f"llama-swap://{KEY}@rider.invalid:8080", headers={"X-Tenant": "t1"}
    )
    answer = provider.openai_client().chat.completions.create(model="qwen", messages=USER)
    assert answer.choices[0].message.content == "hi"
    assert len(w.requests) == 1
    sent = w.requests[0].headers
    assert sent["authorization"] == f"Bearer {KEY}"
    assert sent["x-tenant"] == "t1"
    assert w.requests[0].extensions["timeout"]["read"] is None  # a cold swap is not cut


def test_cut_stream_through_the_pool_raises(wire: Callable[..., Wire]) -> None:
    wire(cut_stream)
    client = LlamaSwapProvider("llama-swap://rider.invalid:8080").openai_client()
    stream = client.chat.completions.create(model="qwen", messages=USER, stream=True)
    with pytest.raises(IncompleteResponseError):
        list(stream)


def test_async_cut_stream_through_the_loop_pool_raises(wire: Callable[..., Wire]) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield chunk("Hel")

    wire(lambda: httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body()))
    provider = LlamaSwapProvider("llama-swap://rider.invalid:8080")
    client = provider.async_openai_client()

    async def read() -> None:
        stream = await client.chat.completions.create(model="qwen", messages=USER, stream=True)
        async for _ in stream:
            pass

    for _ in range(2):  # a second loop gets a pool of its own; the rider follows it
        with pytest.raises(IncompleteResponseError):
            asyncio.run(read())


def test_pool_retry_policy_resends_a_429_once(wire: Callable[..., Wire]) -> None:
    w = wire(lambda: httpx.Response(429, headers={"retry-after": "0"}), ok)
    provider = LlamaSwapProvider(
        "llama-swap://rider.invalid:8080", max_retries=RetryPolicy(max_retries=1, max_wait=0)
    )
    provider.openai_client().chat.completions.create(model="qwen", messages=USER)
    assert len(w.requests) == 2


def test_rider_policy_replaces_the_pool_policy(wire: Callable[..., Wire]) -> None:
    w = wire(lambda: httpx.Response(429, headers={"retry-after": "0"}))
    provider = LlamaSwapProvider(
        "llama-swap://rider.invalid:8080", max_retries=RetryPolicy(max_retries=3, max_wait=0)
    )
    client = provider.openai_client(max_retries=RetryPolicy(max_retries=1, max_wait=0))
    with pytest.raises(RateLimitError):
        client.chat.completions.create(model="qwen", messages=USER)
    assert len(w.requests) == 2  # the rider's one retry, not the pool's three on top


def test_auth_and_hooks_set_on_the_pool_client_still_apply(wire: Callable[..., Wire]) -> None:
    w = wire(ok)
    provider = LlamaSwapProvider("llama-swap://rider.invalid:8080")
    client = provider.openai_client()
    seen: list[str] = []
    provider.http_client.event_hooks["request"].append(lambda r: seen.append(r.url.path))
    provider.http_client.auth = httpx.BasicAuth("u", "p")
    client.chat.completions.create(model="qwen", messages=USER)
    assert seen == ["/v1/chat/completions"]
    assert w.requests[0].headers["authorization"].startswith("Basic ")


def test_closing_a_rider_leaves_the_pool_open_and_a_closed_pool_is_replaced(
    wire: Callable[..., Wire],
) -> None:
    w = wire(ok)
    provider = LlamaSwapProvider("llama-swap://rider.invalid:8080")
    sdk = provider.openai_client()
    provider.openai_client().close()
    assert not provider.http_client.is_closed
    provider.close()
    sdk.chat.completions.create(model="qwen", messages=USER)
    assert len(w.requests) == 1 and not provider.http_client.is_closed


MODELS = {"object": "list", "data": [{"id": "qwen", "object": "model"}]}


@pytest.mark.parametrize("key", [KEY, None])
def test_own_pools_send_agent_caller_headers_and_key_on_provider_calls(
    wire: Callable[..., Wire], key: str | None
) -> None:
    # the pools a provider makes carry the plain headers themselves; each call adds its key
    w = wire(
        lambda: httpx.Response(200, json=MODELS),
        lambda: httpx.Response(200, json=MODELS),
        lambda: httpx.Response(200, text="OK"),
    )
    dsn = f"llama-swap://{key}@pool.invalid:8080" if key else "llama-swap://pool.invalid:8080"
    provider = LlamaSwapProvider(dsn, headers={"X-Tenant": "t1"})
    assert [m.id for m in provider.list_models()] == ["qwen"]
    assert [m.id for m in asyncio.run(provider.alist_models())] == ["qwen"]
    assert provider.health()
    for sent in (r.headers for r in w.requests):
        assert sent["user-agent"].startswith("llamaswap-python/")
        assert sent["x-tenant"] == "t1"
    keys = [r.headers.get_list("authorization") for r in w.requests]
    bearer = [f"Bearer {key}"] if key else []
    assert keys == [bearer, bearer, []]  # /health is asked without the key
