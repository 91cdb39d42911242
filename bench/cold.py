"""``make bench-cold``: every entry point, with default settings, against a 150 s cold swap.

A local model can take minutes to load, and llama-swap holds the first request until the
upstream is healthy. No client-side timeout of this package may kill that wait by default.
This run gives each entry point its own model whose upstream becomes healthy only after
``LOAD_SECONDS`` (llama-swap's ``healthCheckTimeout`` raised above it, in this run's config
only) and starts them all at once, so the whole run takes one cold load. Plain ``ChatOpenAI``
(``astream``) and ``OpenAILike`` with their own defaults are recorded beside them, whatever
they do. Chat models are llama-swap's ``cmd/fake-model`` with ``-load`` (``/health`` answers
503 while loading) or the stdlib stand-in's ``--load``; the image models are the image test
upstream started after a sleep (``/health`` refuses connections while loading).
"""

from __future__ import annotations

import asyncio
import copy
import json
import shlex
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from unittest import mock

from llamaswap_rig import config as rigconfig
from llamaswap_rig.paths import REPO_ROOT, UPSTREAMS_DIR
from llamaswap_rig.runner import Rig, free_port_block

LOAD_SECONDS = 150
HEALTH_CHECK_TIMEOUT = 300
PROMPT = "Say something short."
COLD_MD = REPO_ROOT / "bench" / "RESULTS-cold.md"

# entry point -> (whose, what kind of model it needs)
ENTRY_POINTS: dict[str, tuple[str, str]] = {
    "LlamaSwapProvider.load": ("ours", "chat"),
    "ChatLlamaSwap.invoke": ("ours", "chat"),
    "ChatLlamaSwap.stream": ("ours", "chat"),
    "ChatLlamaSwap.astream": ("ours", "chat"),
    "LlamaSwap.chat": ("ours", "chat"),
    "LlamaSwap.stream_chat": ("ours", "chat"),
    "LlamaSwapImageTool.invoke": ("ours", "image"),
    "LlamaSwapImageToolSpec.generate_image": ("ours", "image"),
    "ChatOpenAI.astream": ("peer", "chat"),
    "OpenAILike.chat": ("peer", "chat"),
}


def model_id(entry: str) -> str:
    return "cold-" + entry.lower().replace(".", "-").replace("_", "-")


def _chat_entry(fast: dict[str, Any], port: int) -> dict[str, Any]:
    """``fake-model``'s entry on a fixed port, loading for ``LOAD_SECONDS``."""
    entry = copy.deepcopy(fast)
    words = shlex.split(entry["cmd"])
    flags = {
        "--port": str(port),
        "--load": str(LOAD_SECONDS),
        "-listen": f"127.0.0.1:{port}",
        "-load": f"{LOAD_SECONDS}s",
    }
    for i, word in enumerate(words[:-1]):
        if word in flags:
            words[i + 1] = flags[word]
    entry["cmd"] = shlex.join(words)
    entry["proxy"] = f"http://127.0.0.1:{port}"
    entry["name"] = f"Cold test upstream ({LOAD_SECONDS} s load)"
    entry.pop("concurrencyLimit", None)
    return entry


def _image_entry(sd: dict[str, Any], port: int) -> dict[str, Any]:
    """The image test upstream, started only after ``LOAD_SECONDS`` of sleep."""
    entry = copy.deepcopy(sd)
    script = (
        "import os, sys, time; "
        f"time.sleep({LOAD_SECONDS}); "
        "os.execv(sys.executable, [sys.executable, "
        f"{str(UPSTREAMS_DIR / 'image.py')!r}, '--port', '{port}'])"
    )
    entry["cmd"] = shlex.join([sys.executable, "-c", script])
    entry["proxy"] = f"http://127.0.0.1:{port}"
    entry["name"] = f"Cold image test upstream ({LOAD_SECONDS} s load)"
    return entry


def adjust(config: dict[str, Any], ports: dict[str, int]) -> dict[str, Any]:
    """Add one cold model per entry point, all in the non-exclusive group (load together)."""
    config["healthCheckTimeout"] = HEALTH_CHECK_TIMEOUT
    models: dict[str, Any] = config["models"]
    for entry, (_, kind) in ENTRY_POINTS.items():
        mid = model_id(entry)
        if kind == "chat":
            models[mid] = _chat_entry(models["fake-model"], ports[mid])
        else:
            models[mid] = _image_entry(models["sd"], ports[mid])
    for group in config.get("groups", {}).values():
        if "fake-model" in group.get("members", []):
            group["members"].extend(model_id(e) for e in ENTRY_POINTS)
    return config


