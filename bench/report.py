"""The table on stdout and the JSON record in ``out/``, with what the machine was doing."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.concurrency import (
    AA_PAIR,
    CLIENTS,
    FRESH_POOL_LEVEL,
    PAIRS,
    TARGET_LEVELS,
    LevelStats,
    paired_ratios,
)
from bench.harness import AA_NAME, Result, Spread
from bench.memory import NOISE_BYTES, Growth, growth_ok

PACKAGES = (
    "llamaswap",
    "httpx",
    "openai",
    "langchain-core",
    "langchain-openai",
    "llama-index-core",
    "llama-index-llms-openai-like",
)


def _fmt_time(seconds: float) -> str:
    if seconds >= 1.0:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.0f} us"


def table(results: list[Result]) -> str:
    """A fixed-width table: wall medians, the paired ratio and IQR, the mean and CPU ratios."""
    head = (
        "case",
        "ours (median ± IQR)",
        "peer (median ± IQR)",
        "ratio",
        "paired IQR",
        "mean",
        "cpu",
    )
    rows = [head]
    for r in results:
        rows.append(
            (
                r.name,
                f"{_fmt_time(r.ours.median)} ± {_fmt_time(r.ours.iqr)}",
                f"{_fmt_time(r.peer.median)} ± {_fmt_time(r.peer.iqr)}",
                f"{r.ratio:.2f}",
                f"{r.paired.q1:.2f}-{r.paired.q3:.2f}",
                "" if r.mean_ratio is None else f"{r.mean_ratio:.2f}",
                f"{r.cpu_ratio:.2f}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = []
    for n, row in enumerate(rows):
        rest = zip(row[1:], widths[1:], strict=True)
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in rest]
        lines.append("  ".join(cells))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def legend(results: list[Result]) -> str:
    """Who is compared with whom, so the table's short names can be read."""
    lines = [
        "ratio = median over the rounds of ours / peer, each round's median call, wall time",
        "(lower is better, 1.00 = no overhead); paired IQR = quartiles of those per-round",
        "ratios; mean = ours / peer of every call's wall time summed (a millisecond stolen",
        "from one call moves it, not the median); cpu = ours / peer client CPU time.",
        "",
    ]
    for r in results:
        extra = ""
        if "ours_rps" in r.extra:
            extra = f"; {r.extra['ours_rps']:.0f} vs {r.extra['peer_rps']:.0f} req/s"
        lines.append(
            f"  {r.name}: {r.ours_label} vs {r.peer_label} "
            f"[{r.unit}, {r.rounds} rounds x {r.batch}{extra}]"
        )
    return "\n".join(lines)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError):
        pass
    return None


def _git_commit(repo: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def machine(repo: Path) -> dict[str, Any]:
    """What a reader needs to judge the numbers: CPU, load, interpreter, package versions."""
    return {
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "mem_total_gb": _mem_total_gb(),
        "loadavg": list(os.getloadavg()),
        "git_commit": _git_commit(repo),
        "packages": {name: _version(name) for name in PACKAGES},
    }


def write_json(
    path: Path,
    results: list[Result],
    info: dict[str, Any],
    settings: dict[str, Any],
    concurrency: Sequence[LevelStats] = (),
) -> Path:
    """Write the full record (raw spreads and ratios, each burst's throughput) for later
    comparison."""
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": info,
        "settings": settings,
        "results": [r.as_json() for r in results],
        "concurrency": [s.as_json() for s in concurrency],
    }
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


# ------------------------------------------------------------------ targets and RESULTS.md

# case name -> the most ours/peer wall-time ratio may be (issue 14)
RATIO_TARGETS: dict[str, float] = {
    "import llamaswap": 1.2,
    "import langchain_llamaswap": 1.05,
    "import llama_index_llamaswap": 1.05,
    "list_models": 1.05,
    "alist_models": 1.05,
    "running": 1.05,
    "generate_image": 1.05,
    "langchain invoke": 1.02,
    "langchain stream": 1.02,
    "langchain stream 512 chunks": 1.02,
    "llamaindex chat": 1.02,
    "llamaindex stream": 1.02,
    "llamaindex stream 512 chunks": 1.02,
}
THROUGHPUT_TARGET = 0.95  # ours / peer requests per second, at least


