"""LlamaSwap sends llama.cpp's sampling settings in the JSON body (offline)."""

from __future__ import annotations

import pytest
from li_fakes import FakeSwap, fake_swap
from llama_index.core.llms import ChatMessage

from llama_index_llamaswap import LlamaSwap

HI = [ChatMessage(role="user", content="hi")]
SETTINGS = {
    "top_k": 20,
    "min_p": 0.05,
    "typical_p": 0.9,
    "repeat_penalty": 1.1,
    "repeat_last_n": 32,
    "mirostat": 2,
    "mirostat_tau": 4.0,
    "mirostat_eta": 0.2,
    "n_probs": 2,
    "cache_prompt": False,
    "id_slot": 0,
    "grammar": 'root ::= "yes" | "no"',
    "chat_template_kwargs": {"enable_thinking": False},
    "some_future_setting": 1,
}


@pytest.fixture
def swap() -> FakeSwap:
    return fake_swap()


def test_additional_kwargs_reach_the_body(swap: FakeSwap) -> None:
    LlamaSwap(model="qwen", dsn=swap.dsn, additional_kwargs=SETTINGS, seed=3).chat(HI)
    _, body = swap.last("/v1/chat/completions")
    assert {k: body[k] for k in SETTINGS} == SETTINGS
    assert "extra_body" not in body


def test_call_keywords_reach_the_body_streaming_and_async(swap: FakeSwap) -> None:
    import asyncio

    llm = LlamaSwap(model="qwen", dsn=swap.dsn)
    list(llm.stream_chat(HI, top_k=7, min_p=0.2))
    _, body = swap.last("/v1/chat/completions")
    assert (body["top_k"], body["min_p"], body["stream"]) == (7, 0.2, True)
    asyncio.run(llm.achat(HI, grammar="root ::= [a-z]+"))
    _, body = swap.last("/v1/chat/completions")
    assert body["grammar"] == "root ::= [a-z]+"
