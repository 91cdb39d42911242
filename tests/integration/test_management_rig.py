"""Profiles, props, metrics, hardware, cancel and capabilities through the real llama-swap.

One rig for the module runs ``qwen`` (llama.cpp), ``fake-model`` and ``sd`` with the rig's
two profiles and the performance monitor on (``management_extras=True``). The last test
runs on a plain rig against whatever binary ``LLAMASWAP_BIN`` names, and asserts
``UnsupportedFeatureError`` for every endpoint that binary's release predates.
"""

from __future__ import annotations

import asyncio
import os
import platform
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from llamaswap import (
    ENDPOINT_SINCE,
    APIError,
    IncompleteResponseError,
    InFlight,
    LlamaSwapError,
    LlamaSwapProvider,
    NotFoundError,
    UnsupportedFeatureError,
)
from llamaswap_rig.config import RIG_PROFILES
from llamaswap_rig.pytest_plugin import rig_unavailable
from llamaswap_rig.runner import Rig, RigError

CHAT = "qwen"
CHAT_CTX = 2048  # the rig's default --ctx-size for qwen


@pytest.fixture(scope="module")
def extras_rig() -> Iterator[Rig]:
    rig = Rig(
        name="mgmt-extras",
        models=(CHAT, "fake-model", "sd"),
        management_extras=True,
        verbose=False,
    )
    try:
        rig.start()
    except RigError as exc:
        rig_unavailable(str(exc))
    try:
        yield rig
    finally:
        rig.stop()


@pytest.fixture
def provider(extras_rig: Rig) -> Iterator[LlamaSwapProvider]:
    with LlamaSwapProvider(extras_rig.dsn) as p:
        try:
            yield p
        finally:
            p.set_profile(None)  # llama-swap keeps the active profile between tests


# -- profiles ---------------------------------------------------------------------------


def test_profiles_lists_the_configured_profiles_none_active(provider: LlamaSwapProvider) -> None:
    got = provider.profiles()
    assert got.active is None
    assert got.names == tuple(sorted(RIG_PROFILES))
    offline = got.get("offline")
    assert offline is not None and dict(offline.pins) == {"assistant": "fake-model"}
    assert offline.description == RIG_PROFILES["offline"]["description"]


def test_set_profile_routes_the_pinned_name_to_its_model(provider: LlamaSwapProvider) -> None:
    assert "assistant" not in {m.id for m in provider.list_models()}
    assert provider.set_profile("offline") == "offline"
    assert provider.profiles().active == "offline"
    listed = {m.id: m for m in provider.list_models()}
    assert listed["assistant"].type == "profile"
    answer = provider.http_client.post(
        f"{provider.base_url}/v1/chat/completions",
        json={"model": "assistant", "messages": [{"role": "user", "content": "hi"}]},
        headers=provider.auth_headers,
    )
    assert answer.status_code == 200, answer.text
    assert "fake-model" in {r.model for r in provider.running()}
    assert provider.set_profile(None) is None
    assert "assistant" not in {m.id for m in provider.list_models()}


def test_set_unknown_profile_lists_the_profiles(provider: LlamaSwapProvider) -> None:
    with pytest.raises(NotFoundError, match="no profile 'nope'") as caught:
        provider.set_profile("nope")
    assert caught.value.available == tuple(sorted(RIG_PROFILES))


async def test_async_profiles_round_trip(provider: LlamaSwapProvider) -> None:
    assert await provider.aset_profile("coding") == "coding"
    assert (await provider.aprofiles()).active == "coding"
    assert await provider.aset_profile(None) is None
    with pytest.raises(NotFoundError):
        await provider.aset_profile("nope")


# -- props --------------------------------------------------------------------------------


def test_props_reports_the_loaded_model_context_and_template(provider: LlamaSwapProvider) -> None:
    props = provider.props(CHAT)
    assert props.context_size == CHAT_CTX
    assert "<|im_start|>" in props.chat_template
    assert props.build_info and props.total_slots and props.total_slots >= 1
    assert props.modalities.get("vision") is False
    assert CHAT in {r.model for r in provider.running()}  # asking loaded it


async def test_aprops_by_alias_matches_sync(provider: LlamaSwapProvider) -> None:
    props = await provider.aprops("coder")
    assert (props.model, props.context_size) == ("coder", CHAT_CTX)


@pytest.mark.parametrize("model", ["fake-model", "sd"])
def test_props_of_a_server_without_props_is_not_found_on_that_model(
    provider: LlamaSwapProvider, model: str
) -> None:
    # llama-swap's Go fake-model answers Go's bare 404 too: it must not read as "too old".
    with pytest.raises(NotFoundError, match=f"'{model}' exists, but its server has no route"):
        provider.props(model)


def test_props_of_an_unknown_model_lists_the_models(provider: LlamaSwapProvider) -> None:
    with pytest.raises(NotFoundError) as caught:
        provider.props("nope")
    assert CHAT in caught.value.available