@dataclass(frozen=True)
class Check:
    """One target: what was measured against what it should be."""

    name: str
    measured: str
    target: str
    passed: bool
    detail: str = ""


def ratio_checks(results: list[Result]) -> list[Check]:
    """A check for every result that has a ratio target."""
    checks = []
    for r in results:
        limit = RATIO_TARGETS.get(r.name)
        if limit is None:
            continue
        miss = "" if r.ratio <= limit else f"over by {r.ratio - limit:.2f}"
        checks.append(
            Check(
                r.name,
                f"{r.ratio:.2f} (paired IQR {r.paired.q1:.2f}-{r.paired.q3:.2f}"
                + ("" if r.mean_ratio is None else f", mean {r.mean_ratio:.2f}")
                + f", cpu {r.cpu_ratio:.2f})",
                f"<= {limit:.2f}",
                r.ratio <= limit,
                miss,
            )
        )
    return checks


def throughput_checks(
    stats: list[LevelStats], levels: tuple[int, ...] = TARGET_LEVELS
) -> list[Check]:
    """Each of ours against its nearest peer (``concurrency.PAIRS``): the median over the
    rounds of the paired throughput ratio, and no error but llama-swap's 429."""
    by = {(s.client, s.level): s for s in stats}
    checks = []
    for level in levels:
        for ours_name, peer_name in PAIRS:
            ours, peer = by.get((ours_name, level)), by.get((peer_name, level))
            if ours is None or peer is None:
                continue
            paired = Spread.of(paired_ratios(ours, peer))
            ratio = paired.median
            bad = {k: n for k, n in ours.errors.items() if k != "429"}
            passed = ratio >= THROUGHPUT_TARGET and not bad
            detail = (
                f"{ours.rps:.0f} vs {peer.rps:.0f} req/s; "
                f"paired IQR {paired.q1:.2f}-{paired.q3:.2f}"
            )
            if ours.cpu_per_request and peer.cpu_per_request:
                cpu = ours.cpu_per_request / peer.cpu_per_request
                detail += f"; client CPU per request ours / peer {cpu:.2f}"
            if bad:
                detail += f"; errors {bad}"
            if ours.errors.get("429"):
                detail += f"; {ours.errors['429']} x 429 (concurrencyLimit)"
            checks.append(
                Check(
                    f"throughput, {level} in flight: {ours_name} / {peer_name}",
                    f"{ratio:.2f}",
                    f">= {THROUGHPUT_TARGET:.2f}, no error but 429",
                    passed,
                    detail,
                )
            )
    return checks


def langchain_share(stats: list[LevelStats]) -> str:
    """What LangChain itself costs against the raw SDK, per level: plain ``ChatOpenAI`` and
    ``ChatLlamaSwap`` each over ``AsyncOpenAI``, median of the same-round ratios."""
    by = {(s.client, s.level): s for s in stats}
    lines = []
    for level in sorted({s.level for s in stats}):
        raw = by.get(("AsyncOpenAI", level))
        plain, ours = by.get(("ChatOpenAI", level)), by.get(("ChatLlamaSwap", level))
        if raw is None or plain is None or ours is None:
            continue
        plain_r = statistics.median(paired_ratios(plain, raw))
        ours_r = statistics.median(paired_ratios(ours, raw))
        lines.append(
            f"| {level} | {plain_r:.2f} | {ours_r:.2f} | "
            f"{_fmt_time(plain.cpu_per_request - raw.cpu_per_request)} |"
        )
    if not lines:
        return "(not measured)"
    head = [
        "| in flight | ChatOpenAI / AsyncOpenAI | ChatLlamaSwap / AsyncOpenAI "
        "| LangChain's client CPU per request |",
        "|---:|---:|---:|---:|",
    ]
    return "\n".join(head + lines)


