"""``ChatLlamaSwap`` is a ``ChatOpenAI`` that keeps llama-swap's request shape (issue 11).

Libraries special-case ``ChatOpenAI``; this class must pass ``isinstance`` and still send
what llama-server honours. The routing guard fails when a langchain-openai release starts
sending a request elsewhere (the Responses API) or rewriting it (``max_completion_tokens``,
the ``developer`` role), whatever model name or Responses-only argument triggers it there.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from langchain_openai import ChatOpenAI

from langchain_llamaswap import ChatLlamaSwap

DSN = "llama-swap://127.0.0.1:18091"

COMPLETION = {
    "id": "c",
    "object": "chat.completion",
    "created": 1,
    "model": "qwen",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
}
STREAM = (
    "data: "
    + json.dumps(
        {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "qwen",
            "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": "stop"}],
        }
    )
    + "\n\ndata: [DONE]\n\n"
).encode()


class Recorder:
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if json.loads(request.content).get("stream"):
            return httpx.Response(
                200, content=STREAM, headers={"content-type": "text/event-stream"}
            )
        return httpx.Response(200, json=COMPLETION)


def _model(recorder: Recorder, **kwargs: Any) -> ChatLlamaSwap:
    transport = httpx.MockTransport(recorder)
    return ChatLlamaSwap(
        dsn=DSN,
        http_client=httpx.Client(transport=transport),
        http_async_client=httpx.AsyncClient(transport=transport),
        **kwargs,
    )


def test_is_a_chat_openai_with_llamaswaps_defaults() -> None:
    model = ChatLlamaSwap(model="qwen", dsn=DSN)
    assert isinstance(model, ChatOpenAI)
    assert model.max_retries == 0
    assert model.stream_usage is True
    assert model.use_responses_api is False
    assert model.request_timeout is None
    timeout = model.root_client.timeout
    assert isinstance(timeout, httpx.Timeout)
    assert (timeout.connect, timeout.read) == (10.0, None)
    assert model.root_client.max_retries == 0


# Model names and arguments that make langchain-openai 1.7 pick the Responses API or
# rewrite the request for OpenAI's own models.
TRIGGERS: list[tuple[str, dict[str, Any]]] = [
    ("qwen", {}),
    ("o1-qwen", {}),  # o-series name: system role -> "developer"
    ("gpt-5-pro", {}),  # a name that prefers the Responses API
    ("codex-mini-latest", {}),
    ("qwen", {"reasoning": {"effort": "low"}}),
    ("qwen", {"include": ["reasoning.encrypted_content"]}),
    ("qwen", {"truncation": "auto"}),
]


@pytest.mark.parametrize("mode", ["invoke", "stream", "ainvoke", "astream"])
@pytest.mark.parametrize(("name", "extra"), TRIGGERS, ids=[f"{n}-{sorted(e)}" for n, e in TRIGGERS])
async def test_every_request_goes_to_chat_completions_unrewritten(
    mode: str, name: str, extra: dict[str, Any]
) -> None:
    recorder = Recorder()
    model = _model(recorder, model=name, max_tokens=5)
    messages = [("system", "Be brief."), ("human", "hi")]
    if mode == "invoke":
        model.invoke(messages, **extra)
    elif mode == "stream":
        list(model.stream(messages, **extra))
    elif mode == "ainvoke":
        await model.ainvoke(messages, **extra)
    else:
        [chunk async for chunk in model.astream(messages, **extra)]
    (request,) = recorder.requests
    assert request.url.path == "/v1/chat/completions"
    body = json.loads(request.content)
    assert body["max_tokens"] == 5
    assert "max_completion_tokens" not in body
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert body["model"] == name


def test_serialized_key_names_llamaswaps_variable_not_openais() -> None:
    from langchain_core.load import dumpd

    model = ChatLlamaSwap(model="qwen", dsn=DSN, api_key="sk-secret-value")
    kwargs = dumpd(model)["kwargs"]
    assert kwargs["openai_api_key"]["id"] == ["LLAMASWAP_API_KEY"]
    assert "sk-secret-value" not in json.dumps(dumpd(model))
