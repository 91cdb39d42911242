"""llama-swap's performance monitor and its ``GET /metrics`` text, as v250 writes them.

Every ``performance.every`` (5 s by default, at least 5 s) one host sample is read from
``/proc`` (per-core CPU use since the previous sample, memory, swap, load average, network
counters except ``lo``); ``/metrics`` renders the latest in ``internal/perf/prometheus.go``'s
order and format, and is empty until the first sample. Linux only; no GPU stats. Memory
"used" is total minus free, buffers and page cache, as gopsutil computes it.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from pathlib import Path

MB = 1024 * 1024


@dataclass
class Sample:
    cpu: list[float]
    mem_total_mb: int
    mem_used_mb: int
    mem_free_mb: int
    swap_total_mb: int
    swap_used_mb: int
    load: tuple[float, float, float]
    net: list[tuple[str, int, int]] = field(default_factory=list)


def _cpu_times() -> list[tuple[float, float]]:
    """(busy, total) jiffies per core from /proc/stat."""
    out = []
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("cpu") and line[3:4].isdigit():
            values = [float(v) for v in line.split()[1:]]
            idle = values[3] + (values[4] if len(values) > 4 else 0.0)
            out.append((sum(values) - idle, sum(values)))
    return out


def _meminfo() -> dict[str, int]:
    info = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        key, _, rest = line.partition(":")
        with contextlib.suppress(ValueError, IndexError):
            info[key] = int(rest.split()[0]) * 1024
    return info


def _loadavg() -> tuple[float, float, float]:
    """/proc/loadavg's three figures as written (two decimals), as gopsutil reads them."""
    one, five, fifteen = (float(v) for v in Path("/proc/loadavg").read_text().split()[:3])
    return one, five, fifteen


def _net() -> list[tuple[str, int, int]]:
    out = []
    for line in Path("/proc/net/dev").read_text().splitlines()[2:]:
        name, _, rest = line.partition(":")
        fields = rest.split()
        if name.strip() != "lo" and len(fields) >= 9:
            out.append((name.strip(), int(fields[0]), int(fields[8])))
    return out


class Monitor:
    """Samples the host every ``every`` seconds while the double runs."""

    def __init__(self, every: float) -> None:
        self.every = every
        self.latest: Sample | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        previous = _cpu_times()
        while True:
            await asyncio.sleep(self.every)
            with contextlib.suppress(OSError, ValueError):
                now = _cpu_times()
                cpu = [
                    100.0 * (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0
                    for (b0, t0), (b1, t1) in zip(previous, now, strict=False)
                ]
                previous = now
                mem = _meminfo()
                total, free = mem.get("MemTotal", 0), mem.get("MemFree", 0)
                cached = mem.get("Cached", 0) + mem.get("SReclaimable", 0)
                swap_total = mem.get("SwapTotal", 0)
                self.latest = Sample(
                    cpu=cpu,
                    mem_total_mb=total // MB,
                    mem_used_mb=(total - free - mem.get("Buffers", 0) - cached) // MB,
                    mem_free_mb=free // MB,
                    swap_total_mb=swap_total // MB,
                    swap_used_mb=(swap_total - mem.get("SwapFree", 0)) // MB,
                    load=_loadavg(),
                    net=_net(),
                )

    def render(self) -> str:
        """The Prometheus text of the latest sample (``""`` before the first)."""
        s = self.latest
        if s is None:
            return ""
        lines: list[str] = []

        def metric(name: str, help_text: str, kind: str, samples: list[tuple[str, str]]) -> None:
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} {kind}")
            lines.extend(f"{name}{labels} {value}" for labels, value in samples)

        metric(
            "llamaswap_cpu_util_percent",
            "CPU utilization per core (0-100)",
            "gauge",
            [(f'{{core="{i}"}}', _g(p)) for i, p in enumerate(s.cpu)],
        )
        for name, help_text, mb in (
            ("llamaswap_memory_total_bytes", "Total memory in bytes", s.mem_total_mb),
            ("llamaswap_memory_used_bytes", "Used memory in bytes", s.mem_used_mb),
            ("llamaswap_memory_free_bytes", "Free memory in bytes", s.mem_free_mb),
            ("llamaswap_swap_total_bytes", "Total swap in bytes", s.swap_total_mb),
            ("llamaswap_swap_used_bytes", "Used swap in bytes", s.swap_used_mb),
        ):
            metric(name, help_text, "gauge", [("", str(mb * MB))])
        metric(
            "llamaswap_load_average",
            "Load average",
            "gauge",
            [
                (f'{{interval="{k}"}}', _g(v))
                for k, v in zip(("1m", "5m", "15m"), s.load, strict=True)
            ],
        )
        if s.net:
            rows: list[tuple[str, str]] = []
            for iface, recv, sent in s.net:
                name = iface.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
                rows.append((f'{{interface="{name}",direction="recv"}}', str(recv)))
                rows.append((f'{{interface="{name}",direction="sent"}}', str(sent)))
            metric(
                "llamaswap_network_bytes_total", "Total network bytes transferred", "counter", rows
            )
        return "\n".join(lines) + "\n"


def _g(value: float) -> str:
    """Go's ``%g`` for the values these gauges take."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def parse_every(value: object) -> float:
    """``performance.every`` in seconds: ``"5s"``, ``"1m"``, ``"500ms"``; default 5 s."""
    if value is None:
        return 5.0
    text = str(value).strip()
    for suffix, scale in (("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * scale
    return float(text) / 1e9  # a bare number is nanoseconds, as Go's time.Duration
