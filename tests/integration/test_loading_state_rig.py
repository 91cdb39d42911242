"""sendLoadingState: llama-swap's load progress gets its own place, the reasoning stays the model's.

The ``scripted`` test upstream streams ``reasoning_content`` "Let me think. " for a prompt
with ``__reason__``; llama-swap (sendLoadingState on) streams its progress while it starts.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from llama_index.core.instrumentation import get_dispatcher  # type: ignore[attr-defined]
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.llms import ChatMessage

from langchain_llamaswap import ChatLlamaSwap
from llama_index_llamaswap import LlamaSwap, LlamaSwapLoadingEvent
from llamaswap import LlamaSwapProvider

MODEL = "scripted"
PROMPT = "__reason__ hello"
REASONING = "Let me think."


@pytest.fixture
def loading(rig_factory: Any) -> Any:
    return rig_factory(models=(MODEL,), send_loading_state=True)


def cold(dsn: str) -> None:
    LlamaSwapProvider(dsn).unload()


def test_langchain_keeps_progress_out_of_reasoning_and_sends_events(loading: Any) -> None:
    model = ChatLlamaSwap(dsn=loading.dsn, model=MODEL)
    cold(loading.dsn)
    chunks = list(model.stream(PROMPT))
    reasoning = "".join(c.additional_kwargs.get("reasoning_content", "") for c in chunks)
    progress = "".join(c.additional_kwargs.get("llamaswap_loading", "") for c in chunks)
    assert reasoning.strip() == REASONING
    # not "Done! (": llama-swap drops it when the model gets ready mid-remark (see
    # LoadingState.done); the closing event below comes either way
    assert f"llama-swap loading model: {MODEL}" in progress
    assert "".join(str(c.content) for c in chunks) == "Done thinking."

    async def events() -> list[dict[str, Any]]:
        return [
            e["data"]
            async for e in model.astream_events(PROMPT, version="v2")
            if e["event"] == "on_custom_event" and e["name"] == "llamaswap_loading"
        ]

    cold(loading.dsn)
    seen = asyncio.run(events())
    assert seen and seen[-1]["done"] is True and seen[-1]["model"] == MODEL
    assert seen[-1]["status"].startswith(f"loaded {MODEL} in ")
    assert any(s["status"].startswith(f"loading {MODEL} ... ") for s in seen)
    warm = list(model.stream(PROMPT))  # loaded now: no progress, same reasoning
    assert not any("llamaswap_loading" in c.additional_kwargs for c in warm)


class Collect(BaseEventHandler):
    seen: list[LlamaSwapLoadingEvent]

    @classmethod
    def class_name(cls) -> str:
        return "Collect"

    def handle(self, event: Any, **kwargs: Any) -> None:
        if isinstance(event, LlamaSwapLoadingEvent):
            self.seen.append(event)


def test_llama_index_keeps_progress_out_of_thinking_and_dispatches_events(loading: Any) -> None:
    handler = Collect(seen=[])
    root = get_dispatcher()
    root.add_event_handler(handler)
    try:
        llm = LlamaSwap(model=MODEL, dsn=loading.dsn)
        cold(loading.dsn)
        chunks = list(llm.stream_chat([ChatMessage(role="user", content=PROMPT)]))
    finally:
        root.event_handlers.remove(handler)
    thinking = "".join(c.additional_kwargs.get("thinking_delta") or "" for c in chunks)
    progress = "".join(c.additional_kwargs.get("llamaswap_loading") or "" for c in chunks)
    assert thinking.strip() == REASONING
    assert f"llama-swap loading model: {MODEL}" in progress
    assert chunks[-1].message.content == "Done thinking."
    assert handler.seen and handler.seen[-1].done and handler.seen[-1].model == MODEL


def test_openai_client_chunks_carry_progress_apart(loading: Any) -> None:
    client = LlamaSwapProvider(loading.dsn).openai_client()
    cold(loading.dsn)
    chunks = list(
        client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": PROMPT}], stream=True
        )
    )
    reasoning = "".join(
        getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in chunks if c.choices
    )
    progress = "".join(getattr(c, "llamaswap_loading", None) or "" for c in chunks)
    assert reasoning.strip() == REASONING
    assert f"llama-swap loading model: {MODEL}" in progress
