"""Over-long embedding inputs (offline): split by the model's tokenizer, pooled, or a typed error.

The fake llama-swap below tokenizes one token per word, wraps inputs in [CLS]=1 / [SEP]=2
like BERT, and embeds an input as a unit vector pointing at its first real token; it
rejects inputs over its limit with llama-server's own error text.
"""

from __future__ import annotations

import json
import math
from typing import Any

import httpx
import pytest

from llamaswap import (
    InputTooLongError,
    LlamaSwapProvider,
    aembed_in_context,
    embed_in_context,
)
from llamaswap.long_inputs import pool, too_large, windows

DIMS = 8


def word_id(word: str) -> int:
    return 10 + sum(map(ord, word)) % 50


class FakeSwap:
    def __init__(self, *, limit: int = 12, listed: int | None = 12, tokenizes: bool = True):
        self.limit = limit
        self.listed = listed
        self.tokenizes = tokenizes
        self.embedded: list[list[Any]] = []
        self.paths: list[str] = []

    def tokens(self, text: str, special: bool) -> list[int]:
        ids = [word_id(w) for w in text.split()]
        return [1, *ids, 2] if special else ids

    def vector(self, item: Any) -> list[float]:
        ids = item if isinstance(item, list) else self.tokens(item, True)
        if len(ids) > self.limit:
            raise ValueError(len(ids))
        vec = [0.0] * DIMS
        vec[ids[1] % DIMS if len(ids) > 2 else 0] = 1.0
        return vec

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.paths.append(path)
        if path == "/v1/models":
            record: dict[str, Any] = {"id": "embed"}
            if self.listed is not None:
                record["context_length"] = self.listed
            return httpx.Response(200, json={"data": [record]})
        if path == "/upstream/embed/tokenize":
            if not self.tokenizes:
                return httpx.Response(404, text="File Not Found")
            body = json.loads(request.content)
            return httpx.Response(
                200, json={"tokens": self.tokens(body["content"], body["add_special"])}
            )
        return httpx.Response(404, json={"error": "not found", "src": "llama-swap"})

    def send(self, inputs: list[Any]) -> list[list[float]]:
        """The caller's embeddings client: llama-server's answer or its 500 for a long input."""
        self.embedded.append(list(inputs))
        out = []
        for item in inputs:
            try:
                out.append(self.vector(item))
            except ValueError as exc:
                raise server_too_large(int(str(exc)), self.limit) from None
        return out

    async def asend(self, inputs: list[Any]) -> list[list[float]]:
        return self.send(inputs)


def server_too_large(tokens: int, limit: int) -> Exception:
    from llamaswap import UpstreamError

    return UpstreamError(
        f"llama-swap answered 500 for model 'embed': input ({tokens} tokens) is too large to "
        f"process. increase the physical batch size (current batch size: {limit})",
        status_code=500,
    )


def make(fake: FakeSwap) -> LlamaSwapProvider:
    transport = httpx.MockTransport(fake)
    return LlamaSwapProvider(
        "http://127.0.0.1:18080",
        http_client=httpx.Client(transport=transport),
        async_http_client=httpx.AsyncClient(transport=transport),
    )


LONG = " ".join(f"w{i}" for i in range(25))  # 25 words: 27 tokens with [CLS]/[SEP]


def test_windows_are_few_and_even() -> None:
    assert [len(w) for w in windows(list(range(25)), 10)] == [9, 8, 8]
    assert windows([1, 2, 3], 10) == [[1, 2, 3]]
    assert [t for w in windows(list(range(1000)), 510) for t in w] == list(range(1000))


def test_pool_weights_by_tokens_and_keeps_unit_length() -> None:
    pooled = pool([[1.0, 0.0], [0.0, 1.0]], [3, 1])
    assert math.isclose(math.hypot(*pooled), 1.0)
    assert math.isclose(pooled[0] / pooled[1], 3.0)
    assert math.isclose(math.hypot(*pool([[2.0, 0.0], [0.0, 2.0]], [1, 1])), 2.0)


def test_llama_servers_too_large_errors_are_read() -> None:
    assert too_large(server_too_large(1173, 512)) == (1173, 512)
    other = ValueError("request (900 tokens) exceeds the available context size (512 tokens)")
    assert too_large(other) == (900, 512)
    assert too_large(ValueError("something else")) is None