@dataclass
class Outcome:
    entry: str
    whose: str
    model: str
    ok: bool
    seconds: float
    what: str  # a short account: the answer's size, or the exception


def _calls(base_url: str, dsn: str) -> dict[str, Callable[[], str]]:
    """Each entry point with its default settings, returning a short account of the answer."""
    from langchain_openai import ChatOpenAI
    from llama_index.core.base.llms.types import ChatMessage
    from llama_index.llms.openai_like import OpenAILike  # type: ignore[import-untyped]

    from langchain_llamaswap import ChatLlamaSwap, LlamaSwapImageTool
    from llama_index_llamaswap import LlamaSwap, LlamaSwapImageToolSpec
    from llamaswap import LlamaSwapProvider

    m = {e: model_id(e) for e in ENTRY_POINTS}
    li_messages = [ChatMessage(role="user", content=PROMPT)]

    def load() -> str:
        with LlamaSwapProvider(dsn) as provider:
            provider.load(m["LlamaSwapProvider.load"])
        return "loaded"

    def lc_invoke() -> str:
        answer = ChatLlamaSwap(model=m["ChatLlamaSwap.invoke"], dsn=dsn).invoke(PROMPT)
        return f"{len(answer.text)} chars"

    def lc_stream() -> str:
        chunks = list(ChatLlamaSwap(model=m["ChatLlamaSwap.stream"], dsn=dsn).stream(PROMPT))
        return f"{len(chunks)} chunks"

    def lc_astream() -> str:
        async def run() -> int:
            llm = ChatLlamaSwap(model=m["ChatLlamaSwap.astream"], dsn=dsn)
            return len([c async for c in llm.astream(PROMPT)])

        return f"{asyncio.run(run())} chunks"

    def li_chat() -> str:
        answer = LlamaSwap(model=m["LlamaSwap.chat"], dsn=dsn).chat(li_messages)
        return f"{len(answer.message.content or '')} chars"

    def li_stream() -> str:
        llm = LlamaSwap(model=m["LlamaSwap.stream_chat"], dsn=dsn)
        return f"{len(list(llm.stream_chat(li_messages)))} chunks"

    def lc_image() -> str:
        tool = LlamaSwapImageTool(model=m["LlamaSwapImageTool.invoke"], dsn=dsn)
        return str(tool.invoke({"prompt": "a red square"}))[:80]

    def li_image() -> str:
        spec = LlamaSwapImageToolSpec(model=m["LlamaSwapImageToolSpec.generate_image"], dsn=dsn)
        return f"{len(spec.generate_image('a red square'))} blocks"

    def peer_lc_astream() -> str:
        async def run() -> int:
            llm = ChatOpenAI(
                model=m["ChatOpenAI.astream"],
                base_url=f"{base_url}/v1",
                api_key="x",  # type: ignore[arg-type]
            )
            return len([c async for c in llm.astream(PROMPT)])

        return f"{asyncio.run(run())} chunks"

    def peer_li_chat() -> str:
        llm = OpenAILike(
            model=m["OpenAILike.chat"], api_base=f"{base_url}/v1", api_key="x", is_chat_model=True
        )
        return f"{len(llm.chat(li_messages).message.content or '')} chars"

    return {
        "LlamaSwapProvider.load": load,
        "ChatLlamaSwap.invoke": lc_invoke,
        "ChatLlamaSwap.stream": lc_stream,
        "ChatLlamaSwap.astream": lc_astream,
        "LlamaSwap.chat": li_chat,
        "LlamaSwap.stream_chat": li_stream,
        "LlamaSwapImageTool.invoke": lc_image,
        "LlamaSwapImageToolSpec.generate_image": li_image,
        "ChatOpenAI.astream": peer_lc_astream,
        "OpenAILike.chat": peer_li_chat,
    }


