"""llama-swap's sendLoadingState chunks are told apart from the model's reasoning (offline)."""

from __future__ import annotations

import json
from typing import Any

import httpx

from llamaswap import LlamaSwapProvider, LoadingProgress
from llamaswap.loading import loading_text


def loading(piece: str) -> dict[str, Any]:
    """Exactly what llama-swap v250's loadingWriter.sendData marshals."""
    return {"choices": [{"delta": {"reasoning_content": piece}}]}


def model_chunk(**delta: Any) -> dict[str, Any]:
    return {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "qwen",
        "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
    }


def test_only_llama_swaps_loading_shape_is_loading() -> None:
    assert loading_text(loading("━━━━━")) == "━━━━━"
    assert loading_text(model_chunk(reasoning_content="Let me think")) is None
    assert loading_text({"choices": [{"delta": {"reasoning_content": "x", "role": "a"}}]}) is None
    assert loading_text({"choices": [{"index": 0, "delta": {"reasoning_content": "x"}}]}) is None
    assert loading_text({"choices": []}) is None


def test_progress_names_the_model_and_the_time() -> None:
    now = [100.0]
    progress = LoadingProgress(clock=lambda: now[0])
    for piece in ("━━━━━", "\n", "llama", "-swap", " load", "ing m", "odel:", " qwen", "\n"):
        state = progress.feed(piece)
    assert state.model == "qwen" and not state.done
    now[0] = 112.4
    assert progress.feed(".").describe() == "loading qwen ... 12 s"
    state = progress.feed("\nDone! (12.61s)\n")
    assert state.done and state.elapsed == 12.61
    assert state.describe() == "loaded qwen in 12.6 s"
    assert state.as_dict()["status"] == "loaded qwen in 12.6 s"


def test_finish_closes_a_load_whose_done_line_llama_swap_dropped() -> None:
    now = [100.0]
    progress = LoadingProgress(clock=lambda: now[0])
    assert progress.finish() is None  # no load was followed
    progress.feed("llama-swap loading model: qwen\n")
    progress.feed("Still loading, a remark being ty")  # the model got ready here
    now[0] = 131.5
    closing = progress.finish()
    assert closing is not None and closing.done and closing.model == "qwen"
    assert closing.elapsed == 31.5 and closing.describe() == "loaded qwen in 31.5 s"
    assert progress.finish() is None  # once


def test_finish_adds_nothing_after_llama_swaps_own_done() -> None:
    progress = LoadingProgress(clock=lambda: 0.0)
    progress.feed("llama-swap loading model: qwen\n")
    assert progress.feed("Done! (3.20s)\n").done
    assert progress.finish() is None


def test_sdk_stream_moves_progress_out_of_reasoning() -> None:
    frames = [
        loading("llama-swap loading model: qwen\n"),
        loading("Done! (1.00s)\n"),
        model_chunk(role="assistant", reasoning_content="Let me think."),
        model_chunk(content="Hi"),
    ]
    body = b"".join(f"data: {json.dumps(f)}\n\n".encode() for f in frames) + b"data: [DONE]\n\n"

    def reply(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    transport = httpx.MockTransport(reply)
    provider = LlamaSwapProvider(
        "http://127.0.0.1:18082", http_client=httpx.Client(transport=transport)
    )
    client = provider.openai_client()
    chunks = list(
        client.chat.completions.create(
            model="qwen", messages=[{"role": "user", "content": "hi"}], stream=True
        )
    )
    reasoning = [getattr(c.choices[0].delta, "reasoning_content", None) for c in chunks]
    progress = [getattr(c, "llamaswap_loading", None) for c in chunks]
    assert reasoning == [None, None, "Let me think.", None]
    assert progress == ["llama-swap loading model: qwen\n", "Done! (1.00s)\n", None, None]
