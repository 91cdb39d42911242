"""llama.cpp's sampling settings reach the JSON body (offline, httpx.MockTransport)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from langchain_llamaswap import ChatLlamaSwap

DSN = "llama-swap://127.0.0.1:18081"

COMPLETION = {
    "id": "c",
    "object": "chat.completion",
    "created": 1,
    "model": "qwen",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}
STREAM = (
    b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"qwen",'
    b'"choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":"stop"}]}\n\n'
    b"data: [DONE]\n\n"
)


class Recorder:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.bodies.append(body)
        if body.get("stream"):
            return httpx.Response(
                200, content=STREAM, headers={"content-type": "text/event-stream"}
            )
        return httpx.Response(200, json=COMPLETION)


def make(recorder: Recorder, **kwargs: Any) -> ChatLlamaSwap:
    transport = httpx.MockTransport(recorder)
    return ChatLlamaSwap(
        model="qwen",
        dsn=DSN,
        http_client=httpx.Client(transport=transport),
        http_async_client=httpx.AsyncClient(transport=transport),
        **kwargs,
    )


FIELDS = {
    "top_k": 20,
    "repeat_penalty": 1.1,
    "repeat_last_n": 32,
    "mirostat": 2,
    "mirostat_tau": 4.0,
    "mirostat_eta": 0.2,
}
LLAMACPP_ONLY = {
    "min_p": 0.05,
    "typical_p": 0.9,
    "n_probs": 2,
    "cache_prompt": False,
    "id_slot": 0,
    "grammar": 'root ::= "yes" | "no"',
    "chat_template_kwargs": {"enable_thinking": False},
    "some_future_setting": [1, 2],
}


def test_ollama_named_fields_are_typed_and_sent() -> None:
    recorder = Recorder()
    model = make(recorder, **FIELDS, seed=7, presence_penalty=0.1, frequency_penalty=0.2)
    model.invoke("hi")
    (body,) = recorder.bodies
    assert {k: body[k] for k in FIELDS} == FIELDS
    assert (body["seed"], body["presence_penalty"], body["frequency_penalty"]) == (7, 0.1, 0.2)
    assert model.top_k == 20  # a field, not a model_kwargs leftover
    assert model.model_kwargs == {}


def test_fields_set_after_construction_are_sent() -> None:
    recorder = Recorder()
    model = make(recorder)
    model.model_copy(update={"top_k": 30}).invoke("hi")
    model.repeat_penalty = 1.3
    model.invoke("hi")
    copied, assigned = recorder.bodies
    assert copied["top_k"] == 30 and "repeat_penalty" not in copied
    assert assigned["repeat_penalty"] == 1.3 and "top_k" not in assigned


def test_unset_fields_are_not_sent() -> None:
    recorder = Recorder()
    make(recorder).invoke("hi")
    assert not set(FIELDS) & set(recorder.bodies[0])


def test_model_kwargs_go_on_the_wire_under_their_own_names() -> None:
    recorder = Recorder()
    make(recorder, model_kwargs=LLAMACPP_ONLY).invoke("hi")
    body = recorder.bodies[0]
    assert {k: body[k] for k in LLAMACPP_ONLY} == LLAMACPP_ONLY
    assert "extra_body" not in body


def test_call_keywords_go_on_the_wire_sync_stream_and_async() -> None:
    recorder = Recorder()
    model = make(recorder)
    model.invoke("hi", top_k=20, **LLAMACPP_ONLY)
    list(model.stream("hi", top_k=21, min_p=0.1))

    import asyncio

    asyncio.run(model.ainvoke("hi", top_k=22, grammar="root ::= [a-z]+"))
    first, streamed, awaited = recorder.bodies
    assert first["top_k"] == 20 and {k: first[k] for k in LLAMACPP_ONLY} == LLAMACPP_ONLY
    assert (streamed["top_k"], streamed["min_p"], streamed["stream"]) == (21, 0.1, True)
    assert (awaited["top_k"], awaited["grammar"]) == (22, "root ::= [a-z]+")


def test_extra_body_and_loose_keywords_merge() -> None:
    recorder = Recorder()
    make(recorder, extra_body={"n_probs": 3, "top_k": 5}).invoke("hi", top_k=9)
    body = recorder.bodies[0]
    assert (body["n_probs"], body["top_k"]) == (3, 9)


def test_a_bad_extra_body_is_refused_clearly() -> None:
    with pytest.raises(TypeError, match="extra_body must be a dict"):
        make(Recorder()).invoke("hi", extra_body=["x"], top_k=1)