def memory_checks(pairs: list[tuple[Growth, Growth]]) -> list[Check]:
    """RSS growth from the first to the last sample, ours against the peer's."""
    checks = []
    for ours, peer in pairs:
        checks.append(
            Check(
                f"memory: {ours.client} vs {peer.client}",
                f"{ours.growth / 2**20:+.2f} MiB vs {peer.growth / 2**20:+.2f} MiB",
                f"ours <= peer + {NOISE_BYTES / 2**20:.0f} MiB",
                growth_ok(ours.growth, peer.growth),
                f"RSS after {ours.first}: {ours.rss_first / 2**20:.1f} MiB, after "
                f"{ours.total}: {ours.rss_total / 2**20:.1f} MiB (peer {peer.rss_first / 2**20:.1f}"
                f" -> {peer.rss_total / 2**20:.1f})",
            )
        )
    return checks


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def checks_table(checks: list[Check]) -> str:
    lines = ["| target | measured | goal | result |", "|---|---|---|---|"]
    for c in checks:
        verdict = "pass" if c.passed else "**miss**"
        detail = f"<br>{_md_escape(c.detail)}" if c.detail else ""
        lines.append(
            f"| {_md_escape(c.name)} | {_md_escape(c.measured)}{detail} | {c.target} | {verdict} |"
        )
    return "\n".join(lines)


