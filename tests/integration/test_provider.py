"""LlamaSwapProvider against the rig: every method, sync and async, on real swaps."""

from __future__ import annotations

import asyncio
import io
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from PIL import Image

from llamaswap import (
    AuthenticationError,
    Event,
    LlamaSwapConnectionError,
    LlamaSwapProvider,
    ModelLoadError,
    ModelState,
    ModelStatus,
    NotFoundError,
)
from llamaswap_rig.runner import Rig

CHAT, CHAT_B = "qwen", "qwen-b"


@pytest.fixture
def provider(rig: Rig) -> Iterator[LlamaSwapProvider]:
    with LlamaSwapProvider(rig.dsn) as p:
        yield p


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_list_models_shows_configured_models_with_extras(provider: LlamaSwapProvider) -> None:
    models = {m.id: m for m in provider.list_models()}
    assert {CHAT, CHAT_B, "embed", "sd", "fake-model"} <= set(models)
    assert "broken" not in models  # unlisted models stay hidden
    qwen = models[CHAT]
    assert qwen.type == "model"
    assert "coder" in qwen.aliases
    assert qwen.name
    assert qwen.context_length and qwen.context_length > 0
    assert qwen.state in (ModelState.LOADED, ModelState.STOPPED)
    assert qwen.raw_state in ("loaded", "unloaded")


async def test_alist_models_matches_sync(provider: LlamaSwapProvider) -> None:
    sync_ids = [m.id for m in provider.list_models()]
    assert [m.id for m in await provider.alist_models()] == sync_ids


def test_load_swaps_models_and_running_shows_it(provider: LlamaSwapProvider) -> None:
    provider.unload()
    assert provider.running() == []
    started = time.perf_counter()
    provider.load(CHAT)
    first = time.perf_counter() - started
    assert [(r.model, r.state) for r in provider.running()] == [(CHAT, "ready")]
    assert provider.get_model(CHAT).loaded

    started = time.perf_counter()
    provider.load(CHAT_B)  # a real swap: qwen is stopped, qwen-b started
    swap = time.perf_counter() - started
    assert [(r.model, r.state) for r in provider.running()] == [(CHAT_B, "ready")]
    assert not provider.get_model(CHAT).loaded
    print(f"cold load {first:.2f}s, swap {swap:.2f}s")


def test_load_by_alias(provider: LlamaSwapProvider) -> None:
    provider.load("coder")
    assert CHAT in [r.model for r in provider.running()]


async def test_aload_arunning_aunload(provider: LlamaSwapProvider) -> None:
    await provider.aunload()
    await provider.aload(CHAT_B)
    assert [r.model for r in await provider.arunning()] == [CHAT_B]
    await provider.aunload(CHAT_B)
    assert await provider.arunning() == []


def test_unload_one_then_all(provider: LlamaSwapProvider) -> None:
    provider.load(CHAT)
    provider.unload(CHAT)
    assert provider.running() == []
    provider.load("fake-model")
    provider.unload()
    assert provider.running() == []
    provider.unload(CHAT)  # unloading a stopped model is a no-op


def test_unknown_model_is_not_found_and_lists_ids(provider: LlamaSwapProvider) -> None:
    with pytest.raises(NotFoundError) as info:
        provider.load("no-such-model")
    assert info.value.model == "no-such-model"
    assert CHAT in info.value.available
    assert CHAT in str(info.value)


def test_broken_model_raises_model_load_error(provider: LlamaSwapProvider) -> None:
    with pytest.raises(ModelLoadError) as info:
        provider.load("broken")
    assert info.value.model == "broken"
    assert info.value.reason
    assert "broken" in str(info.value)


async def test_broken_model_async(provider: LlamaSwapProvider) -> None:
    with pytest.raises(ModelLoadError):
        await provider.aload("broken")


def test_events_show_starting_then_ready_during_a_swap(provider: LlamaSwapProvider) -> None:
    provider.unload()
    seen: list[str] = []
    connected = threading.Event()
    ready = threading.Event()

    def watch() -> None:
        with LlamaSwapProvider(provider.dsn) as watcher:
            for event in watcher.events():
                if isinstance(event, ModelStatus):
                    connected.set()
                    state = event.state_of(CHAT)
                    if state and (not seen or seen[-1] != state):
                        seen.append(state)
                    if state == "ready":
                        ready.set()
                        return

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    assert connected.wait(15), "no modelStatus snapshot on connect"
    provider.load(CHAT)
    assert ready.wait(30), f"never saw ready; states seen: {seen}"
    thread.join(5)
    assert seen[0] == "stopped"
    assert "starting" in seen
    assert seen.index("starting") < seen.index("ready")


