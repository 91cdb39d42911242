"""Load: 500 requests, 64 in flight, against a model whose ``concurrencyLimit`` is 48.

Each run goes against its own small rig (``fake-model`` only, 4 tokens paced at 8 tokens/s,
so a request holds a slot for about 500 ms and the 64 in flight overrun the limit of 48).
Every request must either answer correctly or raise a typed 429
(:class:`llamaswap.RateLimitError` with ``retry_after``); any other exception fails the
run, and ``asyncio.wait_for`` bounds it so a hang fails too.

What "back to the starting count" means, precisely (``B`` = this process's open fds before
the burst, ``S0`` = its sockets to llama-swap's port then, after one warm-up request):

1. after the burst, every connection left in the provider's httpx pool is idle, there are
   at most ``max_keepalive_connections`` of them (httpx closes the rest), and this process
   has exactly that many sockets to llama-swap (none outside the pool, none half-closed);
2. every fd opened since ``B`` is one of those pooled sockets: ``fds - S <= B - S0``;
3. after the pool is closed, no socket to llama-swap is left and ``fds <= B - S0``.

The fd checks are upper bounds because the suite shares this process: fds of earlier
tests (clients waiting for the garbage collector, finished rigs' pipes) may close during a
run, which lowers the count; a leak can only raise it.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from langchain_core.messages import AIMessage

from langchain_llamaswap import ChatLlamaSwap
from llamaswap import LlamaSwapProvider, RateLimitError
from llamaswap_rig.runner import Rig

pytestmark = pytest.mark.integration

MODEL = "fake-model"
TOTAL = 500
IN_FLIGHT = 64
LIMIT = 48
TOKENS = 4
TPS = 2.0  # 4 tokens at 2/s: each answer holds its slot ~2 s, so 64 in flight overrun 48
ANSWER = "Lorem ipsum dolor sit"
RUN_BOUND = 90.0  # seconds; a run takes a few seconds, so only a hang reaches this


def make_rig(rig_factory: Callable[..., Rig]) -> Rig:
    return rig_factory(
        models=(MODEL,),
        concurrency_limits={MODEL: LIMIT},
        fast_tokens=TOKENS,
        fast_tps=TPS,
    )


# -- measuring -----------------------------------------------------------------------------


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def sockets_to(port: int) -> Counter[str]:
    """This process's TCP sockets whose peer is ``127.0.0.1:port``, counted by state."""
    inodes: set[str] = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    states = {"01": "ESTABLISHED", "08": "CLOSE_WAIT", "06": "TIME_WAIT", "04": "FIN_WAIT1"}
    found: Counter[str] = Counter()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            remote_port = int(cols[2].rsplit(":", 1)[1], 16)
            if remote_port == port and cols[9] in inodes:
                found[states.get(cols[3], cols[3])] += 1
    return found


def pool_of(client: httpx.AsyncClient | httpx.Client) -> Any:
    """The httpcore connection pool under the provider's transport layers."""
    transport: Any = client._transport
    while not isinstance(transport, httpx.AsyncHTTPTransport | httpx.HTTPTransport):
        transport = transport._inner
    return transport._pool


@dataclass
class Snapshot:
    fds: int
    sockets: int
    pooled: int
    idle: int

    @classmethod
    def take(
        cls,
        port: int,
        client: httpx.AsyncClient | list[httpx.AsyncClient | httpx.Client] | None,
    ) -> Snapshot:
        clients = client if isinstance(client, list) else [client] if client else []
        conns = [c for each in clients for c in pool_of(each).connections]
        return cls(
            fds=open_fds(),
            sockets=sum(sockets_to(port).values()),
            pooled=len(conns),
            idle=sum(1 for c in conns if c.is_idle()),
        )


@dataclass
class Outcome:
    answered: int = 0
    limited: int = 0
    other: list[BaseException] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)
    peak_in_flight: int = 0
    seconds: float = 0.0


async def burst(call: Callable[[int], Awaitable[str | None]]) -> Outcome:
    """Run ``TOTAL`` calls, ``IN_FLIGHT`` at a time; ``call`` returns the answer text
    (checked against ``ANSWER``) or ``None`` for calls whose result it checked itself."""
    out = Outcome()
    gate = asyncio.Semaphore(IN_FLIGHT)
    in_flight = 0

    async def one(i: int) -> None:
        nonlocal in_flight
        async with gate:
            in_flight += 1
            out.peak_in_flight = max(out.peak_in_flight, in_flight)
            try:
                text = await call(i)
            except RateLimitError as exc:
                out.limited += 1
                out.kinds[type(exc).__module__ + "." + type(exc).__qualname__] += 1
                if exc.status_code != 429 or exc.retry_after is None:
                    out.other.append(exc)
            except Exception as exc:  # anything but a typed 429 fails the run
                out.other.append(exc)
            else:
                out.answered += 1
                if text is not None and text.strip() != ANSWER:
                    out.wrong.append(text)
            finally:
                in_flight -= 1

    started = time.monotonic()
    await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(TOTAL))), RUN_BOUND)
    out.seconds = time.monotonic() - started
    return out


