"""The comparisons: each pits one of our calls against its nearest peer on the same server.

Every case builds both sides once (clients, models, pools), then hands two zero-argument
callables to the harness. Both sides send the same request to the same model, so the
difference is client-side work: our wrappers, the provider's pool, the stream guard.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import openai
from langchain_core.messages import BaseMessage, HumanMessage
from langchain_openai import ChatOpenAI
from llama_index.core.base.llms.types import ChatMessage
from llama_index.llms.openai_like import OpenAILike  # type: ignore[import-untyped]
from openai.types.chat import ChatCompletionMessageParam

from bench.harness import AA_NAME, Result, acompare, compare, pair, rotate, run_async
from bench.streaming import compare_stream
from langchain_llamaswap import ChatLlamaSwap
from llama_index_llamaswap import LlamaSwap
from llamaswap import LlamaSwapProvider

PEER_KEY = "x"  # the rig runs without apiKeys; llama-swap ignores any bearer
BIG_PROMPT_BYTES = 256 * 1024


@dataclass(frozen=True)
class Env:
    """Where the rig listens and how hard to measure."""

    base_url: str  # http://127.0.0.1:PORT
    dsn: str
    chat_model: str = "fake-model"
    long_model: str = "fake-long"  # 512 words per answer, for per-chunk costs
    image_model: str = "sd"
    rounds: int = 30
    batch_seconds: float = 0.12
    warmup: int = 20
    concurrency_rounds: int = 16  # round_order balances who goes first over every 4 rounds
    concurrency_levels: tuple[int, ...] = (1, 16, 64, 256)
    import_rounds: int = 18  # at 6 the framework pairs moved by ~0.05 between runs
    memory_first: int = 500
    memory_total: int = 5000
    upstream_url: str | None = None  # fake-model's own port, for the proxy floor
    stream_rounds: int = 15

    @property
    def openai_base(self) -> str:
        return f"{self.base_url}/v1"

    def timing(self) -> dict[str, Any]:
        return {"rounds": self.rounds, "batch_seconds": self.batch_seconds, "warmup": self.warmup}


PROMPT = "Say something short."
LC_MESSAGES: list[BaseMessage] = [HumanMessage(PROMPT)]
OAI_MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": PROMPT}]


def _chat_peer(env: Env, model: str | None = None) -> ChatOpenAI:
    # stream_usage=True because ChatLlamaSwap defaults to it: same bytes on the wire.
    return ChatOpenAI(
        model=model or env.chat_model,
        base_url=env.openai_base,
        api_key=PEER_KEY,  # type: ignore[arg-type]
        max_retries=0,
        stream_usage=True,
    )


def _chat_ours(env: Env, model: str | None = None) -> ChatLlamaSwap:
    return ChatLlamaSwap(model=model or env.chat_model, dsn=env.dsn)


# ------------------------------------------------------------------ management API


def list_models_sync(env: Env) -> Result:
    provider = LlamaSwapProvider(env.dsn)
    raw = httpx.Client()
    url = f"{env.base_url}/v1/models"
    try:
        return compare(
            "list_models",
            provider.list_models,
            lambda: raw.get(url).json(),
            labels=("LlamaSwapProvider.list_models()", "httpx.Client.get + .json()"),
            **env.timing(),
        )
    finally:
        provider.close()
        raw.close()


def list_models_async(env: Env) -> Result:
    async def run() -> Result:
        provider = LlamaSwapProvider(env.dsn)
        url = f"{env.base_url}/v1/models"
        async with httpx.AsyncClient() as raw:

            async def peer() -> object:
                return (await raw.get(url)).json()

            try:
                return await acompare(
                    "alist_models",
                    provider.alist_models,
                    peer,
                    labels=("LlamaSwapProvider.alist_models()", "httpx.AsyncClient.get + .json()"),
                    **env.timing(),
                )
            finally:
                await provider.aclose()

    return run_async(run())


def running_sync(env: Env) -> Result:
    provider = LlamaSwapProvider(env.dsn)
    raw = httpx.Client()
    url = f"{env.base_url}/running"
    try:
        return compare(
            "running",
            provider.running,
            lambda: raw.get(url).json(),
            labels=("LlamaSwapProvider.running()", "httpx.Client.get + .json()"),
            **env.timing(),
        )
    finally:
        provider.close()
        raw.close()


def image_sync(env: Env) -> Result:
    provider = LlamaSwapProvider(env.dsn)
    raw = httpx.Client()
    url = f"{env.base_url}/v1/images/generations"
    body = {
        "model": env.image_model,
        "prompt": "a red square",
        "n": 1,
        "size": "64x64",
        "response_format": "b64_json",
    }

    def ours() -> bytes:
        return (
            provider.generate_image("a red square", model=env.image_model, size="64x64", n=1)
            .images[0]
            .data
        )

    def peer() -> bytes:
        return base64.b64decode(raw.post(url, json=body).json()["data"][0]["b64_json"])

    try:
        return compare(
            "generate_image",
            ours,
            peer,
            labels=("LlamaSwapProvider.generate_image(n=1, 64x64)", "httpx POST + b64decode"),
            **env.timing(),
        )
    finally:
        provider.close()
        raw.close()


# ------------------------------------------------------------------ LangChain


def lc_invoke(env: Env) -> Result:
    ours, peer = _chat_ours(env), _chat_peer(env)
    return compare(
        "langchain invoke",
        lambda: ours.invoke(LC_MESSAGES),
        lambda: peer.invoke(LC_MESSAGES),
        labels=("ChatLlamaSwap.invoke", "ChatOpenAI.invoke"),
        **env.timing(),
    )


def aa_invoke(env: Env) -> Result:
    """The same client on both sides: how far from 1.00 this run's noise alone puts a ratio."""
    first, second = _chat_peer(env), _chat_peer(env)
    return compare(
        AA_NAME,
        lambda: first.invoke(LC_MESSAGES),
        lambda: second.invoke(LC_MESSAGES),
        labels=("ChatOpenAI.invoke", "ChatOpenAI.invoke (a second instance)"),
        note="no difference exists: the run's resolution, not a target",
        **env.timing(),
    )


