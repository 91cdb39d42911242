"""Faults against the rig: a model server dying, llama-swap restarting or down, 429s,
cancelled streams and sendLoadingState. Every fault ends in a typed error or a correct
answer, through the provider's OpenAI clients, ``ChatLlamaSwap`` and ``LlamaSwap``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import openai
import pytest
from langchain_core import exceptions as lc_exc
from langchain_core.messages import AIMessageChunk
from llama_index.core.llms import ChatMessage

from langchain_llamaswap import ChatLlamaSwap
from llama_index_llamaswap import LlamaSwap
from llamaswap import (
    IncompleteResponseError,
    InFlight,
    LlamaSwapConnectionError,
    LlamaSwapProvider,
    ModelLoadError,
    RateLimitError,
    RetryPolicy,
    UpstreamError,
)
from llamaswap_rig.runner import Rig

FAST = "faulty"  # the fault-injecting chat test upstream (fault hooks)
DIE_MIDSTREAM = "__die_midstream__"
DIE_NOW = "__die_now__"
KINDS = ("provider", "langchain", "llama_index")

RigFactory = Callable[..., Rig]


# -- helpers ----------------------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _chunk_text(chunk: Any) -> str:
    if isinstance(chunk, AIMessageChunk):
        return str(chunk.content)
    if hasattr(chunk, "delta"):  # LlamaIndex ChatResponse
        return str(chunk.delta or "")
    choices = getattr(chunk, "choices", None) or []
    return str((choices[0].delta.content or "") if choices else "")


def stream_sync(
    kind: str, dsn: str, prompt: str, *, model: str = FAST, max_retries: int = 0, **kw: Any
) -> Iterator[Any]:
    """Chunks of a streamed chat answer through one of the three front doors."""
    if kind == "provider":
        client = LlamaSwapProvider(dsn).openai_client(max_retries=max_retries)
        with client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": prompt}], stream=True, **kw
        ) as stream:
            yield from stream
    elif kind == "langchain":
        chat = ChatLlamaSwap(dsn=dsn, model=model, max_retries=max_retries, **kw)
        yield from chat.stream(prompt)
    else:
        llm = LlamaSwap(model=model, dsn=dsn, max_retries=max_retries, **kw)
        yield from llm.stream_chat([ChatMessage(role="user", content=prompt)])


async def stream_async(
    kind: str, dsn: str, prompt: str, *, model: str = FAST, max_retries: int = 0, **kw: Any
) -> AsyncIterator[Any]:
    if kind == "provider":
        client = LlamaSwapProvider(dsn).async_openai_client(max_retries=max_retries)
        stream = await client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": prompt}], stream=True, **kw
        )
        async with stream:
            async for chunk in stream:
                yield chunk
    elif kind == "langchain":
        chat = ChatLlamaSwap(dsn=dsn, model=model, max_retries=max_retries, **kw)
        chunks: Any = chat.astream(prompt)
        async with contextlib.aclosing(chunks):
            async for chunk in chunks:
                yield chunk
    else:
        llm = LlamaSwap(model=model, dsn=dsn, max_retries=max_retries, **kw)
        gen = await llm.astream_chat([ChatMessage(role="user", content=prompt)])
        async for chunk in gen:
            yield chunk


def ask_sync(kind: str, dsn: str, prompt: str, *, model: str = FAST, max_retries: int = 0) -> str:
    """One non-streamed chat answer."""
    if kind == "provider":
        client = LlamaSwapProvider(dsn).openai_client(max_retries=max_retries)
        reply = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": prompt}]
        )
        return reply.choices[0].message.content or ""
    if kind == "langchain":
        chat = ChatLlamaSwap(dsn=dsn, model=model, max_retries=max_retries)
        return str(chat.invoke(prompt).content)
    llm = LlamaSwap(model=model, dsn=dsn, max_retries=max_retries)
    return llm.chat([ChatMessage(role="user", content=prompt)]).message.content or ""


async def ask_async(
    kind: str, dsn: str, prompt: str, *, model: str = FAST, max_retries: int = 0
) -> str:
    if kind == "provider":
        client = LlamaSwapProvider(dsn).async_openai_client(max_retries=max_retries)
        reply = await client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": prompt}]
        )
        return reply.choices[0].message.content or ""
    if kind == "langchain":
        chat = ChatLlamaSwap(dsn=dsn, model=model, max_retries=max_retries)
        return str((await chat.ainvoke(prompt)).content)
    llm = LlamaSwap(model=model, dsn=dsn, max_retries=max_retries)
    reply = await llm.achat([ChatMessage(role="user", content=prompt)])
    return reply.message.content or ""


def inflight(dsn: str) -> int:
    """llama-swap's count of in-flight requests (the ``/api/events`` inflight snapshot)."""
    with LlamaSwapProvider(dsn) as p:
        events = p.events(timeout=10)
        try:
            for event in events:
                if isinstance(event, InFlight) and event.operation == "snapshot":
                    return len(event.requests)
        finally:
            events.close()  # type: ignore[attr-defined]
    raise AssertionError("no inflight snapshot on /api/events")


