"""Interleaved A/B timing: our call against its nearest peer, in the same process and run.

Absolute timings on a shared 2-core machine drift by tens of percent between minutes; a ratio
taken from alternating batches of both sides cancels most of that drift. Each round times one
batch of ours and one batch of the peer (the order flips every round, so neither side always
runs on a warmer cache or a quieter machine), and the result keeps:

- the per-call median and IQR of each side over the rounds;
- the ratio of the two medians (ours / peer; lower is better, 1.00 is "no overhead");
- the median and IQR of the per-round paired ratios, which is what drift cannot fake.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

SyncFn = Callable[[], object]
AsyncFn = Callable[[], Awaitable[object]]
T = TypeVar("T")

_LOOP: asyncio.AbstractEventLoop | None = None


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on the bench's one event loop.

    ``ChatOpenAI`` keeps a process-wide cached async httpx client whose connections die
    with the loop that opened them; a fresh ``asyncio.run`` per case would make the peer
    fail with "Event loop is closed". One loop for the whole run is what an app has.
    """
    global _LOOP
    if _LOOP is None or _LOOP.is_closed():
        _LOOP = asyncio.new_event_loop()
    return _LOOP.run_until_complete(coro)


def close_loop() -> None:
    """Close the shared loop at the end of the run."""
    global _LOOP
    if _LOOP is not None and not _LOOP.is_closed():
        _LOOP.run_until_complete(_LOOP.shutdown_asyncgens())
        _LOOP.close()
    _LOOP = None


@dataclass(frozen=True)
class Spread:
    """Median and quartiles of a sample."""

    median: float
    q1: float
    q3: float

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1

    @classmethod
    def of(cls, values: list[float]) -> Spread:
        if len(values) == 1:
            return cls(values[0], values[0], values[0])
        q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
        return cls(q2, q1, q3)


@dataclass
class Result:
    """One comparison: ours against the peer."""

    name: str
    ours_label: str
    peer_label: str
    unit: str  # what one timed call is
    batch: int
    rounds: int
    ours: Spread  # wall seconds per call
    peer: Spread
    paired: Spread  # per-round ours/peer, wall
    ours_cpu: Spread  # client-process CPU seconds per call
    peer_cpu: Spread
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        """Wall time, ours / peer, of the medians."""
        return self.ours.median / self.peer.median

    @property
    def cpu_ratio(self) -> float:
        """Client CPU time, ours / peer: the overhead with the server's share taken out."""
        return self.ours_cpu.median / self.peer_cpu.median if self.peer_cpu.median else 0.0

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ratio"] = self.ratio
        data["cpu_ratio"] = self.cpu_ratio
        for key in ("ours", "peer", "paired", "ours_cpu", "peer_cpu"):
            data[key]["iqr"] = getattr(self, key).iqr
        return data


CALIBRATION_CALLS = 5


def _freeze() -> None:
    """Move everything alive now (imports, clients, warm caches) out of the GC's reach.

    Each batch starts with ``gc.collect()`` so one side never pays for the other's
    garbage; with LangChain and LlamaIndex imported a full collection takes ~0.2 s, which
    would eat the time budget. Frozen objects are skipped, so the per-batch collection only
    walks what the calls themselves allocated.
    """
    gc.collect()
    gc.freeze()


def _warm(ours: SyncFn, peer: SyncFn, calls: int, seconds: float) -> None:
    """Untimed pairs of calls: up to ``calls`` pairs, stopping after ``seconds``."""
    deadline = time.perf_counter() + seconds
    for _ in range(calls):
        ours()
        peer()
        if time.perf_counter() > deadline:
            break


async def _awarm(ours: AsyncFn, peer: AsyncFn, calls: int, seconds: float) -> None:
    deadline = time.perf_counter() + seconds
    for _ in range(calls):
        await ours()
        await peer()
        if time.perf_counter() > deadline:
            break


def _calibrate(fn: SyncFn, target_s: float, max_batch: int) -> int:
    """Calls per batch so that a batch lasts about ``target_s`` (median of a few calls)."""
    times = []
    for _ in range(CALIBRATION_CALLS):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    one = max(statistics.median(times), 1e-6)
    return max(1, min(max_batch, round(target_s / one)))


async def _acalibrate(fn: AsyncFn, target_s: float, max_batch: int) -> int:
    times = []
    for _ in range(CALIBRATION_CALLS):
        started = time.perf_counter()
        await fn()
        times.append(time.perf_counter() - started)
    one = max(statistics.median(times), 1e-6)
    return max(1, min(max_batch, round(target_s / one)))


Sample = tuple[float, float]  # (wall seconds, this process's CPU seconds) per call


def _batch(fn: SyncFn, n: int) -> Sample:
    gc.collect()  # the other side's garbage is not ours to pay for
    wall, cpu = time.perf_counter_ns(), time.process_time_ns()
    for _ in range(n):
        fn()
    return (time.perf_counter_ns() - wall) / n / 1e9, (time.process_time_ns() - cpu) / n / 1e9


async def _abatch(fn: AsyncFn, n: int) -> Sample:
    gc.collect()
    wall, cpu = time.perf_counter_ns(), time.process_time_ns()
    for _ in range(n):
        await fn()
    return (time.perf_counter_ns() - wall) / n / 1e9, (time.process_time_ns() - cpu) / n / 1e9