def _big_prompt(size: int) -> str:
    """About ``size`` bytes of RAG-like context: numbered passages with quotes and newlines."""
    words = ("swap", "model", "proxy", "llama", "server", "context", "token", "answer")
    parts: list[str] = []
    total = 0
    n = 0
    while total < size:
        line = f'[{n}] "{words[n % 8]}" passage {n}: ' + " ".join(
            words[(n + i) % 8] for i in range(12)
        )
        parts.append(line)
        total += len(line) + 1
        n += 1
    return "Answer from the context below.\n" + "\n".join(parts)


def lc_invoke_big(env: Env) -> Result:
    ours, peer = _chat_ours(env), _chat_peer(env)
    messages: list[BaseMessage] = [HumanMessage(_big_prompt(BIG_PROMPT_BYTES))]
    return compare(
        "langchain invoke 256 KB prompt",
        lambda: ours.invoke(messages),
        lambda: peer.invoke(messages),
        labels=("ChatLlamaSwap.invoke", "ChatOpenAI.invoke"),
        note="client-side costs that grow with the request body",
        **env.timing(),
    )


def lc_stream(env: Env) -> Result:
    return _lc_stream(env, env.chat_model, "langchain stream")


def lc_stream_long(env: Env) -> Result:
    return _lc_stream(env, env.long_model, "langchain stream 512 chunks")


def _lc_stream(env: Env, model: str, name: str) -> Result:
    ours, peer = _chat_ours(env, model), _chat_peer(env, model)

    def drain(model: ChatOpenAI | ChatLlamaSwap) -> Callable[[], int]:
        def run() -> int:
            return sum(1 for _ in model.stream(LC_MESSAGES))

        return run

    return compare(
        name,
        drain(ours),
        drain(peer),
        labels=("ChatLlamaSwap.stream (drained)", "ChatOpenAI.stream (drained)"),
        unit="full answer",
        **env.timing(),
    )