# -- metrics --------------------------------------------------------------------------------


def first_scrape(provider: LlamaSwapProvider) -> Any:
    """Scrape until the monitor's first sample is in (it samples every 5 s)."""
    event = threading.Event()
    for _ in range(120):
        metrics = provider.metrics()
        if metrics.samples:
            return metrics
        event.wait(0.5)
    raise AssertionError("llama-swap's /metrics stayed empty for 60 s")


def test_metrics_samples_the_host_gauges(provider: LlamaSwapProvider) -> None:
    metrics = first_scrape(provider)
    total = metrics.value("llamaswap_memory_total_bytes")
    used = metrics.value("llamaswap_memory_used_bytes")
    assert total and used and 0 < used <= total
    cores = metrics.get("llamaswap_cpu_util_percent")
    assert len(cores) == os.cpu_count()
    assert all(0 <= s.value <= 100.0001 for s in cores)
    assert metrics.types["llamaswap_load_average"] == "gauge"
    assert {s.labels["interval"] for s in metrics.get("llamaswap_load_average")} == {
        "1m",
        "5m",
        "15m",
    }


async def test_ametrics_matches_the_sync_names(provider: LlamaSwapProvider) -> None:
    names = first_scrape(provider).names
    assert (await provider.ametrics()).names == names


def test_metrics_with_the_monitor_off_is_a_503_naming_the_setting(rig: Rig) -> None:
    with LlamaSwapProvider(rig.dsn) as p, pytest.raises(APIError, match="performance") as caught:
        p.metrics()
    assert caught.value.status_code == 503


# -- hardware -------------------------------------------------------------------------------


def test_hardware_describes_this_host(provider: LlamaSwapProvider) -> None:
    hw = provider.hardware()
    assert hw.schema_version == 1
    assert hw.os_family == platform.system().lower()
    assert hw.architecture in (platform.machine(), {"amd64": "x86_64"}.get(platform.machine()))
    assert hw.logical_threads == os.cpu_count()
    assert hw.memory_bytes and hw.memory_bytes > 0


async def test_ahardware_matches_sync(provider: LlamaSwapProvider) -> None:
    assert (await provider.ahardware()).raw == provider.hardware().raw


# -- cancel ---------------------------------------------------------------------------------


@pytest.fixture
def slow_rig(rig_factory: Callable[..., Rig]) -> Rig:
    """fake-model at 5 tokens/s for 2,000 tokens: a stream that is in flight for minutes."""
    return rig_factory(models=("fake-model",), fast_tokens=2000, fast_tps=5)


def stream_chat(p: LlamaSwapProvider, outcome: dict[str, Any], flowing: threading.Event) -> None:
    """Stream a long chat answer; set ``flowing`` at its first line, record how it ended."""
    body = {"model": "fake-model", "stream": True, "messages": [{"role": "user", "content": "x"}]}
    outcome["error"] = None
    try:
        with p.http_client.stream(
            "POST", f"{p.base_url}/v1/chat/completions", json=body, headers=p.auth_headers
        ) as response:
            for _ in response.iter_lines():
                flowing.set()
    except (LlamaSwapError, httpx.HTTPError) as exc:
        outcome["error"] = exc
    finally:
        flowing.set()


def inflight_id(p: LlamaSwapProvider) -> str:
    """The id of the chat request in llama-swap's in-flight snapshot (sent on connect)."""
    for event in p.events(timeout=30):  # a release without in-flight events times out
        if isinstance(event, InFlight):
            for entry in event.requests:
                if entry.get("req_path") == "/v1/chat/completions":
                    return str(entry["id"])
    raise AssertionError("the event stream ended before the request was in flight")


def start_stream(p: LlamaSwapProvider) -> tuple[threading.Thread, dict[str, Any]]:
    """A streaming chat in a thread, returned once its answer has started to flow."""
    outcome: dict[str, Any] = {}
    flowing = threading.Event()
    streaming = threading.Thread(target=stream_chat, args=(p, outcome, flowing), daemon=True)
    streaming.start()
    assert flowing.wait(120), "the stream never started"
    assert outcome.get("error") is None and streaming.is_alive(), outcome
    return streaming, outcome


def test_cancel_cuts_off_a_streaming_request(slow_rig: Rig) -> None:
    with LlamaSwapProvider(slow_rig.dsn) as p:
        streaming, outcome = start_stream(p)
        ident = inflight_id(p)
        p.cancel(ident)
        streaming.join(timeout=120)
        assert not streaming.is_alive(), "the cancelled stream kept going"
        assert isinstance(outcome["error"], IncompleteResponseError), outcome
        with pytest.raises(NotFoundError, match=f"no in-flight request '{ident}'"):
            p.cancel(ident)