def _result(
    name: str,
    labels: tuple[str, str],
    unit: str,
    batch: int,
    samples: tuple[list[Sample], list[Sample]],
    note: str,
) -> Result:
    ours = [w for w, _ in samples[0]]
    peer = [w for w, _ in samples[1]]
    return Result(
        name=name,
        ours_label=labels[0],
        peer_label=labels[1],
        unit=unit,
        batch=batch,
        rounds=len(ours),
        ours=Spread.of(ours),
        peer=Spread.of(peer),
        paired=Spread.of([a / b for a, b in zip(ours, peer, strict=True)]),
        ours_cpu=Spread.of([c for _, c in samples[0]]),
        peer_cpu=Spread.of([c for _, c in samples[1]]),
        note=note,
    )


def compare(
    name: str,
    ours: SyncFn,
    peer: SyncFn,
    *,
    labels: tuple[str, str],
    unit: str = "call",
    rounds: int = 20,
    warmup: int = 20,
    warmup_seconds: float = 1.0,
    batch_seconds: float = 0.12,
    max_batch: int = 500,
    note: str = "",
) -> Result:
    """Time two blocking callables in alternating batches (see the module docstring)."""
    _warm(ours, peer, warmup, warmup_seconds)
    _freeze()
    batch = min(
        _calibrate(ours, batch_seconds, max_batch), _calibrate(peer, batch_seconds, max_batch)
    )
    a: list[Sample] = []
    b: list[Sample] = []
    for r in range(rounds):
        if r % 2 == 0:
            a.append(_batch(ours, batch))
            b.append(_batch(peer, batch))
        else:
            b.append(_batch(peer, batch))
            a.append(_batch(ours, batch))
    return _result(name, labels, unit, batch, (a, b), note)


async def acompare(
    name: str,
    ours: AsyncFn,
    peer: AsyncFn,
    *,
    labels: tuple[str, str],
    unit: str = "call",
    rounds: int = 20,
    warmup: int = 20,
    warmup_seconds: float = 1.0,
    batch_seconds: float = 0.12,
    max_batch: int = 500,
    note: str = "",
) -> Result:
    """The async twin of :func:`compare` (one awaited call at a time)."""
    await _awarm(ours, peer, warmup, warmup_seconds)
    _freeze()
    batch = min(
        await _acalibrate(ours, batch_seconds, max_batch),
        await _acalibrate(peer, batch_seconds, max_batch),
    )
    a: list[Sample] = []
    b: list[Sample] = []
    for r in range(rounds):
        if r % 2 == 0:
            a.append(await _abatch(ours, batch))
            b.append(await _abatch(peer, batch))
        else:
            b.append(await _abatch(peer, batch))
            a.append(await _abatch(ours, batch))
    return _result(name, labels, unit, batch, (a, b), note)


async def _burst(fn: AsyncFn, total: int, in_flight: int) -> Sample:
    """Wall and CPU seconds to finish ``total`` calls with at most ``in_flight`` outstanding."""
    gate = asyncio.Semaphore(in_flight)

    async def one() -> None:
        async with gate:
            await fn()

    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one() for _ in range(total)))
    return time.perf_counter() - wall, time.process_time() - cpu


async def acompare_throughput(
    name: str,
    ours: AsyncFn,
    peer: AsyncFn,
    *,
    labels: tuple[str, str],
    total: int = 200,
    in_flight: int = 32,
    rounds: int = 4,
    note: str = "",
) -> Result:
    """Wall time of ``total`` concurrent calls per side, alternating; seconds per burst."""
    await _burst(ours, in_flight, in_flight)  # open the pools to full width first
    await _burst(peer, in_flight, in_flight)
    _freeze()
    a: list[Sample] = []
    b: list[Sample] = []
    for r in range(rounds):
        if r % 2 == 0:
            a.append(await _burst(ours, total, in_flight))
            b.append(await _burst(peer, total, in_flight))
        else:
            b.append(await _burst(peer, total, in_flight))
            a.append(await _burst(ours, total, in_flight))
    result = _result(name, labels, f"burst of {total}, {in_flight} in flight", 1, (a, b), note)
    result.extra = {
        "total": total,
        "in_flight": in_flight,
        "ours_rps": total / result.ours.median,
        "peer_rps": total / result.peer.median,
    }
    return result


def rotate(
    fns: dict[str, SyncFn],
    *,
    rounds: int = 20,
    warmup: int = 20,
    warmup_seconds: float = 1.0,
    batch_seconds: float = 0.12,
    max_batch: int = 500,
) -> tuple[int, dict[str, list[Sample]]]:
    """Time several callables in one run, one batch of each per round, the order rotating.

    For a comparison of more than two sides (a call straight to the upstream, through
    llama-swap, through our client): every side's samples come from the same rounds, so
    drift on the machine moves them all together.
    """
    names = list(fns)
    deadline = time.perf_counter() + warmup_seconds
    for _ in range(warmup):
        for fn in fns.values():
            fn()
        if time.perf_counter() > deadline:
            break
    _freeze()
    batch = min(_calibrate(fn, batch_seconds, max_batch) for fn in fns.values())
    samples: dict[str, list[Sample]] = {name: [] for name in names}
    for r in range(rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(_batch(fns[name], batch))
    return batch, samples


def pair(
    name: str,
    run: tuple[int, dict[str, list[Sample]]],
    ours: str,
    peer: str,
    *,
    unit: str = "call",
    note: str = "",
) -> Result:
    """A :class:`Result` for two sides of a :func:`rotate` run."""
    batch, samples = run
    return _result(name, (ours, peer), unit, batch, (samples[ours], samples[peer]), note)