def lc_ainvoke(env: Env) -> Result:
    async def run() -> Result:
        ours, peer = _chat_ours(env), _chat_peer(env)

        async def a() -> object:
            return await ours.ainvoke(LC_MESSAGES)

        async def b() -> object:
            return await peer.ainvoke(LC_MESSAGES)

        return await acompare(
            "langchain ainvoke",
            a,
            b,
            labels=("ChatLlamaSwap.ainvoke", "ChatOpenAI.ainvoke"),
            **env.timing(),
        )

    return run_async(run())


# ------------------------------------------------------------------ LlamaIndex


def li_chat(env: Env) -> Result:
    ours, peer = _li_pair(env, env.chat_model)
    messages = [ChatMessage(role="user", content=PROMPT)]
    return compare(
        "llamaindex chat",
        lambda: ours.chat(messages),
        lambda: peer.chat(messages),
        labels=("LlamaSwap.chat", "OpenAILike.chat"),
        **env.timing(),
    )


def _li_pair(env: Env, model: str) -> tuple[LlamaSwap, OpenAILike]:
    ours = LlamaSwap(model=model, dsn=env.dsn)
    peer = OpenAILike(
        model=model,
        api_base=env.openai_base,
        api_key=PEER_KEY,
        is_chat_model=True,
        context_window=4096,
        max_retries=0,
    )
    return ours, peer


def li_stream(env: Env) -> Result:
    return _li_stream(env, env.chat_model, "llamaindex stream")


def li_stream_long(env: Env) -> Result:
    return _li_stream(env, env.long_model, "llamaindex stream 512 chunks")


def _li_stream(env: Env, model: str, name: str) -> Result:
    ours, peer = _li_pair(env, model)
    messages = [ChatMessage(role="user", content=PROMPT)]

    def drain(llm: OpenAILike) -> Callable[[], int]:
        def run() -> int:
            return sum(1 for _ in llm.stream_chat(messages))

        return run

    return compare(
        name,
        drain(ours),
        drain(peer),
        labels=("LlamaSwap.stream_chat (drained)", "OpenAILike.stream_chat (drained)"),
        unit="full answer",
        **env.timing(),
    )


# ------------------------------------------------------------------ first and last token


def lc_ttft(env: Env) -> list[Result]:
    ours, peer = _chat_ours(env, env.long_model), _chat_peer(env, env.long_model)

    def texts(model: ChatOpenAI | ChatLlamaSwap) -> Callable[[], Iterator[str]]:
        def run() -> Iterator[str]:
            for chunk in model.stream(LC_MESSAGES):
                yield chunk.text

        return run

    return compare_stream(
        "langchain 512-chunk stream",
        texts(ours),
        texts(peer),
        labels=("ChatLlamaSwap.stream", "ChatOpenAI.stream"),
        rounds=env.stream_rounds,
    )


def li_ttft(env: Env) -> list[Result]:
    ours, peer = _li_pair(env, env.long_model)
    messages = [ChatMessage(role="user", content=PROMPT)]

    def texts(llm: OpenAILike) -> Callable[[], Iterator[str]]:
        def run() -> Iterator[str]:
            for response in llm.stream_chat(messages):
                yield response.delta or ""

        return run

    return compare_stream(
        "llamaindex 512-chunk stream",
        texts(ours),
        texts(peer),
        labels=("LlamaSwap.stream_chat", "OpenAILike.stream_chat"),
        rounds=env.stream_rounds,
    )


# ------------------------------------------------------------------ the proxy's own cost


FLOOR_DIRECT = "httpx POST to the upstream's port"
FLOOR_PROXIED = "httpx POST through llama-swap"
FLOOR_OURS = "ChatLlamaSwap.invoke"
FLOOR_PEER = "ChatOpenAI.invoke"


