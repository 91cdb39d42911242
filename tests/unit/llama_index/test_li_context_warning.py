"""LlamaSwap says once, not on every metadata read, that it could not read the context window."""

from __future__ import annotations

import logging

import httpx
import pytest
from li_fakes import FakeSwap, fake_swap
from llama_index.core.llms import ChatMessage

from llama_index_llamaswap import FALLBACK_CONTEXT_WINDOW, LlamaSwap

HI = [ChatMessage(role="user", content="hi")]
WARNING = "could not read the context window"


@pytest.fixture
def swap() -> FakeSwap:
    return fake_swap()


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and WARNING in r.getMessage()
    ]


def test_a_failing_lookup_warns_once_across_calls(
    swap: FakeSwap, caplog: pytest.LogCaptureFixture
) -> None:
    swap.replies["/v1/models"] = lambda r, b: httpx.Response(500, json={"error": "boom"})
    llm = LlamaSwap(model="qwen", dsn=swap.dsn)
    with caplog.at_level(logging.DEBUG, logger="llama_index_llamaswap"):
        llm.chat(HI)
        llm.complete("hi")
        assert llm.metadata.context_window == FALLBACK_CONTEXT_WINDOW
    assert len(warnings(caplog)) == 1
    assert "boom" in warnings(caplog)[0]
