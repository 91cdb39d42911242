"""Start a small rig, run every comparison, print the table, write ``out/bench-latest.json``
and, for a full run, ``bench/RESULTS.md`` with the concurrency plot beside it.

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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench import concurrency, imports, memory
from bench.cases import CASES, Env
from bench.harness import Result, close_loop
from bench.report import (
    Check,
    legend,
    machine,
    memory_checks,
    ratio_checks,
    results_markdown,
    table,
    throughput_checks,
    write_json,
)
from bench.rigsetup import start_rig
from llamaswap import LlamaSwapProvider
from llamaswap_rig.paths import REPO_ROOT
from llamaswap_rig.runner import RigError

DEFAULT_OUT = REPO_ROOT / "out" / "bench-latest.json"
RESULTS_MD = REPO_ROOT / "bench" / "RESULTS.md"
PLOT = "concurrency.png"
SECTIONS = ("imports", "concurrency", "memory")  # run besides the per-call CASES
# Rounds per per-call case: at 20, two identical clients (the A/A case) and repeated runs
# of one case moved by +-0.02 on the shared 2-core rig, the width of a 1.02 goal's margin;
# 60 rounds hold the median to about +-0.01 for ~2 more minutes of `make bench`.
ROUNDS = 60


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Client overhead as ratios against the nearest peer (ours / peer time).",
    )
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="alternating rounds per case")
    parser.add_argument(
        "--batch-seconds", type=float, default=0.1, help="target length of one timed batch"
    )
    parser.add_argument(
        "--warmup", type=int, default=20, help="untimed calls per side (at most ~1 s)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="few short rounds, small memory run: a smoke run"
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        help=f"run only these: {', '.join((*CASES, *SECTIONS))}",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON record path")
    parser.add_argument(
        "--results",
        type=Path,
        default=None,
        help=f"Markdown report path (default {RESULTS_MD.relative_to(REPO_ROOT)} for a full "
        "run, none for --quick or --only)",
    )
    parser.add_argument(
        "--cold",
        action="store_true",
        help="the cold-swap run instead (make bench-cold; minutes): see bench/cold.py",
    )
    parser.add_argument(
        "--dsn",
        default=None,
        help="measure an already running llama-swap with fake-model, fake-long and sd "
        "resident instead of starting the rig (no proxy floor)",
    )
    return parser


def _env(args: argparse.Namespace, base_url: str, dsn: str, upstream: str | None) -> Env:
    if args.quick:
        return Env(
            base_url=base_url,
            dsn=dsn,
            rounds=6,
            batch_seconds=0.05,
            warmup=5,
            upstream_url=upstream,
            stream_rounds=4,
            concurrency_rounds=1,
            concurrency_levels=(16, 64),
            import_rounds=2,
            memory_first=50,
            memory_total=200,
        )
    return Env(
        base_url=base_url,
        dsn=dsn,
        rounds=args.rounds,
        batch_seconds=args.batch_seconds,
        warmup=args.warmup,
        upstream_url=upstream,
    )


def _say(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


@dataclass
class Outcome:
    results: list[Result] = field(default_factory=list)
    levels: list[concurrency.LevelStats] = field(default_factory=list)
    growth: list[tuple[memory.Growth, memory.Growth]] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def _measure(env: Env, names: list[str], sections: list[str]) -> Outcome:
    with LlamaSwapProvider(env.dsn) as provider:  # swap the models in before any timing
        for model in (env.chat_model, env.long_model, env.image_model):
            provider.load(model)
    out = Outcome()

    def attempt(name: str, fn: Callable[[], None]) -> None:
        started = time.monotonic()
        try:
            fn()
        except Exception:  # one broken case must not hide the others' numbers
            out.failed.append(name)
            _say(f"{name} FAILED:\n{traceback.format_exc()}")
            return
        _say(f"{name} done ({time.monotonic() - started:.1f} s)")

    if "imports" in sections:
        attempt("imports", lambda: out.results.extend(imports.import_results(env.import_rounds)))
    for name in names:

        def one(name: str = name) -> None:
            got = CASES[name](env)
            for r in got if isinstance(got, list) else [got]:
                out.results.append(r)
                _say(f"{r.name}: ratio {r.ratio:.2f}, cpu {r.cpu_ratio:.2f}")

        attempt(name, one)
    if "concurrency" in sections:

        def conc() -> None:
            out.levels.extend(
                concurrency.measure(
                    env.base_url,
                    env.dsn,
                    env.chat_model,
                    levels=env.concurrency_levels,
                    rounds=env.concurrency_rounds,
                )
            )

        attempt("concurrency", conc)
    if "memory" in sections:

        def mem() -> None:
            out.growth.extend(
                memory.measure(
                    env.base_url,
                    env.dsn,
                    env.chat_model,
                    REPO_ROOT,
                    first=env.memory_first,
                    total=env.memory_total,
                )
            )

        attempt("memory", mem)
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the comparisons; exit 1 if a case failed (never because of a ratio)."""
    args = _parser().parse_args(argv)
    if args.cold:
        from bench import cold

        return cold.main(args.out.with_name("bench-cold.json"))
    unknown = sorted(set(args.only) - set(CASES) - set(SECTIONS))
    if unknown:
        print(
            f"unknown case(s) {unknown}; known: {', '.join((*CASES, *SECTIONS))}", file=sys.stderr
        )
        return 2
    names = [n for n in CASES if not args.only or n in args.only]
    sections = [s for s in SECTIONS if not args.only or s in args.only]
    info = machine(REPO_ROOT)
    started = time.monotonic()
    flavour = "external"
    if args.dsn:
        provider = LlamaSwapProvider(args.dsn)
        env = _env(args, provider.base_url, args.dsn, None)
        info["llama_swap_binary"] = f"external, at {provider.base_url}"
        try:
            outcome = _measure(env, names, sections)
        finally:
            close_loop()
    else:
        try:
            rig = start_rig()
        except RigError as exc:
            print(f"rig failed to start: {exc}", file=sys.stderr)
            return 1
        flavour = rig.flavour
        assert rig.binary is not None
        info["llama_swap_binary"] = rig.binary.describe()
        info["fake_model"] = rig.binary.fake_model or "stdlib stand-in (upstreams/fast.py)"
        upstream = f"http://127.0.0.1:{rig.upstream_ports['fake-model']}"
        try:
            env = _env(args, rig.base_url, rig.dsn, upstream)
            outcome = _measure(env, names, sections)
        finally:
            close_loop()
            rig.stop(check_leftovers=False)
    info["llama_swap"] = flavour
    info["loadavg_after"] = list(os.getloadavg())
    info["wall_seconds"] = round(time.monotonic() - started, 1)
    if os.cpu_count() and info["loadavg"][0] > 0.5:
        info["shared_note"] = (
            "The machine was shared with other work during the run (load above), so absolute "
            "times are noisy; ratios come from interleaved rounds and medians."
        )
    settings = {
        "rounds": env.rounds,
        "batch_seconds": env.batch_seconds,
        "warmup": env.warmup,
        "stream_rounds": env.stream_rounds,
        "import_rounds": env.import_rounds,
        "concurrency_levels": list(env.concurrency_levels),
        "concurrency_rounds": env.concurrency_rounds,
        "memory_calls": [env.memory_first, env.memory_total],
        "failed": outcome.failed,
    }
    checks: list[Check] = [
        *ratio_checks(outcome.results),
        *throughput_checks(outcome.levels),
        *memory_checks(outcome.growth),
    ]
    print(table(outcome.results))
    print()
    print(legend(outcome.results))
    for c in checks:
        print(f"  {'pass' if c.passed else 'MISS'}  {c.name}: {c.measured} (goal {c.target})")
    print(
        f"\nllama-swap: {info['llama_swap_binary']}; {info['cpu_count']} CPUs "
        f"({info['cpu_model']}); load {info['loadavg'][0]:.2f} -> {info['loadavg_after'][0]:.2f}; "
        f"{info['wall_seconds']} s"
    )
    path = write_json(args.out, outcome.results, info, settings, outcome.levels)
    print(f"written: {path}")
    results_path = args.results
    if results_path is None and not args.quick and not args.only:
        results_path = RESULTS_MD
    if results_path is not None:
        plot_path = (
            concurrency.plot(
                outcome.levels,
                results_path.with_name(PLOT),
                f"{info['llama_swap_binary'].split(' [')[0]}, {info['cpu_count']} CPUs, load "
                f"{info['loadavg'][0]:.1f} -> {info['loadavg_after'][0]:.1f}",
            )
            if outcome.levels
            else None
        )
        results_path.parent.mkdir(parents=True, exist_ok=True)
        results_path.write_text(
            results_markdown(
                results=outcome.results,
                checks=checks,
                concurrency=outcome.levels,
                plot_name=plot_path.name if plot_path else None,
                info=info,
                settings=settings,
            )
        )
        print(f"written: {results_path}")
    return 1 if outcome.failed else 0
