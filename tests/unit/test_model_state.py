"""One typed state for a model wherever llama-swap reports it, with its own word kept.

The bodies are what llama-swap v250 and main-0bdb372 send: ``/v1/models`` says
``loaded``/``unloaded`` (peers always ``unloaded``), ``/running`` says
``starting``/``ready``/``stopping``, ``modelStatus`` events say ``stopped``/``starting``/
``ready``/``stopping`` and ``""`` for a peer's model.
"""

from __future__ import annotations

import json

import httpx
import pytest

from llamaswap import (
    LlamaSwapProvider,
    ModelInfo,
    ModelState,
    ModelStatus,
    ModelStatusEntry,
    RunningModel,
)

MODELS = {
    "object": "list",
    "data": [
        {"id": "qwen", "object": "model", "status": {"value": "loaded"}},
        {"id": "embed", "object": "model", "status": {"value": "unloaded"}},
        {
            "id": "far/llama",
            "object": "model",
            "meta": {"llamaswap": {"type": "peer", "peerID": "far"}},
            "status": {"value": "unloaded"},
        },
        {"id": "odd", "object": "model", "status": {"value": "hibernating"}},
    ],
}
RUNNING = {"running": [{"model": "qwen", "state": "ready", "ttl": 0}]}
STATUS = [
    {"id": "embed", "state": "stopped"},
    {"id": "qwen", "state": "ready"},
    {"id": "far/llama", "state": "", "peerID": "far"},
]


def sse_status() -> str:
    envelope = {"type": "modelStatus", "data": json.dumps(STATUS)}
    return f"event:message\ndata:{json.dumps(envelope)}\n\n"


def swap(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/v1/models":
        return httpx.Response(200, json=MODELS)
    if request.url.path == "/running":
        return httpx.Response(200, json=RUNNING)
    return httpx.Response(200, text=sse_status(), headers={"content-type": "text/event-stream"})


@pytest.fixture
def provider() -> LlamaSwapProvider:
    return LlamaSwapProvider(
        "llama-swap://127.0.0.1:18080",
        http_client=httpx.Client(transport=httpx.MockTransport(swap)),
    )


def test_one_state_for_qwen_from_every_endpoint(provider: LlamaSwapProvider) -> None:
    listed = provider.get_model("qwen")
    (running,) = provider.running()
    status = next(e for e in provider.events() if isinstance(e, ModelStatus))
    assert listed.state is ModelState.LOADED and listed.state.loaded and listed.loaded
    assert running.state is ModelState.READY and running.state.loaded
    assert status.state_of("qwen") is ModelState.READY
    # llama-swap's own words stay available
    assert (listed.raw_state, running.raw_state) == ("loaded", "ready")
    assert status.models[1].raw_state == "ready"


def test_unloaded_and_stopped_are_one_state(provider: LlamaSwapProvider) -> None:
    listed = provider.get_model("embed")
    status = next(e for e in provider.events() if isinstance(e, ModelStatus))
    assert listed.state is ModelState.STOPPED is status.state_of("embed")
    assert (listed.raw_state, status.models[0].raw_state) == ("unloaded", "stopped")
    assert not listed.loaded


def test_a_peers_model_is_unknown_not_stopped(provider: LlamaSwapProvider) -> None:
    listed = provider.get_model("far/llama")
    status = next(e for e in provider.events() if isinstance(e, ModelStatus))
    assert listed.state is ModelState.UNKNOWN and listed.raw_state == "unloaded"
    assert status.state_of("far/llama") is ModelState.UNKNOWN
    assert not listed.loaded


def test_a_word_this_version_does_not_know_is_unknown_and_kept(
    provider: LlamaSwapProvider,
) -> None:
    listed = provider.get_model("odd")
    assert (listed.state, listed.raw_state) == (ModelState.UNKNOWN, "hibernating")


def test_the_state_compares_formats_and_hashes_as_its_word() -> None:
    assert ModelState.READY == "ready" and ModelState("ready") is ModelState.READY
    assert {"ready": "green"}[ModelState.READY] == "green"
    assert f"{ModelState.STOPPING:<9}|" == "stopping |" and str(ModelState.LOADED) == "loaded"
    assert json.dumps({"state": ModelState.STARTING}) == '{"state": "starting"}'
    assert [s for s in ModelState if s.loaded] == [
        ModelState.STARTING,
        ModelState.READY,
        ModelState.STOPPING,
        ModelState.LOADED,
    ]


def test_records_built_by_hand_take_a_word_or_a_state() -> None:
    assert ModelInfo(id="m", state="unloaded").state is ModelState.STOPPED  # type: ignore[arg-type]
    assert RunningModel(model="m", state="ready").raw_state == "ready"  # type: ignore[arg-type]
    entry = ModelStatusEntry(id="m", state=ModelState.STARTING)
    assert (entry.state, entry.raw_state) == (ModelState.STARTING, "starting")


def test_a_listed_record_equals_the_one_built_by_hand_field_for_field() -> None:
    # the listing parser skips ModelInfo.__init__ for speed: every field must still be set
    from dataclasses import fields

    from llamaswap.records import parse_models

    item = {
        "id": "qwen",
        "name": "Qwen",
        "description": "a model",
        "status": {"value": "loaded"},
        "aliases": ["q", 3],
        "context_length": 4096.0,
        "capabilities": {"tools": True},
        "architecture": {"input_modalities": ["text"]},
        "supported_parameters": ["tools", None],
        "meta": {"llamaswap": {"type": "model", "peerID": ""}},
    }
    (listed,) = parse_models({"data": [item]})
    by_hand = ModelInfo(
        id="qwen",
        name="Qwen",
        description="a model",
        type="model",
        state=ModelState.LOADED,
        aliases=("q",),
        context_length=4096,
        capabilities={"tools": True},
        meta={"llamaswap": {"type": "model", "peerID": ""}},
        raw=item,
        raw_state="loaded",
        architecture={"input_modalities": ["text"]},
        supported_parameters=("tools",),
    )
    assert sorted(vars(listed)) == sorted(f.name for f in fields(ModelInfo))
    assert listed == by_hand and listed.raw == item and listed.loaded
    with pytest.raises(AttributeError):
        listed.id = "other"  # type: ignore[misc]