def concurrency_table(stats: list[LevelStats]) -> str:
    lines = [
        "| in flight | client | req/s (median) | slowest-fastest round | client CPU per request "
        "| p50 latency | p95 latency | errors |",
        "|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    order = {name: i for i, name in enumerate(CLIENTS)}  # each of ours above its peer
    for s in sorted(stats, key=lambda s: (s.level, order.get(s.client, len(order)))):
        errors = ", ".join(f"{k}: {n}" for k, n in sorted(s.errors.items())) or "none"
        lines.append(
            f"| {s.level} | {s.client} | {s.rps:.0f} | {s.rps_low:.0f}-{s.rps_high:.0f} | "
            f"{_fmt_time(s.cpu_per_request)} | {_fmt_time(s.p50)} | {_fmt_time(s.p95)} "
            f"| {errors} |"
        )
    return "\n".join(lines)


def floor_summary(results: list[Result]) -> str:
    """How much of a chat call is the upstream, llama-swap and the client (one rotation)."""
    by = {r.name: r for r in results}
    proxy = by.get("floor: llama-swap vs upstream direct")
    client = by.get("floor: ChatLlamaSwap vs httpx, both via llama-swap")
    peer = by.get("floor: ChatOpenAI vs httpx, both via llama-swap")
    if proxy is None or client is None or peer is None:
        return "(not measured)"
    direct, via = proxy.peer.median, proxy.ours.median
    ours, plain = client.ours.median, peer.ours.median
    return (
        "One non-streamed chat call to `fake-model`, the four ways timed in the same rounds "
        "(medians):\n\n"
        "| path | median | added by the last hop |\n|---|---:|---:|\n"
        f"| raw httpx straight to the upstream's port | {_fmt_time(direct)} | |\n"
        f"| raw httpx through llama-swap | {_fmt_time(via)} | llama-swap: "
        f"{_fmt_time(via - direct)} |\n"
        f"| `ChatOpenAI.invoke` through llama-swap | {_fmt_time(plain)} | LangChain + SDK: "
        f"{_fmt_time(plain - via)} |\n"
        f"| `ChatLlamaSwap.invoke` through llama-swap | {_fmt_time(ours)} | LangChain + SDK + "
        f"this package: {_fmt_time(ours - via)} |\n\n"
        f"Of a `ChatLlamaSwap.invoke`: upstream {direct / ours:.0%}, llama-swap "
        f"{(via - direct) / ours:.0%}, client {(ours - via) / ours:.0%} (of which this "
        f"package over plain ChatOpenAI: {(ours - plain) / ours:.0%})."
    )


def resolution(results: list[Result]) -> list[str]:
    """The A/A line under the targets: what this run's noise alone does to a ratio."""
    aa = next((r for r in results if r.name == AA_NAME), None)
    if aa is None:
        return []
    return [
        f"Resolution: the same client on both sides (`{AA_NAME}`), where no difference "
        f"exists, measured {aa.ratio:.3f} (paired IQR {aa.paired.q1:.2f}-{aa.paired.q3:.2f}) "
        f"over {aa.rounds} rounds: how far this run's noise alone moves a ratio.",
        "",
    ]


def throughput_resolution(
    stats: list[LevelStats], levels: tuple[int, ...] = TARGET_LEVELS
) -> list[str]:
    """The A/A line under the throughput targets: two identical raw clients, same rounds."""
    by = {(s.client, s.level): s for s in stats}
    first, second = AA_PAIR
    parts = []
    for level in levels:
        a, b = by.get((first, level)), by.get((second, level))
        if a is None or b is None:
            continue
        paired = Spread.of(paired_ratios(a, b))
        parts.append(
            f"{paired.median:.2f} at {level} in flight (paired IQR {paired.q1:.2f}-{paired.q3:.2f})"
        )
    if not parts:
        return []
    return [
        f"Throughput resolution: two identical raw `AsyncOpenAI` clients in the same rounds "
        f"(`{first}` / `{second}`) measured {'; '.join(parts)}.",
        "",
    ]


def results_markdown(
    *,
    results: list[Result],
    checks: list[Check],
    concurrency: list[LevelStats],
    plot_name: str | None,
    info: dict[str, Any],
    settings: dict[str, Any],
) -> str:
    """The whole of bench/RESULTS.md."""
    load = info.get("loadavg", [0.0])[0]
    load_after = info.get("loadavg_after", [0.0])[0]
    shared = info.get("shared_note", "")
    versions = ", ".join(f"{k} {v}" for k, v in info.get("packages", {}).items())
    missed = [c for c in checks if not c.passed]
    parts = [
        "# Benchmark results",
        "",
        "Written by `make bench` (`.venv/bin/python -m bench`); do not edit by hand. How the "
        "numbers are taken and read: [docs/bench.md](../docs/bench.md).",
        "",
        "## Run",
        "",
        f"- written {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, git "
        f"{info.get('git_commit')}, {info.get('wall_seconds')} s",
        f"- machine: {info.get('cpu_count')} CPUs ({info.get('cpu_model')}), "
        f"{info.get('mem_total_gb')} GB RAM, {info.get('platform')}, "
        f"{info.get('implementation')} {info.get('python')}",
        f"- load average {load:.2f} before, {load_after:.2f} after. {shared}".rstrip(),
        f"- llama-swap: {info.get('llama_swap_binary', info.get('llama_swap'))}",
        f"- versions: {versions}",
        f"- settings: {json.dumps(settings)}",
        "",
        "## Targets",
        "",
        f"{len(checks) - len(missed)} of {len(checks)} met.",
        "",
        checks_table(checks),
        "",
        *resolution(results),
        *throughput_resolution(concurrency),
        "## Per-call ratios (ours / peer, call-by-call interleaved rounds)",
        "",
        "```text",
        table(results),
        "",
        legend(results),
        "```",
        "",
        "## The proxy floor",
        "",
        floor_summary(results),
        "",
        "## Concurrency",
        "",
        "Each burst launches N calls at once (`asyncio.gather` of `ainvoke` or `create`, what "
        "`abatch` does). Two pairs, each of ours beside its nearest peer: `ChatLlamaSwap` and "
        "plain `ChatOpenAI`; the provider's `async_openai_client()` and a raw `AsyncOpenAI`. "
        "A third pair, two identical raw `AsyncOpenAI` clients (the `A/A` rows), shows what "
        "noise alone does. In each round a pair's two bursts run back to back, who goes first "
        "flipping, and the target is the median over the rounds of those paired ratios. From "
        f"{FRESH_POOL_LEVEL} in flight every burst starts with no idle keep-alive connection "
        "in any pool (closed untimed just before it, as httpx's 5 s keep-alive expiry would), "
        "so every burst starts from the same state: a burst that reuses hundreds of warm "
        "connections costs every client alike ~20 ms of CPU per request in httpcore's pool "
        "bookkeeping (the same straight to the upstream, without llama-swap), a burst on "
        "fresh connections ~4 ms, and which of the two a burst got had depended on when its "
        "client last ran. The slowest and fastest round are shown beside the median.",
        "",
        concurrency_table(concurrency),
        "",
        "LangChain's own cost, the same for both LangChain clients: throughput against the raw "
        "SDK (median of the same-round ratios) and the client CPU per request plain "
        "`ChatOpenAI` spends beyond `AsyncOpenAI` (callbacks, run tracking, message "
        "conversion). It is not a target of this package: it is langchain-core's and "
        "langchain-openai's work per call, which `ChatLlamaSwap` inherits as `ChatOpenAI` does.",
        "",
        langchain_share(concurrency),
        "",
    ]
    if plot_name:
        parts += [f"![latency and throughput against concurrency]({plot_name})", ""]
    else:
        parts += ["(no plot: matplotlib is not installed in .venv)", ""]
    return "\n".join(parts)