def logged_wait(message: str) -> float:
    """The wait a retry log line announces (``...; retry 1 of 2 in 0.25 s``)."""
    match = re.search(r" in (\d+\.\d+) s$", message)
    assert match, message
    return float(match.group(1))


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"{what} not reached within {timeout} s")


def crash_noticed(dsn: str, model: str = FAST) -> None:
    """Wait until llama-swap has seen the killed model server exit.

    Right after a crash llama-swap may still list the model as ready and answer the next
    request with a 502 (it cannot connect). The real v250 keeps a crashed upstream "ready"
    for about 10 s while a child of it holds its output pipe; the bound is only a backstop.
    """
    with LlamaSwapProvider(dsn) as p:
        wait_for(
            lambda: all(r.model != model or r.state != "ready" for r in p.running()),
            60,
            f"llama-swap noticing that {model} died",
        )


def pool_of(client: httpx.AsyncClient | httpx.Client) -> Any:
    """httpcore's connection pool under the provider's transport layers."""
    transport: Any = client._transport
    while not hasattr(transport, "_pool"):
        transport = transport._inner
    return transport._pool


def busy_connections(client: httpx.AsyncClient | httpx.Client) -> int:
    return sum(1 for c in pool_of(client).connections if not c.is_idle() and not c.is_closed())


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


# -- 1. the model server dies mid-stream -------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_midstream_death_raises_incomplete_sync(rig: Rig, kind: str) -> None:
    got: list[str] = []
    with pytest.raises(IncompleteResponseError, match="ended before it was complete") as info:
        for chunk in stream_sync(kind, rig.dsn, f"tell me {DIE_MIDSTREAM}"):
            got.append(_chunk_text(chunk))
    crash_noticed(rig.dsn)
    assert FAST in str(info.value)
    assert "".join(got).strip(), "some text arrived before the cut"


@pytest.mark.parametrize("kind", KINDS)
async def test_midstream_death_raises_incomplete_async(rig: Rig, kind: str) -> None:
    got: list[str] = []
    with pytest.raises(IncompleteResponseError, match="ended before it was complete"):
        async for chunk in stream_async(kind, rig.dsn, f"tell me {DIE_MIDSTREAM}"):
            got.append(_chunk_text(chunk))
    await asyncio.to_thread(crash_noticed, rig.dsn)
    assert "".join(got).strip()


def _llamacpp_pid(rig: Rig, model: str) -> int:
    port = rig.upstream_ports[model]
    for info in rig.upstream_processes().values():
        if f"--port {port}" in info.cmdline and "llamacpp" in info.cmdline:
            return info.pid
    raise AssertionError(f"no llama.cpp process for {model} on port {port}")


