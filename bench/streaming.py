"""Time to first token and to last token of a long streamed answer, ours against the peer.

A user watching a stream feels the first token; a pipeline feels the last. Each round drains
one stream per side (the order flips every round) and notes when the first chunk with text
arrived and when the stream ended, both from the moment the call was made.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterable

from bench.harness import Result, Sample, _result

Streamer = Callable[[], Iterable[str]]  # yields each chunk's text


def _one(stream: Streamer) -> tuple[Sample, Sample]:
    """((first-token wall, cpu), (last-token wall, cpu)) for one drained stream."""
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    first: Sample | None = None
    for text in stream():
        if first is None and text:
            first = (time.perf_counter() - wall, time.process_time() - cpu)
    last = (time.perf_counter() - wall, time.process_time() - cpu)
    if first is None:
        raise RuntimeError("the stream carried no text")
    return first, last


def compare_stream(
    name: str,
    ours: Streamer,
    peer: Streamer,
    *,
    labels: tuple[str, str],
    rounds: int,
    warmup: int = 3,
) -> list[Result]:
    """Two results: ``<name> first token`` and ``<name> last token``."""
    for _ in range(warmup):
        _one(ours)
        _one(peer)
    firsts: tuple[list[Sample], list[Sample]] = ([], [])
    lasts: tuple[list[Sample], list[Sample]] = ([], [])
    for r in range(rounds):
        sides = ((0, ours), (1, peer)) if r % 2 == 0 else ((1, peer), (0, ours))
        for side, fn in sides:
            first, last = _one(fn)
            firsts[side].append(first)
            lasts[side].append(last)
    return [
        _result(f"{name} first token", labels, "time to first token", 1, firsts, ""),
        _result(f"{name} last token", labels, "time to last token", 1, lasts, ""),
    ]
