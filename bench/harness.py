"""Interleaved A/B timing: our call against its nearest peer, in the same process and run.

Absolute timings on a shared 2-core virtual machine drift by tens of percent between
minutes, and the hypervisor steals whole milliseconds at a time. A ratio only survives that
if both sides see the same machine, so the sides alternate call by call: a round is ``n``
pairs, each pair one call of ours and one of the peer's back to back (who goes first flips
every pair and every round), each call timed on its own and summed per side. A steal or a
busy neighbour lands on both sides of a pair within milliseconds of each other. The result
keeps:

- the median call of each side per round (a stolen millisecond lands on one call, and the
  median of a round leaves it out), and the median and IQR of those over the rounds;
- the ratio (ours / peer; lower is better, 1.00 is "no overhead"): the median of the
  per-round paired ratios, which is what drift cannot fake, with their IQR;
- the mean ratio (every call's time summed per side), which a stolen millisecond does move.
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
    # ours / peer of the summed wall time of every timed call: the mean, which a stolen
    # millisecond on one side moves and the median does not (None where calls are bursts)
    mean_ratio: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        """Wall time, ours / peer: the median of the per-round ratios.

        Each round's ratio compares calls made side by side, so a slow minute on the
        machine moves both and cancels; a ratio of the two sides' own medians would not.
        """
        return self.paired.median

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


AA_NAME = "A/A: ChatOpenAI invoke"
"""The case that times one client against a second instance of itself (``cases.aa_invoke``);
the report reads its ratio as the run's resolution."""

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


@dataclass
class Round:
    """One round of every side: per side the median call and the total wall time."""

    medians: list[Sample]
    totals: list[float]


def _summarise(calls: list[list[tuple[int, int]]]) -> Round:
    """Each side's median call (wall and CPU apart) and summed wall time, in seconds."""
    medians: list[Sample] = []
    totals: list[float] = []
    for side in calls:
        wall = statistics.median(w for w, _ in side) / 1e9
        medians.append((wall, statistics.median(c for _, c in side) / 1e9))
        totals.append(sum(w for w, _ in side) / 1e9)
    return Round(medians, totals)


def _rotation(fns: list[SyncFn], n: int, start: int) -> Round:
    """One round: ``n`` turns, each calling every side once, who goes first rotating.

    Every call is timed on its own. The collector runs once before the round, not between
    the sides: interleaved, both sides' garbage is collected in the same passes, as in an
    app that uses both.
    """
    sides = len(fns)
    calls: list[list[tuple[int, int]]] = [[] for _ in fns]
    clock, cpu_clock = time.perf_counter_ns, time.process_time_ns
    gc.collect()
    for turn in range(n):
        shift = (start + turn) % sides
        for step in range(sides):
            side = (shift + step) % sides
            fn = fns[side]
            w, c = clock(), cpu_clock()
            fn()
            calls[side].append((clock() - w, cpu_clock() - c))
    return _summarise(calls)


async def _arotation(fns: list[AsyncFn], n: int, start: int) -> Round:
    """The async twin of :func:`_rotation` (one awaited call at a time)."""
    sides = len(fns)
    calls: list[list[tuple[int, int]]] = [[] for _ in fns]
    clock, cpu_clock = time.perf_counter_ns, time.process_time_ns
    gc.collect()
    for turn in range(n):
        shift = (start + turn) % sides
        for step in range(sides):
            side = (shift + step) % sides
            fn = fns[side]
            w, c = clock(), cpu_clock()
            await fn()
            calls[side].append((clock() - w, cpu_clock() - c))
    return _summarise(calls)


def _result(
    name: str,
    labels: tuple[str, str],
    unit: str,
    batch: int,
    samples: tuple[list[Sample], list[Sample]],
    note: str,
    totals: tuple[float, float] | None = None,
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
        mean_ratio=totals[0] / totals[1] if totals and totals[1] else None,
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
    """Time two blocking callables, alternating call by call (see the module docstring)."""
    _warm(ours, peer, warmup, warmup_seconds)
    _freeze()
    batch = min(
        _calibrate(ours, batch_seconds, max_batch), _calibrate(peer, batch_seconds, max_batch)
    )
    a: list[Sample] = []
    b: list[Sample] = []
    totals = [0.0, 0.0]
    for r in range(rounds):
        one = _rotation([ours, peer], batch, r)
        a.append(one.medians[0])
        b.append(one.medians[1])
        totals = [t + x for t, x in zip(totals, one.totals, strict=True)]
    return _result(name, labels, unit, batch, (a, b), note, (totals[0], totals[1]))


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
    totals = [0.0, 0.0]
    for r in range(rounds):
        one = await _arotation([ours, peer], batch, r)
        a.append(one.medians[0])
        b.append(one.medians[1])
        totals = [t + x for t, x in zip(totals, one.totals, strict=True)]
    return _result(name, labels, unit, batch, (a, b), note, (totals[0], totals[1]))


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


@dataclass
class Rotation:
    """What :func:`rotate` measured: per side the per-round medians and the summed time."""

    batch: int
    samples: dict[str, list[Sample]]
    totals: dict[str, float]


def rotate(
    fns: dict[str, SyncFn],
    *,
    rounds: int = 20,
    warmup: int = 20,
    warmup_seconds: float = 1.0,
    batch_seconds: float = 0.12,
    max_batch: int = 500,
) -> Rotation:
    """Time several callables in one run, one call of each per turn, the order rotating.

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
    totals = dict.fromkeys(names, 0.0)
    for r in range(rounds):
        one = _rotation(list(fns.values()), batch, r)
        for name, sample, total in zip(names, one.medians, one.totals, strict=True):
            samples[name].append(sample)
            totals[name] += total
    return Rotation(batch, samples, totals)


def pair(
    name: str,
    run: Rotation,
    ours: str,
    peer: str,
    *,
    unit: str = "call",
    note: str = "",
) -> Result:
    """A :class:`Result` for two sides of a :func:`rotate` run."""
    sides = (run.samples[ours], run.samples[peer])
    totals = (run.totals[ours], run.totals[peer])
    return _result(name, (ours, peer), unit, run.batch, sides, note, totals)
