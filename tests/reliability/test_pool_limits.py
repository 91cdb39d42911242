"""The provider's pools under many long streams (issue 15: a web service's traffic).

120 streams are held open at once through one provider (more than httpx's default pool
of 100); while they are open, ``health()``, ``list_models()`` and a new chat request
must all get through. A pool that is too small makes a request wait for a free
connection: that wait is reported as a pool wait, never as a slow llama-swap, and
``health()`` never calls a healthy llama-swap down because of it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

from llamaswap import LlamaSwapProvider, PoolTimeoutError
from llamaswap_rig.runner import Rig

pytestmark = pytest.mark.integration

MODEL = "fake-model"
STREAMS = 120
HANG_BOUND = 120.0  # seconds; only a hang reaches it (nothing here is timed)


def make_rig(rig_factory: Callable[..., Rig]) -> Rig:
    # 400 tokens at 4/s: a stream lasts far longer than the test holds it.
    return rig_factory(
        models=(MODEL,), concurrency_limits={MODEL: 400}, fast_tokens=400, fast_tps=4.0
    )


async def test_120_open_streams_leave_room_for_health_models_and_a_new_request(
    rig_factory: Callable[..., Rig],
) -> None:
    rig = make_rig(rig_factory)
    provider = LlamaSwapProvider(rig.dsn)
    client = provider.async_openai_client()
    started = 0
    all_open = asyncio.Event()
    release = asyncio.Event()

    async def hold() -> None:
        nonlocal started
        stream = await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
        )
        async for _chunk in stream:
            started += 1
            if started == STREAMS:
                all_open.set()
            break
        await release.wait()
        await stream.close()

    holders = [asyncio.create_task(hold()) for _ in range(STREAMS)]
    try:
        await asyncio.wait_for(all_open.wait(), HANG_BOUND)
        assert await asyncio.wait_for(provider.ahealth(timeout=30), HANG_BOUND) is True
        models = await asyncio.wait_for(provider.alist_models(timeout=30), HANG_BOUND)
        assert MODEL in [m.id for m in models]
        extra = await asyncio.wait_for(
            client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
            ),
            HANG_BOUND,
        )
        first = await asyncio.wait_for(extra.__anext__(), HANG_BOUND)
        assert first.choices is not None
        await extra.close()
    finally:
        release.set()
        await asyncio.gather(*holders, return_exceptions=True)
        await provider.aclose()


def test_a_pool_wait_is_reported_as_one_and_health_still_answers(
    rig_factory: Callable[..., Rig],
) -> None:
    rig = make_rig(rig_factory)
    provider = LlamaSwapProvider(rig.dsn, max_connections=1)
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": True}
    with provider.http_client.stream(
        "POST", f"{provider.openai_base_url}/chat/completions", json=body
    ) as held:
        chunks = held.iter_raw()
        for _ in range(3):
            next(chunks)  # the stream is flowing: the pool's only connection is busy
        with pytest.raises(PoolTimeoutError, match="waited for a free connection") as info:
            provider.load(MODEL, timeout=httpx.Timeout(None, pool=0.2))
        assert "max_connections" in str(info.value)
        # Management calls have their own pool: the busy one does not make llama-swap "down".
        assert provider.health(timeout=30) is True
        assert MODEL in [m.id for m in provider.list_models(timeout=30)]
    provider.close()


def test_limits_default_to_the_openai_sdks_and_are_settable() -> None:
    default = LlamaSwapProvider("llama-swap://127.0.0.1:9")
    assert default.pool_settings.limits().max_connections == 1000
    assert default.pool_settings.limits().max_keepalive_connections == 100
    small = LlamaSwapProvider(
        "llama-swap://127.0.0.1:9", max_connections=5, max_keepalive_connections=2
    )
    assert small.pool_settings.limits() == httpx.Limits(
        max_connections=5, max_keepalive_connections=2
    )
    with pytest.raises(ValueError, match="max_connections must be a positive int"):
        LlamaSwapProvider("llama-swap://127.0.0.1:9", max_connections=0)


def test_a_pool_wait_through_the_openai_sdk_classes_is_reported_as_one(
    rig_factory: Callable[..., Rig],
) -> None:
    """ChatLlamaSwap and LlamaIndex LlamaSwap send through the SDK: the pool wait must
    still say it is one, not the SDK's "Connection error" that reads as llama-swap down."""
    import openai
    from langchain_core.exceptions import ModelTimeoutError
    from llama_index.core.base.llms.types import ChatMessage

    from langchain_llamaswap import ChatLlamaSwap
    from llama_index_llamaswap import LlamaSwap

    rig = make_rig(rig_factory)
    short_pool = httpx.Timeout(None, pool=0.2)
    chat = ChatLlamaSwap(model=MODEL, dsn=rig.dsn, max_connections=1, timeout=short_pool)
    llm = LlamaSwap(model=MODEL, dsn=rig.dsn, max_connections=1, timeout=0.2, context_window=512)
    assert llm.provider is chat.provider  # one pool of one connection
    held = chat.stream("hi")
    try:
        for _ in range(3):
            next(held)  # the stream is flowing: the pool's only connection is busy
        with pytest.raises(PoolTimeoutError, match="waited for a free connection") as lc_info:
            chat.invoke("hi")
        # Still the SDK's and LangChain's timeout classes, as every error of these classes.
        assert isinstance(lc_info.value, openai.APITimeoutError)
        assert isinstance(lc_info.value, ModelTimeoutError)
        with pytest.raises(PoolTimeoutError, match="waited for a free connection") as li_info:
            llm.chat([ChatMessage(role="user", content="hi")])
        assert isinstance(li_info.value, openai.APITimeoutError)
        assert chat.provider.health(timeout=30) is True
    finally:
        held.close()
        chat.provider.close()
