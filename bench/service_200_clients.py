"""A web service's load (issue 15): 200 concurrent streaming clients through one provider.

Each client streams ``ROUNDS`` answers in a row from the rig's ``fake-model`` (8 tokens at
20 tokens/s, so a stream takes ~0.4 s on an idle server); throughput and per-stream
latency p50/p99 are reported. Run it against this tree, or against an older tree's
``core`` for the before numbers::

    PYTHONPATH=rig .venv/bin/python -m bench.service_200_clients
    PYTHONPATH=rig:/path/to/old/core .venv/bin/python bench/service_200_clients.py
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from typing import Any

import llamaswap
from llamaswap import LlamaSwapProvider
from llamaswap_rig.runner import Rig

MODEL = "fake-model"
CLIENTS = 200
ROUNDS = 5


async def serve(dsn: str) -> tuple[float, list[float]]:
    provider = LlamaSwapProvider(dsn)
    client = provider.async_openai_client()
    latencies: list[float] = []

    async def one_client() -> None:
        for _ in range(ROUNDS):
            started = time.perf_counter()
            stream = await client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
            )
            async for _chunk in stream:
                pass
            latencies.append(time.perf_counter() - started)

    await one_stream(client)  # the model is loaded before the clock starts
    began = time.perf_counter()
    await asyncio.gather(*(one_client() for _ in range(CLIENTS)))
    elapsed = time.perf_counter() - began
    await provider.aclose()
    return elapsed, latencies


async def one_stream(client: Any) -> None:
    stream = await client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
    )
    async for _chunk in stream:
        pass


def main() -> None:
    with Rig(
        models=(MODEL,),
        concurrency_limits={MODEL: 1000},
        fast_tokens=8,
        fast_tps=20.0,
        verbose=False,
    ) as rig:
        elapsed, latencies = asyncio.run(serve(rig.dsn))
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    print(f"llamaswap from {llamaswap.__file__}", file=sys.stderr)
    print(
        f"{CLIENTS} clients x {ROUNDS} streams: {len(latencies)} streams in {elapsed:.1f} s, "
        f"{len(latencies) / elapsed:.1f} streams/s, p50 {statistics.median(latencies):.2f} s, "
        f"p99 {p99:.2f} s"
    )


if __name__ == "__main__":
    main()
