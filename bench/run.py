"""Start a small rig, run every comparison, print the table and write ``out/bench-latest.json``.

The rig (:mod:`bench.rigsetup`) serves two stdlib test upstreams kept resident side by side:
``fake-model`` answering 8 words at 100 000 words/s, and the ``sd`` image upstream, so that
server time is small and client overhead shows.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from pathlib import Path

from bench.cases import CASES, Env
from bench.harness import Result, close_loop
from bench.report import legend, machine, table, write_json
from bench.rigsetup import start_rig
from llamaswap import LlamaSwapProvider
from llamaswap_rig.paths import REPO_ROOT
from llamaswap_rig.runner import RigError

DEFAULT_OUT = REPO_ROOT / "out" / "bench-latest.json"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Client overhead as ratios against the nearest peer (ours / peer time).",
    )
    parser.add_argument("--rounds", type=int, default=30, help="alternating rounds per case")
    parser.add_argument(
        "--batch-seconds", type=float, default=0.12, help="target length of one timed batch"
    )
    parser.add_argument(
        "--warmup", type=int, default=20, help="untimed calls per side (at most ~1 s)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="6 rounds of 0.05 s: a smoke run (~40 s)"
    )
    parser.add_argument(
        "--only", action="append", default=[], help=f"run only these cases: {', '.join(CASES)}"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON record path")
    parser.add_argument(
        "--dsn",
        default=None,
        help="measure an already running llama-swap with fake-model and sd resident "
        "instead of starting the rig",
    )
    return parser


def _env(args: argparse.Namespace, base_url: str, dsn: str) -> Env:
    if args.quick:
        return Env(
            base_url=base_url,
            dsn=dsn,
            rounds=6,
            batch_seconds=0.05,
            warmup=5,
            burst_total=64,
            burst_rounds=2,
            burst_in_flight=16,
        )
    return Env(
        base_url=base_url,
        dsn=dsn,
        rounds=args.rounds,
        batch_seconds=args.batch_seconds,
        warmup=args.warmup,
    )


def _measure(env: Env, names: list[str]) -> tuple[list[Result], list[str]]:
    with LlamaSwapProvider(env.dsn) as provider:  # swap both models in before any timing
        for model in (env.chat_model, env.long_model, env.image_model):
            provider.load(model)
    results: list[Result] = []
    failed: list[str] = []
    for name in names:
        started = time.monotonic()
        try:
            result = CASES[name](env)
        except Exception:  # one broken case must not hide the others' numbers
            failed.append(name)
            print(f"[bench] {name} FAILED:\n{traceback.format_exc()}", file=sys.stderr)
            continue
        results.append(result)
        print(
            f"[bench] {name}: ratio {result.ratio:.2f}, cpu {result.cpu_ratio:.2f} "
            f"({time.monotonic() - started:.1f} s)",
            file=sys.stderr,
            flush=True,
        )
    return results, failed


def main(argv: list[str] | None = None) -> int:
    """Run the comparisons; exit 1 if a case failed (never because of a ratio)."""
    args = _parser().parse_args(argv)
    unknown = sorted(set(args.only) - set(CASES))
    if unknown:
        print(f"unknown case(s) {unknown}; known: {', '.join(CASES)}", file=sys.stderr)
        return 2
    names = [n for n in CASES if not args.only or n in args.only]
    info = machine(REPO_ROOT)
    started = time.monotonic()
    flavour = "external"
    if args.dsn:
        provider = LlamaSwapProvider(args.dsn)
        env = _env(args, provider.base_url, args.dsn)
        try:
            results, failed = _measure(env, names)
        finally:
            close_loop()
    else:
        try:
            rig = start_rig()
        except RigError as exc:
            print(f"rig failed to start: {exc}", file=sys.stderr)
            return 1
        flavour = rig.flavour
        try:
            env = _env(args, rig.base_url, rig.dsn)
            results, failed = _measure(env, names)
        finally:
            close_loop()
            rig.stop(check_leftovers=False)
    info["llama_swap"] = flavour
    info["loadavg_after"] = list(os.getloadavg())
    info["wall_seconds"] = round(time.monotonic() - started, 1)
    settings = {
        "rounds": env.rounds,
        "batch_seconds": env.batch_seconds,
        "warmup": env.warmup,
        "burst_total": env.burst_total,
        "burst_in_flight": env.burst_in_flight,
        "burst_rounds": env.burst_rounds,
        "chat_model": env.chat_model,
        "long_model": env.long_model,
        "image_model": env.image_model,
        "failed": failed,
    }
    print(table(results))
    print()
    print(legend(results))
    print(
        f"\nllama-swap: {flavour}; {info['cpu_count']} CPUs ({info['cpu_model']}); "
        f"load {info['loadavg'][0]:.2f} -> {info['loadavg_after'][0]:.2f}; "
        f"{info['wall_seconds']} s"
    )
    path = write_json(args.out, results, info, settings)
    print(f"written: {path}")
    return 1 if failed else 0
