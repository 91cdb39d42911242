"""The table on stdout and the JSON record in ``out/``, with what the machine was doing."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.harness import Result

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
    """A fixed-width table: wall medians, their ratio, the paired IQR, the client CPU ratio."""
    head = ("case", "ours (median ± IQR)", "peer (median ± IQR)", "ratio", "paired IQR", "cpu")
    rows = [head]
    for r in results:
        rows.append(
            (
                r.name,
                f"{_fmt_time(r.ours.median)} ± {_fmt_time(r.ours.iqr)}",
                f"{_fmt_time(r.peer.median)} ± {_fmt_time(r.peer.iqr)}",
                f"{r.ratio:.2f}",
                f"{r.paired.q1:.2f}-{r.paired.q3:.2f}",
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
        "ratio = ours / peer wall time per call (lower is better, 1.00 = no overhead);",
        "paired IQR = quartiles of the per-round ratios; cpu = ours / peer client CPU time.",
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
) -> Path:
    """Write the full record (raw spreads and ratios) for later comparison."""
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": info,
        "settings": settings,
        "results": [r.as_json() for r in results],
    }
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path