def check_outcome(label: str, out: Outcome) -> None:
    print(
        f"\n[load:{label}] {TOTAL} requests, {IN_FLIGHT} in flight (peak {out.peak_in_flight}), "
        f"limit {LIMIT}: answered {out.answered}, 429 {out.limited} {dict(out.kinds)}, "
        f"other {len(out.other)}, wall {out.seconds:.2f} s"
    )
    assert not out.other, f"{len(out.other)} untyped/unexpected errors, first: {out.other[:3]!r}"
    assert not out.wrong, f"{len(out.wrong)} wrong answers, first: {out.wrong[:3]!r}"
    assert out.answered + out.limited == TOTAL
    assert out.answered > 0
    assert out.limited > 0, "64 in flight never overran concurrencyLimit 48"
    assert out.peak_in_flight == IN_FLIGHT


def check_back(label: str, port: int, before: Snapshot, after: Snapshot, pool: Any) -> None:
    keepalive = int(pool._max_keepalive_connections)
    print(
        f"[load:{label}] fds {before.fds} -> {after.fds}; sockets to llama-swap "
        f"{before.sockets} -> {after.sockets} {dict(sockets_to(port))}; pooled "
        f"{before.pooled} -> {after.pooled} (idle {after.idle}, keep-alive cap {keepalive})"
    )
    assert after.pooled == after.idle, "a pooled connection is still busy after the burst"
    assert after.pooled <= keepalive
    assert after.sockets == after.pooled, "a socket to llama-swap lives outside the pool"
    assert after.fds - after.sockets <= before.fds - before.sockets, "an fd leaked"


def check_closed(label: str, port: int, before: Snapshot) -> None:
    fds, left = open_fds(), sockets_to(port)
    print(f"[load:{label}] pool closed: fds {fds} (start {before.fds - before.sockets}), {left}")
    assert sum(left.values()) == 0
    assert fds <= before.fds - before.sockets, "an fd outlived the closed pool"


# -- the runs -----------------------------------------------------------------------------


async def test_provider_500_requests_64_in_flight(rig_factory: Callable[..., Rig]) -> None:
    """The provider's own calls and an OpenAI SDK client riding its pool, mixed."""
    rig = make_rig(rig_factory)
    provider = LlamaSwapProvider(rig.dsn)
    client = provider.async_openai_client()
    messages: list[Any] = [{"role": "user", "content": "hello"}]
    try:
        await provider.aload(MODEL)  # warm up: model ready, one pooled connection
        # Management calls (arunning) have a small pool of their own: count both pools.
        pools = [provider.async_http_client, provider._async_management_client()]
        before = Snapshot.take(rig.port, pools)

        async def call(i: int) -> str | None:
            if i % 10 == 0:  # management: never goes to the model, never limited
                running = await provider.arunning()
                assert [(m.model, m.state) for m in running] == [(MODEL, "ready")]
                return None
            if i % 10 == 5:  # load goes through /upstream/<id>/: counts against the limit
                await provider.aload(MODEL)
                return None
            if i % 3 == 0:
                stream = await client.chat.completions.create(
                    model=MODEL, messages=messages, stream=True
                )
                parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
                return "".join(parts)
            reply = await client.chat.completions.create(model=MODEL, messages=messages)
            return reply.choices[0].message.content

        out = await burst(call)
        check_outcome("provider", out)
        after = Snapshot.take(rig.port, pools)
        check_back("provider", rig.port, before, after, pool_of(provider.async_http_client))
        running = await provider.arunning()
        assert [(m.model, m.state) for m in running] == [(MODEL, "ready")]
    finally:
        await client.close()
        await provider.aclose()
    check_closed("provider", rig.port, before)


async def test_langchain_500_requests_64_in_flight(rig_factory: Callable[..., Rig]) -> None:
    """``ChatLlamaSwap.ainvoke`` and ``astream`` on the shared provider's pool."""
    rig = make_rig(rig_factory)
    chat = ChatLlamaSwap(dsn=rig.dsn, model=MODEL)
    provider = chat.provider
    try:
        await provider.aload(MODEL)
        await chat.ainvoke("warm up")
        # Building ChatLlamaSwap read its profile from /v1/models (sync, on the small
        # management pool): count that pool too.
        pools = [provider.async_http_client, provider._management_client()]
        before = Snapshot.take(rig.port, pools)

        async def call(i: int) -> str | None:
            if i % 3 == 0:
                text = ""
                async for chunk in chat.astream("hello"):
                    assert isinstance(chunk.content, str)
                    text += chunk.content
                return text
            reply = await chat.ainvoke("hello")
            assert isinstance(reply, AIMessage)
            assert isinstance(reply.content, str)
            return reply.content

        out = await burst(call)
        check_outcome("langchain", out)
        after = Snapshot.take(rig.port, pools)
        check_back("langchain", rig.port, before, after, pool_of(provider.async_http_client))
    finally:
        await provider.aclose()
    check_closed("langchain", rig.port, before)