def proxy_floor(env: Env) -> list[Result]:
    """The same chat request straight to the upstream, through llama-swap, through clients."""
    if env.upstream_url is None:
        raise RuntimeError("the proxy floor needs the upstream's own port (not known with --dsn)")
    raw = httpx.Client()
    body = {"model": env.chat_model, "messages": OAI_MESSAGES}
    direct_url = f"{env.upstream_url}/v1/chat/completions"
    proxied_url = f"{env.openai_base}/chat/completions"
    ours, peer = _chat_ours(env), _chat_peer(env)
    try:
        samples = rotate(
            {
                FLOOR_DIRECT: lambda: raw.post(direct_url, json=body).json(),
                FLOOR_PROXIED: lambda: raw.post(proxied_url, json=body).json(),
                FLOOR_OURS: lambda: ours.invoke(LC_MESSAGES),
                FLOOR_PEER: lambda: peer.invoke(LC_MESSAGES),
            },
            **env.timing(),
        )
    finally:
        raw.close()
    return [
        pair(
            "floor: llama-swap vs upstream direct",
            samples,
            FLOOR_PROXIED,
            FLOOR_DIRECT,
            note="the proxy's own share of a call",
        ),
        pair(
            "floor: ChatLlamaSwap vs httpx, both via llama-swap",
            samples,
            FLOOR_OURS,
            FLOOR_PROXIED,
            note="the client's share of a call",
        ),
        pair(
            "floor: ChatOpenAI vs httpx, both via llama-swap",
            samples,
            FLOOR_PEER,
            FLOOR_PROXIED,
            note="the peer client's share of a call",
        ),
    ]


# ------------------------------------------------------------------ OpenAI SDK / stream guard


def openai_stream_guard(env: Env) -> Result:
    return _openai_stream(env, env.chat_model, "openai stream (guard)")


def openai_stream_guard_long(env: Env) -> Result:
    return _openai_stream(env, env.long_model, "openai stream 512 chunks (guard)")


def _openai_stream(env: Env, model: str, name: str) -> Result:
    provider = LlamaSwapProvider(env.dsn)
    ours = openai.OpenAI(
        base_url=provider.openai_base_url,
        api_key=PEER_KEY,
        http_client=provider.http_client,
        max_retries=0,
    )
    peer = openai.OpenAI(base_url=env.openai_base, api_key=PEER_KEY, max_retries=0)

    def drain(client: openai.OpenAI) -> Callable[[], int]:
        def run() -> int:
            stream = client.chat.completions.create(model=model, messages=OAI_MESSAGES, stream=True)
            with stream:
                return sum(1 for _ in stream)

        return run

    try:
        return compare(
            name,
            drain(ours),
            drain(peer),
            labels=("openai.OpenAI on provider.http_client", "openai.OpenAI (own client)"),
            unit="full answer",
            note="ours passes the stream guard transport",
            **env.timing(),
        )
    finally:
        ours.close()
        peer.close()
        provider.close()


CASES: dict[str, Callable[[Env], Result | list[Result]]] = {
    "list_models": list_models_sync,
    "alist_models": list_models_async,
    "running": running_sync,
    "aa_invoke": aa_invoke,
    "lc_invoke": lc_invoke,
    "lc_invoke_big": lc_invoke_big,
    "lc_stream": lc_stream,
    "lc_stream_long": lc_stream_long,
    "lc_ainvoke": lc_ainvoke,
    "li_chat": li_chat,
    "li_stream": li_stream,
    "li_stream_long": li_stream_long,
    "lc_ttft": lc_ttft,
    "li_ttft": li_ttft,
    "proxy_floor": proxy_floor,
    "openai_stream_guard": openai_stream_guard,
    "openai_stream_guard_long": openai_stream_guard_long,
    "generate_image": image_sync,
}