def test_short_inputs_go_out_as_text_with_no_tokenizing() -> None:
    fake = FakeSwap()
    vectors = embed_in_context(make(fake), ["a b", "c"], model="embed", send=fake.send)
    assert fake.embedded == [["a b", "c"]]
    assert "/upstream/embed/tokenize" not in fake.paths
    assert len(vectors) == 2


def test_a_long_input_is_split_into_wrapped_token_windows_and_pooled() -> None:
    fake = FakeSwap()
    provider = make(fake)
    vectors = embed_in_context(provider, ["short", LONG], model="embed", send=fake.send)
    (sent,) = fake.embedded
    assert sent[0] == "short"
    pieces = sent[1:]
    body = fake.tokens(LONG, False)
    assert [len(p) for p in pieces] == [11, 10, 10]  # 25 tokens in windows of 9/8/8, +2
    assert all(p[0] == 1 and p[-1] == 2 for p in pieces)
    assert [t for p in pieces for t in p[1:-1]] == body
    expected = pool([fake.vector(p) for p in pieces], [9, 8, 8])
    assert vectors[1] == pytest.approx(expected)
    assert math.isclose(math.hypot(*vectors[1]), 1.0)


def test_batch_size_bounds_every_request() -> None:
    fake = FakeSwap()
    embed_in_context(make(fake), [LONG, LONG, "x"], model="embed", send=fake.send, batch_size=4)
    assert [len(b) for b in fake.embedded] == [4, 3]


def test_splitting_off_raises_a_typed_error_naming_the_limit_and_settings() -> None:
    fake = FakeSwap()
    with pytest.raises(InputTooLongError) as err:
        embed_in_context(make(fake), [LONG], model="embed", send=fake.send, split_long_inputs=False)
    assert (err.value.model, err.value.tokens, err.value.limit) == ("embed", 27, 12)
    assert isinstance(err.value, ValueError)
    for words in ("12-token", "split_long_inputs=True", "chunk_size", "--ctx-size"):
        assert words in str(err.value)
    assert fake.embedded == []


def test_an_unlisted_context_is_learnt_from_the_servers_error() -> None:
    fake = FakeSwap(listed=None)
    vectors = embed_in_context(make(fake), [LONG], model="embed", send=fake.send)
    assert fake.embedded[0] == [LONG]  # sent whole: no limit was known
    assert [len(p) for p in fake.embedded[1]] == [11, 10, 10]
    assert len(vectors) == 1
    fake.embedded.clear()
    embed_in_context(make(fake), [LONG], model="embed", send=fake.send)  # a fresh provider
    assert fake.embedded[0] == [LONG]


def test_a_server_without_tokenize_gets_the_typed_error() -> None:
    fake = FakeSwap(tokenizes=False)
    with pytest.raises(InputTooLongError) as err:
        embed_in_context(make(fake), [LONG], model="embed", send=fake.send)
    assert err.value.limit == 12 and err.value.tokens == 27
    assert "no /tokenize" in str(err.value) and "chunk_size" in str(err.value)


async def test_async_twin_splits_the_same_way() -> None:
    fake = FakeSwap()
    vectors = await aembed_in_context(make(fake), ["a", LONG], model="embed", send=fake.asend)
    assert [len(x) if isinstance(x, list) else x for x in fake.embedded[0]] == ["a", 11, 10, 10]
    assert len(vectors) == 2


def test_max_input_tokens_lowers_the_limit() -> None:
    fake = FakeSwap()
    embed_in_context(make(fake), [LONG], model="embed", send=fake.send, max_input_tokens=8)
    assert [len(p) for p in fake.embedded[0]] == [7, 7, 7, 7, 7]  # 25 in 5 windows of 5


def test_non_strings_are_refused() -> None:
    fake = FakeSwap()
    with pytest.raises(TypeError, match="texts must be strings"):
        embed_in_context(make(fake), [b"x"], model="embed", send=fake.send)  # type: ignore[list-item]


def test_splitting_is_logged_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeSwap()
    with caplog.at_level("DEBUG", logger="llamaswap"):
        embed_in_context(make(fake), ["x", LONG], model="embed", send=fake.send)
    said = [r.getMessage() for r in caplog.records if "windows" in r.getMessage()]
    assert said == ["1 of 2 inputs to 'embed' were over its 12-token limit; sent as 3 windows"]
