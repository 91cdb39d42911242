"""ChatLlamaSwap offline: the langchain-tests unit suite plus wire tests on httpx.MockTransport."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from uuid import UUID

import httpx
import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.load import dumpd, dumps, load
from langchain_core.messages import AIMessageChunk, HumanMessage
from langchain_tests.unit_tests import ChatModelUnitTests
from pydantic import BaseModel, Field

from langchain_llamaswap import ChatLlamaSwap
from langchain_llamaswap._common import PLACEHOLDER_API_KEY
from langchain_llamaswap.chat_models import llamacpp_payload
from llamaswap import shared_provider

SECRET = "sk-very-secret-key-123"
DSN = f"llama-swap://{SECRET}@127.0.0.1:18080"


class TestChatLlamaSwapStandardUnit(ChatModelUnitTests):
    @property
    def chat_model_class(self) -> type[ChatLlamaSwap]:
        return ChatLlamaSwap

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"model": "qwen", "dsn": "llama-swap://127.0.0.1:18080"}

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        return (
            {"LLAMASWAP_DSN": "llama-swap://127.0.0.1:18080", "LLAMASWAP_API_KEY": "test"},
            {"model": "qwen"},
            {"dsn": "llama-swap://127.0.0.1:18080", "openai_api_key": "test"},
        )

    @property
    def supports_image_inputs(self) -> bool:
        return False

    @property
    def returns_usage_metadata(self) -> bool:
        return True

    @property
    def has_tool_choice(self) -> bool:
        return True

    @pytest.mark.xfail(
        reason="langchain-core 1.8 load(allowed_objects='all') admits only classes listed in "
        "langchain_core.load.mapping, so no third-party class can pass this round trip; "
        "test_round_trip_through_dumps_restores_the_dsn_from_env loads it with "
        "allowed_objects=[ChatLlamaSwap] instead",
        raises=ValueError,
        strict=True,
    )
    def test_serdes(self, model: Any, snapshot: Any) -> None:
        super().test_serdes(model, snapshot)


# -- a recording fake llama-swap ---------------------------------------------------------------

COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "/models/qwen.gguf",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "hi",
                "reasoning_content": "thinking...",
            },
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
    "timings": {"prompt_n": 5, "predicted_n": 1, "predicted_per_second": 40.0},
}


def sse(*frames: dict[str, Any]) -> bytes:
    out = b"".join(f"data: {json.dumps(f)}\n\n".encode() for f in frames)
    return out + b"data: [DONE]\n\n"


def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "/models/qwen.gguf",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }


STREAM = sse(
    {"choices": [{"delta": {"reasoning_content": "llama-swap loading model: qwen"}}]},
    chunk({"role": "assistant", "content": None}),
    chunk({"reasoning_content": "hmm"}),
    chunk({"content": "Hel"}),
    chunk({"content": "lo"}),
    chunk({}, "stop"),
    {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "/models/qwen.gguf",
        "choices": [],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
        "timings": {"prompt_n": 5, "predicted_n": 2},
    },
)


class Recorder:
    def __init__(self, status: int = 200) -> None:
        self.requests: list[httpx.Request] = []
        self.status = status

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.status != 200:
            return httpx.Response(self.status, json={"error": {"message": "busy"}})
        body = json.loads(request.content)
        if body.get("stream"):
            return httpx.Response(
                200, content=STREAM, headers={"content-type": "text/event-stream"}
            )
        return httpx.Response(200, json=COMPLETION)

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def make(recorder: Recorder) -> Callable[..., ChatLlamaSwap]:
    def factory(**kwargs: Any) -> ChatLlamaSwap:
        transport = httpx.MockTransport(recorder)
        params: dict[str, Any] = {"model": "qwen", "dsn": DSN}
        params.update(kwargs)
        return ChatLlamaSwap(
            http_client=httpx.Client(transport=transport),
            http_async_client=httpx.AsyncClient(transport=transport),
            **params,
        )

    return factory


# -- request on the wire -------------------------------------------------------------------------


def test_request_carries_max_tokens_bearer_and_model(
    make: Callable[..., ChatLlamaSwap], recorder: Recorder
) -> None:
    make(max_tokens=7).invoke("hello")
    (request,) = recorder.requests
    assert request.url == "http://127.0.0.1:18080/v1/chat/completions"
    body = json.loads(request.content)
    assert body["max_tokens"] == 7
    assert "max_completion_tokens" not in body
    assert body["model"] == "qwen"
    assert request.headers["authorization"] == f"Bearer {SECRET}"


def test_max_completion_tokens_kwarg_goes_out_as_max_tokens(
    make: Callable[..., ChatLlamaSwap], recorder: Recorder
) -> None:
    make().invoke("hello", max_completion_tokens=9)
    body = recorder.bodies[0]
    assert body["max_tokens"] == 9
    assert "max_completion_tokens" not in body


def test_no_key_sends_placeholder_bearer(
    make: Callable[..., ChatLlamaSwap], recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LLAMASWAP_API_KEY", raising=False)
    make(dsn="llama-swap://127.0.0.1:18080").invoke("hello")
    assert recorder.requests[0].headers["authorization"] == f"Bearer {PLACEHOLDER_API_KEY}"


def test_nothing_from_the_openai_environment_leaks(
    make: Callable[..., ChatLlamaSwap], recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "OPENAI_API_KEY": "sk-openai-leak",
        "OPENAI_ORG_ID": "org-leak",
        "OPENAI_PROJECT_ID": "proj-leak",
        "OPENAI_API_BASE": "http://leak.invalid/v1",
        "OPENAI_BASE_URL": "http://leak.invalid/v1",
        "OPENAI_PROXY": "http://leak.invalid:3128",
    }.items():
        monkeypatch.setenv(name, value)
    make(dsn="llama-swap://127.0.0.1:18080").invoke("hello")
    request = recorder.requests[0]
    assert request.url.host == "127.0.0.1"
    wire = str(request.url) + repr(dict(request.headers)) + request.content.decode()
    assert "leak" not in wire
    assert "openai-organization" not in request.headers
    assert "openai-project" not in request.headers


def test_default_timeout_bounds_connect_only(
    make: Callable[..., ChatLlamaSwap], recorder: Recorder
) -> None:
    make().invoke("hello")
    timeout = recorder.requests[0].extensions["timeout"]
    assert timeout == {"connect": 10.0, "read": None, "write": None, "pool": None}
    make(timeout=5).invoke("hello")
    assert recorder.requests[1].extensions["timeout"]["read"] == 5


def test_codex_names_stay_on_chat_completions(
    make: Callable[..., ChatLlamaSwap], recorder: Recorder
) -> None:
    model = make(model="gpt-5-codex")
    assert model.use_responses_api is False
    model.invoke("hello")
    assert recorder.requests[0].url.path == "/v1/chat/completions"
    with pytest.raises(ValueError, match="Chat Completions only"):
        ChatLlamaSwap(model="qwen", dsn=DSN, use_responses_api=True)


def test_no_retry_by_default_unless_asked(make: Callable[..., ChatLlamaSwap]) -> None:
    failing = Recorder(status=503)
    transport = httpx.MockTransport(failing)
    model = ChatLlamaSwap(model="qwen", dsn=DSN, http_client=httpx.Client(transport=transport))
    assert model.max_retries == 0
    with pytest.raises(Exception, match=r"503|busy"):
        model.invoke("hello")
    assert len(failing.requests) == 1
    retried = ChatLlamaSwap(
        model="qwen",
        dsn=DSN,
        max_retries=1,
        http_client=httpx.Client(transport=httpx.MockTransport(failing)),
    )
    with pytest.raises(Exception, match=r"503|busy"):
        retried.invoke("hello")
    # A 503 may come from a swap that started: never resent, even when retries are on.
    assert len(failing.requests) == 2
    limited = Recorder(status=429)
    asked = ChatLlamaSwap(
        model="qwen",
        dsn=DSN,
        max_retries=1,
        http_client=httpx.Client(transport=httpx.MockTransport(limited)),
    )
    with pytest.raises(Exception, match=r"429|busy|concurrency"):
        asked.invoke("hello")
    # A 429 was refused at admission (nothing started): retried once, as asked.
    assert len(limited.requests) == 2


def test_stream_asks_for_usage(make: Callable[..., ChatLlamaSwap], recorder: Recorder) -> None:
    chunks = list(make().stream("hello"))
    body = recorder.bodies[0]
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    full = chunks[0]
    for part in chunks[1:]:
        full += part
    assert isinstance(full, AIMessageChunk)
    assert full.content == "Hello"
    assert full.usage_metadata is not None
    assert full.usage_metadata["output_tokens"] == 2


@pytest.mark.parametrize(
    ("choice", "tools_sent", "wire_choice"),
    [
        ("get_weather", ["get_weather"], "required"),
        ("any", ["get_weather", "get_time"], "required"),
        (True, ["get_weather", "get_time"], "required"),
        ("required", ["get_weather", "get_time"], "required"),
        ("auto", ["get_weather", "get_time"], "auto"),
        ("none", ["get_weather", "get_time"], "none"),
        (
            {"type": "function", "function": {"name": "get_time"}},
            ["get_time"],
            "required",
        ),
    ],
)
def test_tool_choice_mapped_to_what_llama_server_honours(
    make: Callable[..., ChatLlamaSwap],
    recorder: Recorder,
    choice: Any,
    tools_sent: list[str],
    wire_choice: str,
) -> None:
    def get_weather(city: str) -> str:
        """Get the weather in a city."""
        return "sunny"

    def get_time(city: str) -> str:
        """Get the time in a city."""
        return "noon"

    make().bind_tools([get_weather, get_time], tool_choice=choice).invoke("hi")
    body = recorder.bodies[0]
    assert [t["function"]["name"] for t in body["tools"]] == tools_sent
    assert body["tool_choice"] == wire_choice


def test_unknown_named_tool_is_a_clear_error() -> None:
    payload: dict[str, Any] = {
        "tools": [{"type": "function", "function": {"name": "a"}}],
        "tool_choice": {"type": "function", "function": {"name": "b"}},
    }
    with pytest.raises(ValueError, match=r"'b'.*bound: a"):
        llamacpp_payload(payload)


class Person(BaseModel):
    """A person."""

    name: str = Field(description="The name")
    age: int


def test_structured_output_defaults_to_json_schema(
    make: Callable[..., ChatLlamaSwap], recorder: Recorder
) -> None:
    recorder_body = {"name": "Ann", "age": 3}
    completion = json.loads(json.dumps(COMPLETION))
    completion["choices"][0]["message"]["content"] = json.dumps(recorder_body)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=completion)

    model = ChatLlamaSwap(
        model="qwen",
        dsn=DSN,
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    result = model.with_structured_output(Person).invoke("who?")
    assert result == Person(name="Ann", age=3)
    body = json.loads(seen[0].content)
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"]["required"] == ["name", "age"]
    assert "tools" not in body


# -- response mapping -----------------------------------------------------------------------------


def test_invoke_keeps_reasoning_timings_and_model(make: Callable[..., ChatLlamaSwap]) -> None:
    message = make().invoke("hello")
    assert message.additional_kwargs["reasoning_content"] == "thinking..."
    meta = message.response_metadata
    assert meta["timings"]["predicted_per_second"] == 40.0
    assert meta["model_name"] == "qwen"
    assert meta["upstream_model_name"] == "/models/qwen.gguf"
    assert meta["model_provider"] == "llamaswap"
    assert message.usage_metadata is not None
    assert message.usage_metadata["input_tokens"] == 5
    assert message.usage_metadata["total_tokens"] == 6
    assert [b["type"] for b in message.content_blocks] == ["reasoning", "text"]


def test_stream_keeps_reasoning_timings_and_model(make: Callable[..., ChatLlamaSwap]) -> None:
    chunks = list(make().stream("hello"))
    full = chunks[0]
    for part in chunks[1:]:
        full += part
    assert full.additional_kwargs["reasoning_content"] == "hmm"  # the model's alone
    assert full.additional_kwargs["llamaswap_loading"] == "llama-swap loading model: qwen"
    assert full.response_metadata["timings"] == {"prompt_n": 5, "predicted_n": 2}
    assert full.response_metadata["model_name"] == "qwen"
    assert full.response_metadata["finish_reason"] == "stop"


class _Events(BaseCallbackHandler):
    """Collects the custom events a run reports, with the run they name."""

    def __init__(self) -> None:
        self.runs: list[UUID] = []
        self.events: list[tuple[str, Any, UUID]] = []

    def on_chat_model_start(
        self, serialized: Any, messages: Any, *, run_id: UUID, **_: Any
    ) -> None:
        self.runs.append(run_id)

    def on_custom_event(self, name: str, data: Any, *, run_id: UUID, **_: Any) -> None:
        self.events.append((name, data, run_id))


def test_stream_sends_load_progress_as_custom_events_of_the_model_run(
    make: Callable[..., ChatLlamaSwap],
) -> None:
    handler = _Events()
    list(make().stream("hello", config={"callbacks": [handler]}))
    (name, piece, run_id), (_, closing, closing_run) = handler.events
    assert name == "llamaswap_loading" and run_id == closing_run == handler.runs[0]
    assert piece["text"] == "llama-swap loading model: qwen" and piece["done"] is False
    # the stream has no "Done!" (llama-swap drops it when the model gets ready mid-remark):
    # the model's own first chunk closes the load
    assert closing["done"] is True and closing["text"] == ""
    assert closing["status"].startswith("loaded model in ")


async def test_load_progress_reaches_astream_events(make: Callable[..., ChatLlamaSwap]) -> None:
    events = [e async for e in make().astream_events("hello", version="v2")]
    (start,) = [e for e in events if e["event"] == "on_chat_model_start"]
    progress = [e for e in events if e["event"] == "on_custom_event"]
    assert {e["name"] for e in progress} == {"llamaswap_loading"}
    assert {e["run_id"] for e in progress} == {start["run_id"]}
    assert [e["data"]["done"] for e in progress] == [False, True]
    assert progress[0]["data"]["text"] == "llama-swap loading model: qwen"


async def test_async_paths(make: Callable[..., ChatLlamaSwap], recorder: Recorder) -> None:
    model = make(max_tokens=3)
    message = await model.ainvoke("hello")
    assert message.additional_kwargs["reasoning_content"] == "thinking..."
    chunks = [c async for c in model.astream("hello")]
    assert "".join(str(c.content) for c in chunks) == "Hello"
    assert all(b["max_tokens"] == 3 for b in recorder.bodies)
    assert model.stream_chunk_timeout is None


def test_per_call_model_override(make: Callable[..., ChatLlamaSwap], recorder: Recorder) -> None:
    message = make().invoke("hello", model="qwen-b")
    assert recorder.bodies[0]["model"] == "qwen-b"
    assert message.response_metadata["model_name"] == "qwen-b"


def test_image_block_goes_out_as_data_url(
    make: Callable[..., ChatLlamaSwap], recorder: Recorder
) -> None:
    from langchain_llamaswap import image_message
    from llamaswap import GeneratedImage

    png = GeneratedImage(data=b"\x89PNG\r\n\x1a\nxyz", mime_type="image/png")
    make().invoke([image_message(png, "what is this?")])
    content = recorder.bodies[0]["messages"][0]["content"]
    assert content[0] == {"type": "text", "text": "what is this?"}
    assert content[1]["type"] == "image_url"
    assert content[1]["image_url"]["url"] == png.to_data_url()


# -- secrets and the provider ---------------------------------------------------------------------


def test_dsn_and_key_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLAMASWAP_DSN", raising=False)
    model = ChatLlamaSwap(model="qwen", dsn=DSN, max_tokens=5)
    keyed = ChatLlamaSwap(model="qwen", dsn="127.0.0.1:18080", api_key=SECRET)
    for m in (model, keyed):
        views = [
            repr(m),
            str(m),
            dumps(m),
            json.dumps(dumpd(m)),
            repr(m.lc_secrets),
            repr(m._get_ls_params()),
            repr(m._get_invocation_params()),
            repr(m._identifying_params),
            repr(m.provider),
            repr(m.model_dump()),
        ]
        for view in views:
            assert SECRET not in view
    assert model.lc_secrets == {"dsn": "LLAMASWAP_DSN", "openai_api_key": "LLAMASWAP_API_KEY"}
    serialized = dumpd(model)["kwargs"]
    assert serialized["dsn"] == {"lc": 1, "type": "secret", "id": ["LLAMASWAP_DSN"]}
    assert model._get_ls_params()["ls_provider"] == "llamaswap"


def test_round_trip_through_dumps_restores_the_dsn_from_env(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = ChatLlamaSwap(model="qwen", dsn=DSN, max_tokens=5)
    text = dumps(model)
    monkeypatch.setenv("LLAMASWAP_DSN", DSN)
    restored = load(
        json.loads(text),
        valid_namespaces=["langchain_llamaswap"],
        allowed_objects=[ChatLlamaSwap],
        secrets_from_env=True,
    )
    assert isinstance(restored, ChatLlamaSwap)
    assert restored.provider is model.provider
    assert restored.max_tokens == 5


def test_provider_is_the_shared_one(monkeypatch: pytest.MonkeyPatch) -> None:
    model = ChatLlamaSwap(model="qwen", dsn=DSN)
    assert model.provider is shared_provider(DSN)
    assert model.provider.api_key == SECRET
    monkeypatch.setenv("LLAMASWAP_DSN", DSN)
    assert ChatLlamaSwap(model="qwen").provider is model.provider
    # Without an injected client the SDK rides on the provider's pool (through the light
    # client that follows it, so closing the provider never breaks the model).
    assert model.root_client._client is model.provider.sdk_http_client()
    assert model.root_async_client._client is model.provider.sdk_async_http_client()


def test_base_url_must_not_hold_a_key() -> None:
    with pytest.raises(ValueError, match="must not contain a key"):
        ChatLlamaSwap(model="qwen", base_url=f"http://u:{SECRET}@127.0.0.1:1")
    model = ChatLlamaSwap(model="qwen", base_url="http://127.0.0.1:18080/v1", api_key=SECRET)
    assert model.provider.base_url == "http://127.0.0.1:18080"
    assert model.provider.api_key == SECRET


def test_human_message_list_is_accepted(make: Callable[..., ChatLlamaSwap]) -> None:
    assert make().invoke([HumanMessage("hi")]).content == "hi"
