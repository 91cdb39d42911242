"""Memory: resident set size after 5,000 calls against after 500, ours and the peer.

Each client runs alone in a fresh interpreter (so one side's arenas and caches never count
against the other), makes ``first`` calls, collects garbage and reads its RSS, then carries on
to ``total`` calls and reads it again. A leak of even one small object per call shows as
growth that grows with the count; allocator noise is a few hundred KB either way.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# client name -> (peer name); the pairs the table compares
PAIRS: tuple[tuple[str, str], ...] = (
    ("provider.openai_client", "openai.OpenAI"),
    ("ChatLlamaSwap.invoke", "ChatOpenAI.invoke"),
    ("ChatLlamaSwap.ainvoke", "ChatOpenAI.ainvoke"),
    ("LlamaSwap.chat", "OpenAILike.chat"),
)
NOISE_BYTES = 2 * 1024 * 1024  # growth below this is allocator noise, not a leak
PROMPT = "Say something short."


def rss_bytes(status: Path = Path("/proc/self/status")) -> int:
    """This process's resident set size (``VmRSS``), in bytes."""
    for line in status.read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS line in {status}")


def growth_ok(ours_growth: int, peer_growth: int, noise: int = NOISE_BYTES) -> bool:
    """No growth beyond noise: ours grows less than ``noise`` more than the peer does."""
    return ours_growth <= max(peer_growth, 0) + noise


def _sync_call(client: str, base_url: str, dsn: str, model: str) -> Callable[[], object]:
    if client == "provider.openai_client":
        from llamaswap import LlamaSwapProvider

        oai = LlamaSwapProvider(dsn).openai_client()
        msgs: Any = [{"role": "user", "content": PROMPT}]
        return lambda: oai.chat.completions.create(model=model, messages=msgs)
    if client == "openai.OpenAI":
        import openai

        raw = openai.OpenAI(base_url=f"{base_url}/v1", api_key="x", max_retries=0)
        msgs = [{"role": "user", "content": PROMPT}]
        return lambda: raw.chat.completions.create(model=model, messages=msgs)
    if client.startswith("ChatLlamaSwap") or client.startswith("ChatOpenAI"):
        lc = _lc_model(client, base_url, dsn, model)
        return lambda: lc.invoke(PROMPT)
    from llama_index.core.base.llms.types import ChatMessage

    li = _li_model(client, base_url, dsn, model)
    messages = [ChatMessage(role="user", content=PROMPT)]
    return lambda: li.chat(messages)


def _lc_model(client: str, base_url: str, dsn: str, model: str) -> Any:
    if client.startswith("ChatLlamaSwap"):
        from langchain_llamaswap import ChatLlamaSwap

        return ChatLlamaSwap(model=model, dsn=dsn)
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        model=model,
        base_url=f"{base_url}/v1",
        api_key="x",  # type: ignore[arg-type]
        max_retries=0,
        stream_usage=True,
    )


def _li_model(client: str, base_url: str, dsn: str, model: str) -> Any:
    if client == "LlamaSwap.chat":
        from llama_index_llamaswap import LlamaSwap

        return LlamaSwap(model=model, dsn=dsn)
    from llama_index.llms.openai_like import OpenAILike  # type: ignore[import-untyped]

    return OpenAILike(
        model=model,
        api_base=f"{base_url}/v1",
        api_key="x",
        is_chat_model=True,
        context_window=4096,
        max_retries=0,
    )


def child(client: str, base_url: str, dsn: str, model: str, first: int, total: int) -> None:
    """Run in the fresh interpreter: print ``{"first": rss, "total": rss}`` as JSON."""
    samples: dict[str, int] = {}
    if client.endswith("ainvoke"):
        lc = _lc_model(client, base_url, dsn, model)

        async def run() -> None:
            for n in range(1, total + 1):
                await lc.ainvoke(PROMPT)
                if n in (first, total):
                    gc.collect()
                    samples["first" if n == first else "total"] = rss_bytes()

        asyncio.run(run())
    else:
        call = _sync_call(client, base_url, dsn, model)
        for n in range(1, total + 1):
            call()
            if n in (first, total):
                gc.collect()
                samples["first" if n == first else "total"] = rss_bytes()
    print(json.dumps(samples))


@dataclass
class Growth:
    """RSS of one client after ``first`` and after ``total`` calls."""

    client: str
    first: int
    total: int
    rss_first: int
    rss_total: int

    @property
    def growth(self) -> int:
        return self.rss_total - self.rss_first


def run_child(
    client: str, base_url: str, dsn: str, model: str, first: int, total: int, env: dict[str, str]
) -> Growth:
    code = (
        "from bench.memory import child; "
        f"child({client!r}, {base_url!r}, {dsn!r}, {model!r}, {first}, {total})"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=1800,
    ).stdout
    data = json.loads(out.strip().splitlines()[-1])
    return Growth(client, first, total, data["first"], data["total"])


def measure(
    base_url: str, dsn: str, model: str, repo: Path, *, first: int = 500, total: int = 5000
) -> list[tuple[Growth, Growth]]:
    """Every pair, ours beside the peer, each in its own process."""
    paths = [str(repo / "core"), str(repo)]
    if os.environ.get("PYTHONPATH"):
        paths.append(os.environ["PYTHONPATH"])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths))

    def one(client: str) -> Growth:
        return run_child(client, base_url, dsn, model, first, total, env)

    # RSS does not depend on what else runs: ours and its peer run side by side, which
    # halves the wall time on a 2-core machine without touching the numbers.
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [(pool.submit(one, ours), pool.submit(one, peer)) for ours, peer in PAIRS]
        return [(a.result(), b.result()) for a, b in futures]
