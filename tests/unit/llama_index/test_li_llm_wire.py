"""LlamaSwap (LlamaIndex LLM): the request it sends, pinned offline with httpx.MockTransport."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from li_fakes import KEY, FakeSwap, chat_body, fake_swap, models_body, sse, stream_chunks
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.base.llms.types import ChatMessage, ThinkingBlock
from llama_index.core.constants import DEFAULT_CONTEXT_WINDOW
from llama_index.core.instrumentation import get_dispatcher  # type: ignore[attr-defined]
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.tools import FunctionTool

from llama_index_llamaswap import (
    FALLBACK_CONTEXT_WINDOW,
    LlamaSwap,
    LlamaSwapEmbedding,
    LlamaSwapLoadingEvent,
)
from llama_index_llamaswap._common import NO_READ_TIMEOUT
from llamaswap import PLACEHOLDER_API_KEY, shared_provider

USER = [ChatMessage(role="user", content="hi")]


@pytest.fixture
def swap() -> FakeSwap:
    return fake_swap(KEY)


def tool_call_body(name: str, arguments: dict[str, Any], call_id: str = "call_1") -> dict[str, Any]:
    body = chat_body("")
    body["choices"][0]["message"] = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(arguments)},
            }
        ],
    }
    body["choices"][0]["finish_reason"] = "tool_calls"
    return body


# -- the request -----------------------------------------------------------------------


def test_chat_pins_path_bearer_model_and_max_tokens(swap: FakeSwap) -> None:
    llm = LlamaSwap(model="qwen", dsn=swap.dsn, max_tokens=7, temperature=0.0)
    response = llm.chat(USER)
    assert response.message.content == "Hello"
    request, body = swap.last("/v1/chat/completions")
    assert str(request.url) == "http://" + swap.dsn.split("@", 1)[1] + "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert body["model"] == "qwen"
    assert body["max_tokens"] == 7
    assert "max_completion_tokens" not in body
    assert body["stream"] is False
    assert body["messages"] == [{"role": "user", "content": "hi"}]
    assert body["temperature"] == 0.0


def test_no_max_tokens_sends_none() -> None:
    swap = fake_swap()
    LlamaSwap(model="qwen", dsn=swap.dsn).chat(USER)
    _, body = swap.last("/v1/chat/completions")
    assert "max_tokens" not in body and "max_completion_tokens" not in body


def test_without_key_a_placeholder_bearer_is_sent() -> None:
    swap = fake_swap()
    LlamaSwap(model="qwen", dsn=swap.dsn, max_tokens=4).chat(USER)
    request, _ = swap.last("/v1/chat/completions")
    assert request.headers["authorization"] == f"Bearer {PLACEHOLDER_API_KEY}"


def test_api_key_argument_is_the_bearer() -> None:
    swap = fake_swap()
    llm = LlamaSwap(model="qwen", dsn=swap.dsn, api_key="sk-other-key")
    llm.provider._client = swap.provider._client  # a different shared provider (other key)
    llm.chat(USER)
    request, _ = swap.last("/v1/chat/completions")
    assert request.headers["authorization"] == "Bearer sk-other-key"


def test_openai_o1_names_still_send_legacy_max_tokens() -> None:
    swap = fake_swap()
    LlamaSwap(model="o1", dsn=swap.dsn, max_tokens=9).chat(USER)
    _, body = swap.last("/v1/chat/completions")
    assert body["model"] == "o1"
    assert body["max_tokens"] == 9
    assert "max_completion_tokens" not in body


def test_complete_goes_to_chat_completions(swap: FakeSwap) -> None:
    llm = LlamaSwap(model="coder", dsn=swap.dsn, max_tokens=5)
    assert llm.complete("Say hi").text == "Hello"
    _, body = swap.last("/v1/chat/completions")
    assert body["model"] == "coder"
    assert body["messages"] == [{"role": "user", "content": "Say hi"}]
    assert "/v1/completions" not in swap.paths()


def test_stream_chat_and_complete_ask_for_usage(swap: FakeSwap) -> None:
    llm = LlamaSwap(model="qwen", dsn=swap.dsn, max_tokens=5)
    chunks = list(llm.stream_chat(USER))
    assert "".join(c.delta or "" for c in chunks) == "Hello"
    assert chunks[-1].message.content == "Hello"
    assert chunks[-1].additional_kwargs["completion_tokens"] == 2
    _, body = swap.last("/v1/chat/completions")
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["max_tokens"] == 5
    assert [c.delta for c in llm.stream_complete("x")][-1] is not None
    assert "".join(c.delta or "" for c in llm.stream_complete("x")) == "Hello"


def test_caller_stream_options_win(swap: FakeSwap) -> None:
    llm = LlamaSwap(
        model="qwen",
        dsn=swap.dsn,
        additional_kwargs={"stream_options": {"include_usage": False}},
    )
    list(llm.stream_chat(USER))
    _, body = swap.last("/v1/chat/completions")
    assert body["stream_options"] == {"include_usage": False}
    llm.chat(USER)  # stream_options is dropped when not streaming
    assert "stream_options" not in swap.last("/v1/chat/completions")[1]
    given = LlamaSwap(
        model="qwen",
        dsn=swap.dsn,
        additional_kwargs={"extra_body": {"stream_options": {"include_usage": False}}},
    )
    list(given.stream_chat(USER))
    assert swap.last("/v1/chat/completions")[1]["stream_options"] == {"include_usage": False}


async def test_async_chat_complete_and_streams(swap: FakeSwap) -> None:
    llm = LlamaSwap(model="qwen", dsn=swap.dsn, max_tokens=6)
    assert (await llm.achat(USER)).message.content == "Hello"
    assert (await llm.acomplete("x")).text == "Hello"
    text = "".join([c.delta or "" async for c in await llm.astream_chat(USER)])
    assert text == "Hello"
    text = "".join([c.delta or "" async for c in await llm.astream_complete("x")])
    assert text == "Hello"
    request, body = swap.last("/v1/chat/completions")
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert body["max_tokens"] == 6 and body["stream"] is True


def test_reasoning_content_is_kept(swap: FakeSwap) -> None:
    def reply(request: httpx.Request, body: dict[str, Any]) -> httpx.Response:
        if body.get("stream"):
            return sse(stream_chunks(["4"], reasoning=("2+2", " is 4")))
        return httpx.Response(200, json=chat_body("4", reasoning_content="2+2 is 4"))

    swap.replies["/v1/chat/completions"] = reply
    llm = LlamaSwap(model="qwen", dsn=swap.dsn)
    message = llm.chat(USER).message
    thinking = [b for b in message.blocks if isinstance(b, ThinkingBlock)]
    assert [b.content for b in thinking] == ["2+2 is 4"]
    assert message.content == "4"
    last = list(llm.stream_chat(USER))[-1]
    thinking = [b for b in last.message.blocks if isinstance(b, ThinkingBlock)]
    assert [b.content for b in thinking] == ["2+2 is 4"]


# -- context window ---------------------------------------------------------------------


def test_context_window_comes_from_v1_models_without_loading(swap: FakeSwap) -> None:
    llm = LlamaSwap(model="qwen", dsn=swap.dsn)
    assert llm.metadata.context_window == 2048
    assert llm.metadata.context_window == 2048
    assert swap.paths() == ["/v1/models"]  # asked once, nothing loaded (no /upstream, no chat)
    assert llm.metadata.is_chat_model and llm.metadata.is_function_calling_model


def test_context_window_by_alias_and_meta_n_ctx() -> None:
    swap = fake_swap()
    swap.models = models_body(meta={"llamaswap": {"aliases": ["coder"]}, "n_ctx": 8192})
    assert LlamaSwap(model="coder", dsn=swap.dsn).metadata.context_window == 8192


def test_context_window_fallback_when_not_reported() -> None:
    swap = fake_swap()
    swap.models = models_body()
    llm = LlamaSwap(model="qwen", dsn=swap.dsn)
    assert FALLBACK_CONTEXT_WINDOW == DEFAULT_CONTEXT_WINDOW == 3900
    assert llm.metadata.context_window == FALLBACK_CONTEXT_WINDOW
    llm.metadata  # noqa: B018 - remembered: no second lookup
    assert swap.paths() == ["/v1/models"]


def test_context_window_fallback_for_unknown_model(swap: FakeSwap) -> None:
    llm = LlamaSwap(model="nope", dsn=swap.dsn)
    assert llm.metadata.context_window == FALLBACK_CONTEXT_WINDOW
    assert llm.metadata.context_window == FALLBACK_CONTEXT_WINDOW
    assert swap.paths() == ["/v1/models"]


def later(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Move the clock the context lookup reads forward (no real waiting)."""
    import llama_index_llamaswap.llms as llms

    now = llms.time.monotonic() + seconds
    monkeypatch.setattr(llms.time, "monotonic", lambda: now)


