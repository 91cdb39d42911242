"""Management calls on the provider's own pools, and the records they return (issue 14).

The provider parses each fixed endpoint's URL once, leaves off transport layers a pool
does not need, and builds running records without the dataclass ``__init__``; these tests
pin what a caller relies on through all of that: each call reaches its pool and path with
the key, retries stay as asked, records equal those built by hand, and bad answers still
fail with errors that say what was wrong.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable

import httpx
import pytest

from llamaswap import (
    LlamaSwapProvider,
    ModelState,
    RateLimitError,
    ResponseDecodeError,
    RetryPolicy,
    RunningModel,
)
from llamaswap.pool import PoolSettings

KEY = "sk-mgmt-key-7"
BASE = "http://mgmt.invalid:8080"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16

RUNNING = {
    "running": [
        {
            "model": "qwen",
            "state": "ready",
            "cmd": "llama-server --port 9001",
            "proxy": "http://127.0.0.1:9001",
            "ttl": 300,
            "name": "Qwen",
            "description": "chat",
        },
        {"model": "sd", "state": "warming", "ttl": True},
    ]
}
MODELS = {"object": "list", "data": [{"id": "qwen", "status": {"value": "loaded"}}]}


class Wire:
    """Both pools' connection layers: each request is recorded with the pool it came from."""

    def __init__(self, answer: Callable[[httpx.Request], httpx.Response]) -> None:
        self.sent: list[tuple[str, str, str, str | None]] = []
        self._answer = answer

    def transport(self, management: bool, *, asynchronous: bool) -> httpx.MockTransport:
        pool = "management" if management else "main"

        def handle(request: httpx.Request) -> httpx.Response:
            auth = request.headers.get("authorization")
            self.sent.append((pool, request.method, str(request.url), auth))
            return self._answer(request)

        async def ahandle(request: httpx.Request) -> httpx.Response:
            return handle(request)

        return httpx.MockTransport(ahandle if asynchronous else handle)


def answers(request: httpx.Request) -> httpx.Response:
    path = request.url.path
    if path == "/running":
        return httpx.Response(200, json=RUNNING)
    if path == "/v1/models":
        return httpx.Response(200, json=MODELS)
    if path == "/upstream/qwen/health":
        return httpx.Response(200, json={"status": "ok"})
    if path == "/v1/images/generations":
        return httpx.Response(200, json={"data": [{"b64_json": base64.b64encode(PNG).decode()}]})
    return httpx.Response(404, text="404 page not found")


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Wire]:
    """Make every pool a provider builds send to one :class:`Wire` (its real layers on top)."""

    def install(answer: Callable[[httpx.Request], httpx.Response] = answers) -> Wire:
        w = Wire(answer)

        def sync_pool(self: PoolSettings, management: bool = False) -> httpx.MockTransport:
            return w.transport(management, asynchronous=False)

        def async_pool(self: PoolSettings, management: bool = False) -> httpx.MockTransport:
            return w.transport(management, asynchronous=True)

        monkeypatch.setattr(PoolSettings, "transport", sync_pool)
        monkeypatch.setattr(PoolSettings, "async_transport", async_pool)
        return w

    return install


def test_each_call_reaches_its_pool_and_path_with_the_key_call_after_call(
    wire: Callable[..., Wire],
) -> None:
    w = wire()
    provider = LlamaSwapProvider(f"llama-swap://{KEY}@mgmt.invalid:8080")
    for _ in range(2):  # the second round uses the URLs parsed in the first
        provider.running()
        provider.list_models()
        provider.load("qwen")
        provider.generate_image("a fox", model="sd", size="64x64")
    bearer = f"Bearer {KEY}"
    round_ = [
        ("management", "GET", f"{BASE}/running", bearer),
        ("management", "GET", f"{BASE}/v1/models", bearer),
        ("main", "GET", f"{BASE}/upstream/qwen/health", bearer),
        ("main", "POST", f"{BASE}/v1/images/generations", bearer),
    ]
    assert w.sent == round_ * 2


def test_async_calls_reach_the_same_pools_and_paths(wire: Callable[..., Wire]) -> None:
    w = wire()
    provider = LlamaSwapProvider(f"llama-swap://{KEY}@mgmt.invalid:8080")

    async def calls() -> None:
        for _ in range(2):
            await provider.arunning()
            await provider.alist_models()
            await provider.agenerate_image("a fox", model="sd")

    asyncio.run(calls())
    pools_and_urls = [(pool, url) for pool, _method, url, _auth in w.sent]
    assert (
        pools_and_urls
        == [
            ("management", f"{BASE}/running"),
            ("management", f"{BASE}/v1/models"),
            ("main", f"{BASE}/v1/images/generations"),
        ]
        * 2
    )


def test_management_calls_retry_a_429_only_when_retries_are_on(wire: Callable[..., Wire]) -> None:
    busy = [httpx.Response(429, headers={"retry-after": "0"}, json={"error": "busy"})]

    def busy_once(request: httpx.Request) -> httpx.Response:
        return busy.pop() if busy else answers(request)

    w = wire(busy_once)
    retrying = LlamaSwapProvider(BASE, max_retries=RetryPolicy(max_retries=1, max_wait=0))
    assert [r.model for r in retrying.running()] == ["qwen", "sd"]
    assert len(w.sent) == 2

    busy.append(httpx.Response(429, headers={"retry-after": "0"}, json={"error": "busy"}))
    with pytest.raises(RateLimitError):
        LlamaSwapProvider(BASE).running()  # max_retries=0: the 429 is the answer
    assert len(w.sent) == 3


def test_parsed_running_records_equal_records_built_by_hand(wire: Callable[..., Wire]) -> None:
    wire()
    qwen, sd = LlamaSwapProvider(BASE).running()
    assert qwen == RunningModel(
        model="qwen",
        state=ModelState.READY,
        ttl=300,
        name="Qwen",
        description="chat",
        proxy="http://127.0.0.1:9001",
        raw=RUNNING["running"][0],
        raw_state="ready",
    )
    # an unknown state word is kept as sent; a boolean is no TTL
    assert sd == RunningModel(model="sd", state="warming", raw=RUNNING["running"][1])  # type: ignore[arg-type]
    assert (sd.state, sd.raw_state, sd.ttl, sd.proxy) == (ModelState.UNKNOWN, "warming", None, "")
    assert "cmd" in qwen.raw and qwen.raw is not RUNNING["running"][0]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"<html>busy</html>", "GET /running did not return JSON"),
        (b"[]", "GET /running did not return an object with a 'running' list"),
        (b'{"running": {"model": "qwen"}}', "did not return an object with a 'running' list"),
        (b'{"running": ["qwen"]}', "GET /running returned a record without a string 'model'"),
        (
            b'{"running": [{"model": 5}]}',
            "returned a record without a string 'model': {'model': 5}",
        ),
    ],
)
def test_bad_running_answers_say_what_was_wrong(
    wire: Callable[..., Wire], body: bytes, says: str
) -> None:
    wire(lambda request: httpx.Response(200, content=body))
    with pytest.raises(ResponseDecodeError, match=says.replace("[", r"\[")) as info:
        LlamaSwapProvider(BASE).running()
    assert info.value.url == f"{BASE}/running"
