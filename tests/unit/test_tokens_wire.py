"""Token counting on the wire (offline): the model's own tokenizer through llama-swap, cached."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from llamaswap import LlamaSwapProvider, NotFoundError, UnsupportedFeatureError

BASE = "http://127.0.0.1:18080"


class Fake:
    """llama-swap with one llama-server model (``qwen``) and one that is not (``sd``)."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path.startswith("/upstream/qwen/"):
            body = json.loads(request.content)
            if path.endswith("/tokenize"):
                ids = [len(word) for word in body["content"].split()]
                special = [1] if body["add_special"] else []
                return httpx.Response(200, json={"tokens": special + ids})
            if path.endswith("/apply-template"):
                text = "".join(f"<{m['role']}>{m['content']}" for m in body["messages"])
                return httpx.Response(200, json={"prompt": text + " <assistant>"})
        if path.startswith("/upstream/sd/"):
            return httpx.Response(404, json={"error": {"message": "no route", "type": "x"}})
        if path == "/v1/models":
            return httpx.Response(200, json={"data": [{"id": "qwen"}, {"id": "sd"}]})
        return httpx.Response(404, json={"error": "model not found", "src": "llama-swap"})

    @property
    def calls(self) -> list[tuple[str, str, Any]]:
        return [
            (r.method, r.url.path, json.loads(r.content) if r.content else None)
            for r in self.requests
        ]


@pytest.fixture
def fake() -> Fake:
    return Fake()


@pytest.fixture
def provider(fake: Fake) -> LlamaSwapProvider:
    transport = httpx.MockTransport(fake)
    return LlamaSwapProvider(
        BASE,
        http_client=httpx.Client(transport=transport),
        async_http_client=httpx.AsyncClient(transport=transport),
    )


def test_tokenize_posts_to_the_models_own_server_and_caches(
    provider: LlamaSwapProvider, fake: Fake
) -> None:
    assert provider.tokenize("ab cde", model="qwen") == [2, 3]
    assert provider.count_tokens("ab cde", model="qwen") == 2
    assert provider.tokenize("ab cde", model="qwen", add_special=True) == [1, 2, 3]
    assert fake.calls == [
        ("POST", "/upstream/qwen/tokenize", {"content": "ab cde", "add_special": False}),
        ("POST", "/upstream/qwen/tokenize", {"content": "ab cde", "add_special": True}),
    ]


def test_chat_tokens_render_the_template_then_count_it_with_specials(
    provider: LlamaSwapProvider, fake: Fake
) -> None:
    messages = [{"role": "user", "content": "hi there"}]
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    assert provider.count_chat_tokens(messages, model="qwen", tools=tools) == 4
    assert provider.count_chat_tokens(messages, model="qwen", tools=tools) == 4  # cached
    assert fake.calls == [
        ("POST", "/upstream/qwen/apply-template", {"messages": messages, "tools": tools}),
        (
            "POST",
            "/upstream/qwen/tokenize",
            {"content": "<user>hi there <assistant>", "add_special": True},
        ),
    ]


async def test_async_twins_share_the_cache(provider: LlamaSwapProvider, fake: Fake) -> None:
    assert await provider.acount_tokens("a bb", model="qwen") == 2
    assert await provider.atokenize("a bb", model="qwen") == [1, 2]
    messages = [{"role": "user", "content": "x"}]
    assert await provider.acount_chat_tokens(messages, model="qwen") == 3
    assert provider.count_tokens("a bb", model="qwen") == 2
    assert len(fake.requests) == 3


def test_a_server_without_tokenize_says_so(provider: LlamaSwapProvider) -> None:
    with pytest.raises(UnsupportedFeatureError, match=r"'sd' has no /tokenize"):
        provider.count_tokens("x", model="sd")
    with pytest.raises(UnsupportedFeatureError, match=r"'sd' has no /apply-template"):
        provider.count_chat_tokens([{"role": "user", "content": "x"}], model="sd")


def test_an_unknown_model_lists_the_known_ones(provider: LlamaSwapProvider) -> None:
    with pytest.raises(NotFoundError) as err:
        provider.count_tokens("x", model="nope")
    assert err.value.available == ("qwen", "sd")


def test_text_must_be_a_string(provider: LlamaSwapProvider) -> None:
    with pytest.raises(TypeError, match="text must be a string"):
        provider.tokenize(["x"], model="qwen")  # type: ignore[arg-type]