async def test_aevents_snapshot_and_transition(provider: LlamaSwapProvider) -> None:
    await provider.aunload()
    states: list[str] = []
    types: list[str] = []

    async def watch() -> None:
        async for event in provider.aevents():
            assert isinstance(event, Event)
            types.append(event.type)
            if isinstance(event, ModelStatus):
                state = event.state_of("fake-model")
                if state:
                    states.append(state)
                if state == "ready":
                    return

    task = asyncio.create_task(watch())
    await asyncio.sleep(0.5)
    await provider.aload("fake-model")
    await asyncio.wait_for(task, 30)
    assert "modelStatus" in types and "logData" in types
    assert states[0] == "stopped" and states[-1] == "ready"


def test_generate_image_returns_png_bytes(provider: LlamaSwapProvider, tmp_path) -> None:
    result = provider.generate_image("a red fox", model="sd", size="64x48", n=2, seed=1)
    assert len(result) == 2
    for image in result:
        assert image.mime_type == "image/png"
        with Image.open(io.BytesIO(image.data)) as png:
            assert png.format == "PNG"
            assert png.size == (64, 48)
    assert result[0].data != result[1].data  # each image in a batch differs
    again = provider.generate_image("a red fox", model="sd", size="64x48", seed=1)
    assert again[0].data == result[0].data  # same prompt and seed, same picture
    other = provider.generate_image("a blue whale", model="sd", size="64x48", seed=1)
    assert other[0].data != result[0].data
    path = result[0].save(tmp_path / "fox.png")
    assert path.read_bytes() == result[0].data


async def test_agenerate_image(provider: LlamaSwapProvider) -> None:
    result = await provider.agenerate_image("a cat", model="sd", size="32x32")
    assert result[0].data.startswith(b"\x89PNG")
    assert result[0].to_data_url().startswith("data:image/png;base64,")


def test_health_and_version(provider: LlamaSwapProvider, rig: Rig) -> None:
    assert provider.health() is True
    info = provider.version()
    assert rig.binary is not None
    # the version the rig's banner reports is the one the provider reads from /api/version
    assert info.version == rig.binary.version.split(" ")[0]


async def test_ahealth_and_aversion(provider: LlamaSwapProvider) -> None:
    assert await provider.ahealth() is True
    assert (await provider.aversion()).version


def test_keyed_rig_refuses_without_key_and_accepts_with_it(keyed_rig: Rig) -> None:
    assert keyed_rig.api_key
    bare = LlamaSwapProvider(keyed_rig.base_url)
    with pytest.raises(AuthenticationError, match="no key was sent"):
        bare.list_models()
    wrong = LlamaSwapProvider(keyed_rig.base_url, api_key="sk-wrong")
    with pytest.raises(AuthenticationError, match="rejected") as info:
        wrong.running()
    assert "sk-wrong" not in str(info.value)
    keyed = LlamaSwapProvider(keyed_rig.dsn)
    assert "fake-model" in [m.id for m in keyed.list_models()]
    assert keyed.health() is True  # /health needs no key
    for p in (bare, wrong, keyed):
        p.close()


async def test_keyed_rig_async_and_events_need_the_key(keyed_rig: Rig) -> None:
    bare = LlamaSwapProvider(keyed_rig.base_url)
    with pytest.raises(AuthenticationError):
        await bare.alist_models()
    with pytest.raises(AuthenticationError):
        async for _ in bare.aevents():
            break
    keyed = LlamaSwapProvider(keyed_rig.dsn)
    async for event in keyed.aevents():
        assert isinstance(event, Event)
        break
    await bare.aclose()
    await keyed.aclose()


def test_closed_port_is_a_connection_error_quickly() -> None:
    port = closed_port()
    provider = LlamaSwapProvider(f"llama-swap://sk-secret-x@127.0.0.1:{port}")
    started = time.perf_counter()
    with pytest.raises(LlamaSwapConnectionError) as info:
        provider.list_models()
    assert time.perf_counter() - started < 5
    assert f"127.0.0.1:{port}" in str(info.value)
    assert "sk-secret-x" not in str(info.value)
    assert provider.health() is False


async def test_closed_port_async() -> None:
    provider = LlamaSwapProvider(f"llama-swap://127.0.0.1:{closed_port()}")
    with pytest.raises(LlamaSwapConnectionError):
        await provider.arunning()
    assert await provider.ahealth() is False
    await provider.aclose()