def run_all(base_url: str, dsn: str, limit: float) -> list[Outcome]:
    """Start every entry point at once, each in its own thread; wait at most ``limit``."""
    calls = _calls(base_url, dsn)
    outcomes: dict[str, Outcome] = {}
    started = time.monotonic()

    def one(entry: str) -> None:
        t0 = time.monotonic()
        try:
            what, ok = calls[entry](), True
        except Exception as exc:  # recorded, whatever it is: that is the measurement
            what, ok = f"{type(exc).__name__}: {str(exc)[:200]}", False
            traceback.print_exc()
        whose = ENTRY_POINTS[entry][0]
        outcomes[entry] = Outcome(
            entry, whose, model_id(entry), ok, round(time.monotonic() - t0, 1), what
        )
        print(
            f"[bench-cold] {entry}: {'ok' if ok else 'FAILED'} after "
            f"{time.monotonic() - t0:.1f} s: {what}",
            file=sys.stderr,
            flush=True,
        )

    threads = [threading.Thread(target=one, args=(e,), daemon=True) for e in ENTRY_POINTS]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.0, limit - (time.monotonic() - started)))
    for entry in ENTRY_POINTS:
        if entry not in outcomes:
            outcomes[entry] = Outcome(
                entry,
                ENTRY_POINTS[entry][0],
                model_id(entry),
                False,
                round(time.monotonic() - started, 1),
                f"still waiting after {limit:.0f} s (abandoned)",
            )
    return [outcomes[e] for e in ENTRY_POINTS]


def cancelled_requests(log: str, model: str) -> int:
    """How many requests for ``model`` the client abandoned (llama-swap logs each one)."""
    return log.count(f"cancelled request for model {model} pruned")


def markdown(outcomes: list[Outcome], info: dict[str, Any]) -> str:
    lines = [
        "# Cold-swap results",
        "",
        "Written by `make bench-cold` (`.venv/bin/python -m bench --cold`); do not edit by "
        f"hand. Every entry point starts at once against its own model whose upstream needs "
        f"{LOAD_SECONDS} s to become healthy (`healthCheckTimeout: {HEALTH_CHECK_TIMEOUT}` in "
        "this run's llama-swap config only), with default settings: no timeout or retry "
        "passed. The peers run with their own defaults.",
        "",
        f"- written {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, git "
        f"{info.get('git_commit')}; {info.get('cpu_count')} CPUs, load "
        f"{info.get('loadavg', [0.0])[0]:.2f}",
        f"- llama-swap: {info.get('llama_swap_binary')}",
        "",
        "| entry point | whose | completed | seconds | answer or error |",
        "|---|---|---|---:|---|",
    ]
    for o in outcomes:
        what = o.what.replace("|", "\\|").replace("\n", " ")
        lines.append(
            f"| `{o.entry}` | {o.whose} | {'yes' if o.ok else '**no**'} | {o.seconds} | {what} |"
        )
    return "\n".join(lines) + "\n"


def main(json_path: Path) -> int:
    """Start the cold rig, run every entry point, write RESULTS-cold.md; 1 if ours failed."""
    from bench.report import machine

    info = machine(REPO_ROOT)
    original = rigconfig.build_config
    base = free_port_block(len(ENTRY_POINTS), low=33000, high=34000)
    ports = {model_id(e): base + i for i, e in enumerate(ENTRY_POINTS)}

    def build(**kwargs: Any) -> dict[str, Any]:
        return adjust(original(**kwargs), ports)

    rig = Rig(models=("fake-model", "sd"), groups=True, name="bench-cold", verbose=True)
    with mock.patch.object(rigconfig, "build_config", build):
        rig.start()
    assert rig.binary is not None
    info["llama_swap_binary"] = rig.binary.describe()
    try:
        outcomes = run_all(rig.base_url, rig.dsn, limit=LOAD_SECONDS + 400)
    finally:
        rig.stop(check_leftovers=False)
    log = rig.log_text()
    for o in outcomes:
        dropped = cancelled_requests(log, o.model)
        if dropped:
            o.what += f" ({dropped} earlier request(s) given up by the client while loading)"
    COLD_MD.write_text(markdown(outcomes, info))
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(
        json.dumps({"machine": info, "outcomes": [asdict(o) for o in outcomes]}, indent=2) + "\n"
    )
    print(COLD_MD.read_text())
    return 0 if all(o.ok for o in outcomes if o.whose == "ours") else 1