@pytest.mark.parametrize("kind", ["provider", "langchain"])
def test_real_llamacpp_killed_mid_answer_raises_incomplete(rig: Rig, kind: str) -> None:
    provider = LlamaSwapProvider(rig.dsn)
    provider.load("qwen")
    pid = _llamacpp_pid(rig, "qwen")
    got: list[str] = []
    prompt = "Count from 1 to 200, one number per line."
    with pytest.raises(IncompleteResponseError):
        for chunk in stream_sync(kind, rig.dsn, prompt, model="qwen", max_tokens=400):
            got.append(_chunk_text(chunk))
            if len(got) == 5:
                os.kill(pid, signal.SIGKILL)
    crash_noticed(rig.dsn, "qwen")
    assert 5 <= len(got) < 400


# -- 2. the model server dies before answering, or never starts -------------------------------


def _check_died(err: BaseException) -> None:
    assert isinstance(err, UpstreamError), repr(err)
    assert isinstance(err, openai.InternalServerError)
    assert err.status_code == 502
    assert FAST in str(err) and "closed the connection before answering" in str(err)


def _check_load_failed(err: BaseException) -> None:
    assert isinstance(err, ModelLoadError), repr(err)
    assert isinstance(err, openai.InternalServerError)
    assert err.model == "broken"
    assert err.reason and err.reason in str(err)
    assert "'broken'" in str(err)


@pytest.mark.parametrize("kind", KINDS)
def test_server_death_and_load_failure_are_typed_sync(rig: Rig, kind: str) -> None:
    with pytest.raises(UpstreamError) as died:
        ask_sync(kind, rig.dsn, f"now {DIE_NOW}")
    crash_noticed(rig.dsn)
    _check_died(died.value)
    with pytest.raises(ModelLoadError) as failed:
        ask_sync(kind, rig.dsn, "hello", model="broken")
    _check_load_failed(failed.value)
    if kind == "langchain":  # LangChain's own classification is kept
        assert isinstance(died.value, lc_exc.ModelAPIError)
        assert isinstance(failed.value, lc_exc.ModelAPIError)


@pytest.mark.parametrize("kind", KINDS)
async def test_server_death_and_load_failure_are_typed_async(rig: Rig, kind: str) -> None:
    with pytest.raises(UpstreamError) as died:
        await ask_async(kind, rig.dsn, f"now {DIE_NOW}")
    await asyncio.to_thread(crash_noticed, rig.dsn)
    _check_died(died.value)
    with pytest.raises(ModelLoadError) as failed:
        await ask_async(kind, rig.dsn, "hello", model="broken")
    _check_load_failed(failed.value)


def test_langchain_context_overflow_mapping_still_works(rig: Rig) -> None:
    """llama.cpp's 400 for a too-long prompt is LangChain's ContextOverflowError too."""
    chat = ChatLlamaSwap(dsn=rig.dsn, model="qwen-b", max_tokens=8)  # 1024-token context
    with pytest.raises(lc_exc.ContextOverflowError) as info:
        chat.invoke("lorem ipsum dolor " * 1200)
    err = info.value
    assert isinstance(err, openai.BadRequestError)
    assert "qwen-b" in str(err) and "context" in str(err)


# -- 3. llama-swap restarted, llama-swap down -------------------------------------------------


async def test_restart_between_requests_then_down(rig_factory: RigFactory) -> None:
    small = rig_factory(models=(FAST,))
    for kind in KINDS:
        assert ask_sync(kind, small.dsn, "hi")
        assert await ask_async(kind, small.dsn, "hi")
    provider = LlamaSwapProvider(small.dsn)
    assert provider.list_models()
    assert await provider.alist_models()

    small.restart()  # same port: every pooled keep-alive connection is now stale
    for kind in KINDS:
        assert ask_sync(kind, small.dsn, "hi again"), kind
        assert await ask_async(kind, small.dsn, "hi again"), kind
    assert provider.list_models()
    assert await provider.alist_models()

    small.stop()  # llama-swap down: a typed error (pytest-timeout bounds the wait)
    for kind in KINDS:
        with pytest.raises(LlamaSwapConnectionError, match="could not reach llama-swap"):
            ask_sync(kind, small.dsn, "anyone?")
        with pytest.raises(LlamaSwapConnectionError):
            await ask_async(kind, small.dsn, "anyone?")
    with pytest.raises(LlamaSwapConnectionError):
        provider.list_models()


