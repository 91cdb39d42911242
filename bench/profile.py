"""Where a ratio's extra time goes: cProfile of ours and the peer, grouped by package.

``python -m bench.profile lc_invoke`` (or ``lc_stream_long``, ``li_chat``, ...) starts the
bench rig, runs each side's call ``--calls`` times under cProfile and prints own time per
top-level package (``llamaswap``, ``langchain_core``, ``openai``, ``httpx``, ...) for both
sides and the difference, then our heaviest functions. Profiling inflates Python-level
costs evenly on both sides; read the differences, not the absolute times.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

_RIG = str(Path(__file__).resolve().parent.parent / "rig")
if _RIG not in sys.path:
    sys.path.insert(0, _RIG)

from bench.cases import LC_MESSAGES, PROMPT, Env, _chat_ours, _chat_peer, _li_pair  # noqa: E402
from bench.rigsetup import start_rig  # noqa: E402
from llamaswap import LlamaSwapProvider  # noqa: E402

OURS_PACKAGES = ("llamaswap", "langchain_llamaswap", "llama_index_llamaswap")


def package_of(filename: str) -> str:
    """The top-level package a profiled function's file belongs to."""
    path = Path(filename)
    parts = path.parts
    for marker in ("site-packages", "core"):
        if marker in parts:
            i = parts.index(marker)
            if i + 1 < len(parts):
                return parts[i + 1].removesuffix(".py")
    for ours in OURS_PACKAGES:
        if ours in parts:
            return ours
    if filename.startswith("<") or not path.suffix:
        return "(builtin)"
    return "(stdlib)"


def by_package(stats: pstats.Stats) -> dict[str, float]:
    """Own (not cumulative) seconds per package."""
    totals: dict[str, float] = defaultdict(float)
    raw = stats.stats  # type: ignore[attr-defined]
    for (filename, _, _), (_, _, tottime, _, _) in raw.items():
        totals[package_of(filename)] += tottime
    return dict(totals)


def profile(fn: Callable[[], object], calls: int) -> pstats.Stats:
    for _ in range(min(calls, 20)):
        fn()
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(calls):
        fn()
    prof.disable()
    return pstats.Stats(prof)


def sides(case: str, env: Env) -> tuple[Callable[[], object], Callable[[], object]]:
    from llama_index.core.base.llms.types import ChatMessage

    if case == "lc_invoke":
        ours, peer = _chat_ours(env), _chat_peer(env)
        return lambda: ours.invoke(LC_MESSAGES), lambda: peer.invoke(LC_MESSAGES)
    if case in ("lc_stream", "lc_stream_long"):
        model = env.long_model if case.endswith("long") else env.chat_model
        o, p = _chat_ours(env, model), _chat_peer(env, model)
        return lambda: list(o.stream(LC_MESSAGES)), lambda: list(p.stream(LC_MESSAGES))
    if case in ("li_chat", "li_stream", "li_stream_long"):
        model = env.long_model if case.endswith("long") else env.chat_model
        lo, lp = _li_pair(env, model)
        messages = [ChatMessage(role="user", content=PROMPT)]
        if case == "li_chat":
            return lambda: lo.chat(messages), lambda: lp.chat(messages)
        return lambda: list(lo.stream_chat(messages)), lambda: list(lp.stream_chat(messages))
    if case == "list_models":
        import httpx

        provider = LlamaSwapProvider(env.dsn)
        raw = httpx.Client()
        url = f"{env.base_url}/v1/models"
        return provider.list_models, lambda: raw.get(url).json()
    raise SystemExit(f"unknown case {case!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    parser.add_argument("case", help="lc_invoke, lc_stream, lc_stream_long, li_chat, ...")
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--top", type=int, default=15, help="our heaviest functions to list")
    args = parser.parse_args(argv)
    rig = start_rig()
    try:
        env = Env(base_url=rig.base_url, dsn=rig.dsn)
        with LlamaSwapProvider(env.dsn) as provider:
            for model in (env.chat_model, env.long_model, env.image_model):
                provider.load(model)
        ours_fn, peer_fn = sides(args.case, env)
        ours, peer = profile(ours_fn, args.calls), profile(peer_fn, args.calls)
    finally:
        rig.stop(check_leftovers=False)
    a, b = by_package(ours), by_package(peer)
    n = args.calls
    print(f"own time per call by package, {args.case}, {n} calls (us): ours, peer, ours - peer")
    for pkg in sorted(set(a) | set(b), key=lambda k: -(a.get(k, 0.0) - b.get(k, 0.0))):
        da, db = a.get(pkg, 0.0) / n * 1e6, b.get(pkg, 0.0) / n * 1e6
        if max(da, db) >= 1:
            print(f"  {pkg:28s} {da:9.1f} {db:9.1f} {da - db:+9.1f}")
    print(f"  {'total':28s} {sum(a.values()) / n * 1e6:9.1f} {sum(b.values()) / n * 1e6:9.1f}")
    print(f"\nour heaviest functions (own time per call, us), {args.case}:")
    raw = ours.stats  # type: ignore[attr-defined]
    rows = [
        (tottime / n * 1e6, ncalls / n, f"{Path(fn).name}:{line} {name}")
        for (fn, line, name), (_, ncalls, tottime, _, _) in raw.items()
        if package_of(fn) in OURS_PACKAGES
    ]
    for us, per_call, where in sorted(rows, reverse=True)[: args.top]:
        print(f"  {us:8.1f} us  {per_call:6.1f} calls/call  {where}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