def test_unreachable_server_falls_back_and_asks_again_later(
    swap: FakeSwap, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llama_index_llamaswap.llms import CONTEXT_RETRY_AFTER

    calls = []

    def refuse(request: httpx.Request, body: dict[str, Any]) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json=swap.models)

    swap.replies["/v1/models"] = refuse
    llm = LlamaSwap(model="qwen", dsn=swap.dsn)
    assert llm.metadata.context_window == FALLBACK_CONTEXT_WINDOW
    assert llm.metadata.context_window == FALLBACK_CONTEXT_WINDOW  # the failure is remembered
    assert len(calls) == 1
    later(monkeypatch, CONTEXT_RETRY_AFTER + 1)
    assert llm.metadata.context_window == 2048
    assert llm.metadata.context_window == 2048
    assert len(calls) == 2


def test_refused_key_is_not_remembered_for_good(
    swap: FakeSwap, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llama_index_llamaswap.llms import CONTEXT_RETRY_AFTER

    answers = [httpx.Response(401, json={"error": "unauthorized"})]
    swap.replies["/v1/models"] = lambda r, b: answers.pop() if answers else None
    llm = LlamaSwap(model="qwen", dsn=swap.dsn)
    assert llm.metadata.context_window == FALLBACK_CONTEXT_WINDOW
    later(monkeypatch, CONTEXT_RETRY_AFTER + 1)
    assert llm.metadata.context_window == 2048
    assert swap.paths() == ["/v1/models", "/v1/models"]


def test_caller_context_window_wins_and_skips_lookup(swap: FakeSwap) -> None:
    llm = LlamaSwap(model="qwen", dsn=swap.dsn, context_window=1000)
    assert llm.metadata.context_window == 1000
    llm.chat(USER)
    assert "/v1/models" not in swap.paths()


# -- identity, secrets, defaults ---------------------------------------------------------


def test_key_never_in_repr_str_or_serialisation(swap: FakeSwap) -> None:
    for llm in (
        LlamaSwap(model="qwen", dsn=swap.dsn),
        LlamaSwap(model="qwen", dsn=swap.dsn.replace(KEY + "@", ""), api_key=KEY),
    ):
        for text in (
            repr(llm),
            str(llm),
            json.dumps(llm.to_dict()),
            llm.to_json(),
            llm.model_dump_json(),
        ):
            assert KEY not in text
        assert llm.to_dict()["dsn"] == swap.provider.base_url
        assert "api_key" not in llm.to_dict() and "api_base" not in llm.to_dict()
        assert llm.api_key == KEY  # still used on the wire


def test_round_trip_through_to_dict(swap: FakeSwap) -> None:
    llm = LlamaSwap(model="qwen", dsn=swap.dsn, max_tokens=11, context_window=999)
    data = llm.to_dict()
    assert data["class_name"] == "LlamaSwap"
    again = LlamaSwap.from_dict(data, api_key=KEY)
    assert again.provider is swap.provider
    assert (again.model, again.max_tokens, again.context_window) == ("qwen", 11, 999)


def test_dsn_defaults_to_env(monkeypatch: pytest.MonkeyPatch, swap: FakeSwap) -> None:
    monkeypatch.setenv("LLAMASWAP_DSN", swap.dsn)
    llm = LlamaSwap(model="qwen", max_tokens=3)
    assert llm.provider is swap.provider
    assert llm.dsn is None  # a rebuilt object reads the env (and its key) again
    llm.chat(USER)
    assert swap.last("/v1/chat/completions")[0].headers["authorization"] == f"Bearer {KEY}"


def test_provider_is_the_shared_provider(swap: FakeSwap) -> None:
    llm = LlamaSwap(model="qwen", dsn=swap.dsn)
    assert llm.provider is shared_provider(swap.dsn)
    assert LlamaSwapEmbedding(model="embed", dsn=swap.dsn).provider is llm.provider


def test_sdk_uses_pooled_clients_and_no_read_timeout(swap: FakeSwap) -> None:
    llm = LlamaSwap(model="qwen", dsn=swap.dsn)
    client = llm._get_client()
    assert client._client is swap.provider.sdk_http_client()  # rides the pool, follows it
    assert llm._get_aclient()._client is swap.provider.sdk_async_http_client()  # follows too
    assert client.timeout == NO_READ_TIMEOUT and NO_READ_TIMEOUT.read is None
    assert client.max_retries == 0
    assert LlamaSwap(model="qwen", dsn=swap.dsn, timeout=30.0)._get_client().timeout == 30.0


def test_async_sdk_client_follows_the_event_loop() -> None:
    """httpx connections belong to one loop: one SDK client sends through each loop's pool.

    Core's rider (``sdk_async_http_client``) picks the running loop's pool per request, as
    for LangChain; ``tests/unit/test_event_loops.py`` runs real requests across loops.
    """
    llm = LlamaSwap(model="qwen", dsn="llama-swap://li-unit-loops.invalid:8080")

    async def pools() -> tuple[object, object, object]:
        client = llm._get_aclient()
        assert llm._get_aclient() is client  # reused within one loop
        return client, client._client, llm.provider.async_http_client

    first, second = asyncio.run(pools()), asyncio.run(pools())
    assert first[1] is second[1] is llm.provider.sdk_async_http_client()
    assert first[2] is not second[2]  # each loop its own pool


def test_sdk_clients_are_made_once_unless_reuse_client_is_off(swap: FakeSwap) -> None:
    llm = LlamaSwap(model="qwen", dsn=swap.dsn)
    assert llm._get_client() is llm._get_client()
    llm.chat([ChatMessage(role="user", content="hi")])
    assert llm._get_client() is llm._get_client()
    fresh = LlamaSwap(model="qwen", dsn=swap.dsn, reuse_client=False)
    assert fresh._get_client() is not fresh._get_client()
    assert fresh._get_aclient() is not fresh._get_aclient()


def test_reuse_client_false_never_gets_the_shared_pool(swap: FakeSwap) -> None:
    llm = LlamaSwap(model="qwen", dsn=swap.dsn, reuse_client=False)
    assert llm._get_credential_kwargs()["http_client"] is None
    assert llm._get_credential_kwargs(is_async=True)["http_client"] is None


def test_no_retries_by_default(swap: FakeSwap) -> None:
    swap.replies["/v1/chat/completions"] = lambda r, b: httpx.Response(
        502, json={"error": {"message": "upstream died"}}
    )
    llm = LlamaSwap(model="qwen", dsn=swap.dsn)
    with pytest.raises(openai.InternalServerError):
        llm.chat(USER)
    assert swap.paths().count("/v1/chat/completions") == 1


def test_max_retries_resends_a_429_but_never_a_5xx(swap: FakeSwap) -> None:
    """``max_retries`` is llamaswap's safe retry; LlamaIndex's retry decorator stays off."""
    statuses = iter([429, 429])

    def busy_then_ok(request: httpx.Request, body: dict[str, Any]) -> httpx.Response | None:
        status = next(statuses, None)
        if status is None:
            return None
        return httpx.Response(
            status, json={"error": {"message": "busy"}}, headers={"Retry-After": "0"}
        )

    swap.replies["/v1/chat/completions"] = busy_then_ok
    llm = LlamaSwap(model="qwen", dsn=swap.dsn, max_retries=2)
    assert llm.chat(USER).message.content == "Hello"
    assert swap.paths().count("/v1/chat/completions") == 3
    assert llm.max_retries == 0 and llm.safe_retries == 2  # LlamaIndex's own count stays 0

    swap.replies["/v1/chat/completions"] = lambda r, b: httpx.Response(
        502, json={"error": {"message": "upstream died"}}
    )
    with pytest.raises(openai.InternalServerError):
        llm.chat(USER)
    with pytest.raises(openai.InternalServerError):
        asyncio.run(llm.achat(USER))
    assert swap.paths().count("/v1/chat/completions") == 5  # one each: a 5xx is never resent


def test_retries_survive_to_dict_and_from_dict(swap: FakeSwap) -> None:
    llm = LlamaSwap(model="qwen", dsn=swap.dsn, max_retries=3)
    restored = LlamaSwap.from_dict(llm.to_dict())
    assert restored.safe_retries == 3 and restored.max_retries == 0


def test_bad_arguments() -> None:
    with pytest.raises(TypeError, match="dsn="):
        LlamaSwap(model="qwen", api_base="http://127.0.0.1:1/v1")
    with pytest.raises(ValueError, match="model"):
        LlamaSwap(model="")
    with pytest.raises(TypeError, match="dsn must be a string"):
        LlamaSwap(model="qwen", dsn=8080)  # type: ignore[arg-type]


# -- tools -------------------------------------------------------------------------------


def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


def test_predict_and_call_sends_tools_and_runs_the_call(swap: FakeSwap) -> None:
    swap.replies["/v1/chat/completions"] = lambda r, b: httpx.Response(
        200, json=tool_call_body("multiply", {"a": 6, "b": 7})
    )
    llm = LlamaSwap(model="qwen", dsn=swap.dsn, max_tokens=64)
    tool = FunctionTool.from_defaults(fn=multiply)
    output = llm.predict_and_call([tool], "What is 6 times 7?")
    assert output.response == "42"
    _, body = swap.last("/v1/chat/completions")
    assert [t["function"]["name"] for t in body["tools"]] == ["multiply"]
    assert body["tool_choice"] == "auto"
    assert body["parallel_tool_calls"] is False
    assert body["max_tokens"] == 64


def test_tool_required_sends_required(swap: FakeSwap) -> None:
    swap.replies["/v1/chat/completions"] = lambda r, b: httpx.Response(
        200, json=tool_call_body("multiply", {"a": 1, "b": 2})
    )
    llm = LlamaSwap(model="qwen", dsn=swap.dsn)
    llm.chat_with_tools([FunctionTool.from_defaults(fn=multiply)], "x", tool_required=True)
    assert swap.last("/v1/chat/completions")[1]["tool_choice"] == "required"


# The workflow runtime walks pydantic objects with inspect.getmembers (its deprecations).
@pytest.mark.filterwarnings("ignore::DeprecationWarning:inspect")
async def test_function_agent_runs_a_tool_offline(swap: FakeSwap) -> None:
    def reply(request: httpx.Request, body: dict[str, Any]) -> httpx.Response:
        if any(m["role"] == "tool" for m in body["messages"]):
            answer = sse(stream_chunks(["The answer is ", "42."]))
            return answer if body.get("stream") else httpx.Response(200, json=chat_body("42"))
        call = tool_call_body("multiply", {"a": 6, "b": 7})
        if not body.get("stream"):
            return httpx.Response(200, json=call)
        tc = call["choices"][0]["message"]["tool_calls"][0]
        chunk = {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "qwen",
            "choices": [
                {
                    "index": 0,
                    "delta": {"role": "assistant", "tool_calls": [{"index": 0, **tc}]},
                    "finish_reason": "tool_calls",
                }
            ],
        }
        return sse([chunk])

    swap.replies["/v1/chat/completions"] = reply
    agent = FunctionAgent(
        tools=[FunctionTool.from_defaults(fn=multiply)],
        llm=LlamaSwap(model="qwen", dsn=swap.dsn, max_tokens=32),
    )
    result: Any = await agent.run("What is 6 times 7?")
    assert "42" in str(result)
    assert [t.tool_output.content for t in result.tool_calls] == ["42"]


@contextlib.contextmanager
def loading_events() -> Iterator[list[LlamaSwapLoadingEvent]]:
    """The LlamaSwapLoadingEvents dispatched inside the block, in order."""
    seen: list[LlamaSwapLoadingEvent] = []

    class Seen(BaseEventHandler):
        def handle(self, event: Any, **kwargs: Any) -> None:
            if isinstance(event, LlamaSwapLoadingEvent):
                seen.append(event)

    handler = Seen()
    root = get_dispatcher()
    root.add_event_handler(handler)
    try:
        yield seen
    finally:
        root.event_handlers.remove(handler)


def test_stream_chat_reports_loading_pieces_apart_from_the_reasoning(swap: FakeSwap) -> None:
    loading = [
        {"choices": [{"delta": {"reasoning_content": "llama-swap loading model: qwen\n"}}]},
        {"choices": [{"delta": {"reasoning_content": "Done! (1.50s)"}}]},
    ]
    swap.replies["/v1/chat/completions"] = lambda r, b: sse(loading + stream_chunks(["Hi"]))
    with loading_events() as seen:
        responses = list(LlamaSwap(model="qwen", dsn=swap.dsn).stream_chat(USER))
    pieces = [r.additional_kwargs.get("llamaswap_loading") for r in responses]
    assert pieces[:2] == ["llama-swap loading model: qwen\n", "Done! (1.50s)"]
    assert all(p is None for p in pieces[2:])
    assert responses[-1].message.content == "Hi"
    assert not any(isinstance(b, ThinkingBlock) for b in responses[-1].message.blocks)
    assert [(e.model, e.done) for e in seen] == [("qwen", False), ("qwen", True)]


@pytest.mark.parametrize("entry", ["stream_chat", "astream_chat"])
async def test_a_load_whose_done_line_never_came_is_closed_by_the_models_first_chunk(
    swap: FakeSwap, entry: str
) -> None:
    # llama-swap drops the rest of a remark and its Done! line when the model gets ready
    # mid-remark: the model's own first chunk is what says the load is over
    loading = [
        {"choices": [{"delta": {"reasoning_content": "━━━━━\n"}}]},
        {"choices": [{"delta": {"reasoning_content": "llama-swap loading model: qwen\n"}}]},
        {"choices": [{"delta": {"reasoning_content": "Reticulating spl"}}]},
    ]
    swap.replies["/v1/chat/completions"] = lambda r, b: sse(loading + stream_chunks(["Hi"]))
    llm = LlamaSwap(model="qwen", dsn=swap.dsn)
    with loading_events() as seen:
        if entry == "stream_chat":
            responses = list(llm.stream_chat(USER))
        else:  # LlamaIndex's async stream skips a first chunk without content: the frame
            responses = [r async for r in await llm.astream_chat(USER)]
    assert responses[-1].message.content == "Hi"
    assert [(e.text, e.done) for e in seen[-2:]] == [("Reticulating spl", False), ("", True)]
    assert seen[-1].model == "qwen" and seen[-1].status.startswith("loaded qwen in ")