async def test_acancel_cuts_off_a_streaming_request(slow_rig: Rig) -> None:
    with LlamaSwapProvider(slow_rig.dsn) as p:
        streaming, outcome = await asyncio.to_thread(start_stream, p)
        ident = await asyncio.to_thread(inflight_id, p)
        await p.acancel(ident)
        await asyncio.to_thread(streaming.join, 120)
        assert not streaming.is_alive(), "the cancelled stream kept going"
        assert isinstance(outcome["error"], IncompleteResponseError), outcome
        with pytest.raises(NotFoundError):
            await p.acancel(ident)


# -- capabilities ---------------------------------------------------------------------------


def test_capabilities_come_from_the_listing_without_loading(provider: LlamaSwapProvider) -> None:
    provider.unload()
    models = {m.id: m for m in provider.list_models()}
    qwen = models[CHAT]
    assert qwen.has("function_calling") and qwen.supported_parameters == ("tools", "tool_choice")
    assert (qwen.input_modalities, qwen.output_modalities) == (("text",), ("text",))
    assert qwen.context_length == CHAT_CTX
    assert [m.id for m in provider.models_with("image_generation")] == ["sd"]
    assert [m.id for m in provider.models_with("function_calling")] == [CHAT]
    assert provider.running() == []  # nothing was loaded to answer


async def test_amodels_with_matches_sync(provider: LlamaSwapProvider) -> None:
    assert [m.id for m in await provider.amodels_with("image_generation")] == ["sd"]
    assert await provider.amodels_with("reranker") == []


# -- an older llama-swap ------------------------------------------------------------------------


def release_number(version: str) -> int | None:
    """``250``/``v250`` -> 250; ``v250-5-g0bdb37`` -> 250; ``main-0bdb372`` -> None (newest)."""
    head = version.removeprefix("v").split("-", 1)[0]
    return int(head) if head.isdigit() and head != "0" else None


def test_each_endpoint_is_served_or_named_unsupported_by_release(
    rig_factory: Callable[..., Rig],
) -> None:
    """Run under any LLAMASWAP_BIN: releases that predate an endpoint say so, others serve it."""
    plain = rig_factory(models=("fake-model",))
    with LlamaSwapProvider(plain.dsn) as p:
        release = release_number(p.version().version)
        # endpoint -> (call, what a release that has it answers: None = a result)
        calls: dict[str, tuple[Callable[[], Any], type[Exception] | None]] = {
            "GET /api/profiles": (p.profiles, None),
            "PUT /api/profiles/active": (lambda: p.set_profile(None), None),
            "GET /props": (lambda: p.props("fake-model"), NotFoundError),  # no /props upstream
            "GET /metrics": (p.metrics, APIError),  # the plain rig turns the monitor off
            "GET /api/hardware": (p.hardware, None),
            "POST /api/inflight/{id}/cancel": (lambda: p.cancel("999999"), NotFoundError),
        }
        for endpoint, (call, served) in calls.items():
            since = int(ENDPOINT_SINCE[endpoint].removeprefix("v"))
            if release is not None and release < since:
                with pytest.raises(UnsupportedFeatureError) as caught:
                    call()
                assert (caught.value.endpoint, caught.value.since) == (
                    endpoint,
                    ENDPOINT_SINCE[endpoint],
                ), endpoint
            elif served is None:
                call()
            else:
                with pytest.raises(served) as raised:
                    call()
                assert not isinstance(raised.value, UnsupportedFeatureError), endpoint


# -- the framework classes read the same capabilities ----------------------------------------


def test_chat_llamaswap_profile_comes_from_the_listing_without_loading(
    provider: LlamaSwapProvider, extras_rig: Rig
) -> None:
    from langchain_llamaswap import ChatLlamaSwap

    provider.unload()
    chat = ChatLlamaSwap(model=CHAT, dsn=extras_rig.dsn).profile
    image = ChatLlamaSwap(model="sd", dsn=extras_rig.dsn).profile
    assert chat is not None and image is not None
    assert (chat["max_input_tokens"], chat["tool_calling"], chat["tool_choice"]) == (
        CHAT_CTX,
        True,
        True,
    )
    assert (image["image_outputs"], image["text_outputs"], image["tool_calling"]) == (
        True,
        False,
        False,
    )
    assert provider.running() == []


def test_llamaswap_metadata_comes_from_the_capabilities_without_loading(
    provider: LlamaSwapProvider, extras_rig: Rig
) -> None:
    from llama_index_llamaswap import LlamaSwap

    provider.unload()
    chat = LlamaSwap(model=CHAT, dsn=extras_rig.dsn).metadata
    image = LlamaSwap(model="sd", dsn=extras_rig.dsn).metadata
    assert (chat.is_function_calling_model, chat.context_window) == (True, CHAT_CTX)
    assert image.is_function_calling_model is False
    assert provider.running() == []