@pytest.mark.parametrize("kind", KINDS)
def test_down_with_retries_backs_off_twice_then_raises(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    dsn = f"llama-swap://127.0.0.1:{closed_port()}"
    caplog.set_level(logging.INFO, logger="llamaswap")
    with pytest.raises(LlamaSwapConnectionError) as info:
        ask_sync(kind, dsn, "anyone?", max_retries=2)
    assert isinstance(info.value, openai.APIConnectionError)
    retries = [r.getMessage() for r in caplog.records if "connection refused" in r.getMessage()]
    assert len(retries) == 2
    assert sum(logged_wait(m) for m in retries) <= 1.0  # 0.25 s + 0.5 s of backoff


# -- 4. over concurrencyLimit -----------------------------------------------------------------


@pytest.fixture
def limited(rig_factory: RigFactory) -> Rig:
    """fake-model with concurrencyLimit 1 and answers that take ~1.5 s."""
    return rig_factory(models=(FAST,), concurrency_limits={FAST: 1}, fast_tps=20.0, fast_tokens=30)


@contextlib.contextmanager
def one_busy_request(rig: Rig) -> Iterator[threading.Thread]:
    """Hold fake-model's only slot with a streamed answer until the block ends."""
    started = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with httpx.stream(
                "POST",
                f"{rig.base_url}/v1/chat/completions",
                json={
                    "model": FAST,
                    "stream": True,
                    "messages": [{"role": "user", "content": "x"}],
                },
                timeout=30,
            ) as response:
                assert response.status_code == 200, response.status_code
                for _ in response.iter_lines():
                    started.set()
        except BaseException as exc:
            errors.append(exc)
            started.set()

    thread = threading.Thread(target=run)
    thread.start()
    assert started.wait(20), "the first request never started streaming"
    assert not errors, errors
    try:
        yield thread
    finally:
        thread.join(30)
        assert not errors, errors


@pytest.mark.parametrize("kind", KINDS)
async def test_over_concurrency_limit_is_rate_limit_error(limited: Rig, kind: str) -> None:
    with one_busy_request(limited):
        with pytest.raises(RateLimitError) as sync_err:
            ask_sync(kind, limited.dsn, "me too")
        with pytest.raises(RateLimitError) as async_err:
            await ask_async(kind, limited.dsn, "me too")
    for err in (sync_err.value, async_err.value):
        assert err.retry_after == 1
        assert isinstance(err, openai.RateLimitError)
        assert FAST in str(err) and "concurrency limit" in str(err)
        if kind == "langchain":
            assert isinstance(err, lc_exc.ModelRateLimitError)


@pytest.mark.parametrize("kind", KINDS)
async def test_opt_in_retry_waits_out_the_429(
    limited: Rig, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="llamaswap")
    with one_busy_request(limited):
        assert ask_sync(kind, limited.dsn, "patient", max_retries=6)
    with one_busy_request(limited):
        assert await ask_async(kind, limited.dsn, "patient", max_retries=6)
    retried = [r for r in caplog.records if "429 over concurrencyLimit" in r.getMessage()]
    assert len(retried) >= 2  # at least one wait per call


def test_retry_after_is_capped(limited: Rig, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="llamaswap")
    policy = RetryPolicy(max_retries=1, max_wait=0.1)
    client = LlamaSwapProvider(limited.dsn).openai_client(max_retries=policy)
    with one_busy_request(limited), pytest.raises(RateLimitError):
        client.chat.completions.create(model=FAST, messages=[{"role": "user", "content": "hurry"}])
    waits = [
        logged_wait(r.getMessage()) for r in caplog.records if "retry 1 of 1" in r.getMessage()
    ]
    assert waits == [0.1]  # Retry-After: 1 was capped to max_wait


def test_provider_retry_applies_to_openai_clients_riding_it(
    limited: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="llamaswap")
    provider = LlamaSwapProvider(limited.dsn, max_retries=6)
    assert provider.retry_policy.max_retries == 6
    sdk = openai.OpenAI(
        base_url=provider.openai_base_url,
        api_key="unused",
        http_client=provider.http_client,
        max_retries=0,
    )
    with one_busy_request(limited):
        reply = sdk.chat.completions.create(model=FAST, messages=[{"role": "user", "content": "x"}])
    assert reply.choices[0].message.content
    retried = [r for r in caplog.records if "429 over concurrencyLimit" in r.getMessage()]
    assert retried, "the answer came without a retry: the 429 was never met"


@pytest.mark.parametrize("kind", KINDS)
def test_never_retries_what_may_have_started_a_swap(
    rig: Rig, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="llamaswap")
    with pytest.raises(UpstreamError):  # 502: the model server died on the request
        ask_sync(kind, rig.dsn, f"now {DIE_NOW}", max_retries=3)
    crash_noticed(rig.dsn)
    with pytest.raises(ModelLoadError):  # 500: a load was attempted
        ask_sync(kind, rig.dsn, "hello", model="broken", max_retries=3)
    with pytest.raises(IncompleteResponseError):  # read cut off
        list(stream_sync(kind, rig.dsn, DIE_MIDSTREAM, max_retries=3))
    crash_noticed(rig.dsn)
    assert not [r for r in caplog.records if "retry" in r.getMessage()]


# -- 5. cancelling an async stream ------------------------------------------------------------


@pytest.fixture
def slow(rig_factory: RigFactory) -> Rig:
    """fake-model answering 400 words at 20 words/s (20 s per answer)."""
    return rig_factory(models=(FAST,), fast_tps=20.0, fast_tokens=400)


def _pool_for(kind: str, dsn: str) -> httpx.AsyncClient:
    if kind == "langchain":
        return ChatLlamaSwap(dsn=dsn, model=FAST).provider.async_http_client
    if kind == "llama_index":
        return LlamaSwap(model=FAST, dsn=dsn).provider.async_http_client
    from llamaswap import shared_provider

    return shared_provider(dsn).async_http_client


async def _raw_stream(kind: str, dsn: str) -> AsyncIterator[Any]:
    """The library's own stream object, unwrapped, as a user would iterate it."""
    if kind == "provider":
        from llamaswap import shared_provider

        client = shared_provider(dsn).async_openai_client()
        stream = await client.chat.completions.create(
            model=FAST, messages=[{"role": "user", "content": "long"}], stream=True
        )
        async for chunk in stream:
            yield chunk
    elif kind == "langchain":
        async for message in ChatLlamaSwap(dsn=dsn, model=FAST).astream("long"):
            yield message
    else:
        gen = await LlamaSwap(model=FAST, dsn=dsn).astream_chat(
            [ChatMessage(role="user", content="long")]
        )
        async for chunk in gen:
            yield chunk


async def _warm(kind: str, dsn: str) -> httpx.AsyncClient:
    """Load the model and open the pool, so the counts below start from a steady state."""
    client = _pool_for(kind, dsn)
    provider = LlamaSwapProvider(dsn, async_http_client=client)
    await provider.aload(FAST)
    await provider.alist_models()
    return client


async def _settled(dsn: str, client: httpx.AsyncClient) -> float:
    def quiet() -> bool:
        return inflight(dsn) == 0 and busy_connections(client) == 0

    return await asyncio.to_thread(wait_for, quiet, 15, "in-flight 0 and no busy connection")


@pytest.mark.parametrize("kind", KINDS)
async def test_cancelled_stream_task_closes_the_connection(slow: Rig, kind: str) -> None:
    client = await _warm(kind, slow.dsn)
    fds = open_fds()
    got = asyncio.Event()

    async def consume() -> None:
        async for _ in _raw_stream(kind, slow.dsn):
            got.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(got.wait(), 20)
    assert inflight(slow.dsn) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await _settled(slow.dsn, client)
    assert open_fds() <= fds + 1  # at most one idle keep-alive connection more


@pytest.mark.parametrize("kind", KINDS)
async def test_breaking_out_of_a_stream_closes_the_connection(slow: Rig, kind: str) -> None:
    client = await _warm(kind, slow.dsn)
    fds = open_fds()
    count = 0
    async for _ in _raw_stream(kind, slow.dsn):
        count += 1
        if count == 3:
            break
    assert inflight(slow.dsn) <= 1
    await _settled(slow.dsn, client)
    assert open_fds() <= fds + 1


# -- 6. sendLoadingState ----------------------------------------------------------------------


@pytest.fixture
def loading(rig_factory: RigFactory) -> Rig:
    """sendLoadingState on; fake-model takes 1 s to load; ``broken`` never starts."""
    return rig_factory(models=(FAST, "broken"), send_loading_state=True, fast_load=1.0)


def _split(kind: str, chunks: list[Any]) -> tuple[str, str]:
    """(load progress text, answer text) of a streamed answer; the reasoning must not hold it."""
    progress, answer = [], []
    for chunk in chunks:
        if kind == "langchain":
            assert "loading" not in chunk.additional_kwargs.get("reasoning_content", "")
            progress.append(chunk.additional_kwargs.get("llamaswap_loading", ""))
            answer.append(str(chunk.content))
        elif kind == "llama_index":
            assert "loading" not in (chunk.additional_kwargs.get("thinking_delta") or "")
            progress.append(chunk.additional_kwargs.get("llamaswap_loading") or "")
            answer.append(chunk.delta or "")
        else:
            delta = chunk.choices[0].delta if chunk.choices else None
            assert "loading" not in (getattr(delta, "reasoning_content", None) or "")
            progress.append(getattr(chunk, "llamaswap_loading", None) or "")
            answer.append((delta.content if delta else None) or "")
    return "".join(progress), "".join(answer)


@pytest.mark.parametrize("kind", KINDS)
async def test_loading_progress_is_neither_reasoning_nor_answer(loading: Rig, kind: str) -> None:
    provider = LlamaSwapProvider(loading.dsn)
    provider.unload()
    reasoning, answer = _split(kind, list(stream_sync(kind, loading.dsn, "hi")))
    assert f"llama-swap loading model: {FAST}" in reasoning
    assert answer.split() == [
        "Lorem",
        "ipsum",
        "dolor",
        "sit",
        "amet",
        "consectetur",
        "adipiscing",
        "elit",
    ]
    assert "━" not in answer and "loading" not in answer
    provider.unload()
    chunks = [c async for c in stream_async(kind, loading.dsn, "hi")]
    reasoning, answer = _split(kind, chunks)
    assert "llama-swap loading model" in reasoning
    assert answer.startswith("Lorem") and "━" not in answer
    if kind == "llama_index":
        final = chunks[-1].message
        assert "loading" not in (final.content or "")


@pytest.mark.parametrize("kind", KINDS)
async def test_load_failure_in_loading_stream_raises(loading: Rig, kind: str) -> None:
    with pytest.raises(ModelLoadError) as sync_err:
        list(stream_sync(kind, loading.dsn, "hi", model="broken"))
    with pytest.raises(ModelLoadError) as async_err:
        [c async for c in stream_async(kind, loading.dsn, "hi", model="broken")]
    for err in (sync_err.value, async_err.value):
        assert err.model == "broken" and "'broken'" in str(err)
        assert err.reason
