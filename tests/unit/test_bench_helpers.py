"""The bench's pure helpers: RSS reading, the leak verdict, error kinds, target checks.

No timing here (the bench has no timed tests); these pin how a measured number becomes the
pass/miss a reader of bench/RESULTS.md sees.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import openai
import pytest

from bench import harness
from bench.concurrency import (
    AA_PAIR,
    CLIENTS,
    ROUND_PAIRS,
    SDK,
    Burst,
    LevelStats,
    drop_idle_connections,
    error_kind,
    round_order,
    rounds_at,
    summarise,
)
from bench.harness import AA_NAME, Result, Spread
from bench.imports import child_env, time_import
from bench.memory import NOISE_BYTES, growth_ok, rss_bytes
from bench.report import (
    langchain_share,
    ratio_checks,
    resolution,
    throughput_checks,
    throughput_resolution,
)


def test_rss_bytes_reads_vmrss_in_kib(tmp_path: Path) -> None:
    status = tmp_path / "status"
    status.write_text("Name:\tpython\nVmPeak:\t  9999 kB\nVmRSS:\t  2048 kB\nThreads:\t1\n")
    assert rss_bytes(status) == 2048 * 1024


def test_growth_beyond_the_peer_plus_noise_is_a_leak() -> None:
    assert growth_ok(NOISE_BYTES, 0)
    assert not growth_ok(NOISE_BYTES + 1, 0)
    assert growth_ok(5 * NOISE_BYTES, 4 * NOISE_BYTES)  # the peer grows as much: not ours


def test_llama_swaps_429_is_told_apart_from_other_errors() -> None:
    request = httpx.Request("POST", "http://x/v1/chat/completions")
    limited = openai.RateLimitError(
        "Too many requests", response=httpx.Response(429, request=request), body=None
    )
    assert error_kind(limited) == "429"
    assert error_kind(openai.APIConnectionError(request=request)) == "APIConnectionError"


def test_summary_counts_only_answered_calls_in_throughput() -> None:
    bursts = [
        Burst(wall=1.0, latencies=[0.5] * 8, errors={"429": 2}),
        Burst(wall=2.0, latencies=[1.0] * 10, errors={}),
    ]
    stats = summarise("ChatLlamaSwap", 10, bursts)
    assert stats.rps == 6.5  # median of 8/1.0 and 10/2.0
    assert stats.errors == {"429": 2}
    assert stats.p50 == 1.0  # 8 of 18 calls took 0.5 s, 10 took 1.0 s


def _result(name: str, ours: float, peer: float) -> Result:
    one = Spread(1.0, 1.0, 1.0)
    ratio = ours / peer
    return Result(
        name=name,
        ours_label="ours",
        peer_label="peer",
        unit="call",
        batch=1,
        rounds=1,
        ours=Spread(ours, ours, ours),
        peer=Spread(peer, peer, peer),
        paired=Spread(ratio, ratio, ratio),
        ours_cpu=one,
        peer_cpu=one,
    )


def test_ratio_checks_pass_at_the_target_and_say_how_far_a_miss_is() -> None:
    met, missed = ratio_checks(
        [_result("langchain invoke", 1.02, 1.0), _result("import llamaswap", 1.5, 1.0)]
    )
    assert met.passed and met.target == "<= 1.02"
    assert not missed.passed and missed.detail == "over by 0.30"
    assert ratio_checks([_result("no target for this", 9.0, 1.0)]) == []


def test_the_aa_case_is_reported_as_the_runs_resolution_not_as_a_target() -> None:
    aa = _result(AA_NAME, 1.013, 1.0)
    (line, _) = resolution([aa, _result("langchain invoke", 1.0, 1.0)])
    assert "measured 1.013" in line and "paired IQR 1.01-1.01" in line and "1 rounds" in line
    assert resolution([_result("langchain invoke", 1.0, 1.0)]) == []  # a run without it
    assert ratio_checks([aa]) == []


def test_throughput_check_fails_on_any_error_but_429() -> None:
    ours_ok = summarise("ChatLlamaSwap", 64, [Burst(1.0, [0.1] * 64, {"429": 3})])
    ours_bad = summarise("ChatLlamaSwap", 64, [Burst(1.0, [0.1] * 64, {"ReadTimeout": 1})])
    peer = summarise("ChatOpenAI", 64, [Burst(1.0, [0.1] * 64, {})])
    (ok,) = throughput_checks([ours_ok, peer])
    (bad,) = throughput_checks([ours_bad, peer])
    assert ok.passed and "3 x 429" in ok.detail
    assert not bad.passed and "ReadTimeout" in bad.detail


def _rounds(client: str, rates: list[float]) -> LevelStats:
    """A client's bursts of 100 calls at 64 in flight, one per round at these req/s."""
    return summarise(client, 64, [Burst(100 / r, [0.1] * 100, {}) for r in rates])


def test_throughput_targets_pair_each_of_ours_with_its_nearest_peer() -> None:
    stats = [
        _rounds("ChatLlamaSwap", [60.0]),
        _rounds("ChatOpenAI", [60.0]),
        _rounds(SDK, [80.0]),
        _rounds("AsyncOpenAI", [80.0]),
    ]
    checks = throughput_checks(stats)
    assert [c.name for c in checks] == [
        "throughput, 64 in flight: ChatLlamaSwap / ChatOpenAI",
        f"throughput, 64 in flight: {SDK} / AsyncOpenAI",
    ]
    assert all(c.passed and c.measured == "1.00" for c in checks)


def test_throughput_ratio_is_the_median_of_same_round_ratios() -> None:
    """Rounds where both sides of a pair stalled pair up, instead of skewing the medians."""
    ours = _rounds("ChatLlamaSwap", [100.0, 100.0, 30.0, 30.0])
    peer = _rounds("ChatOpenAI", [105.0, 105.0, 28.0, 28.0])
    assert (ours.rps, peer.rps) == (65.0, 66.5)  # medians alone would give 0.98
    (check,) = throughput_checks([ours, peer])
    assert check.measured == "1.01"  # median of 0.95, 0.95, 1.07, 1.07
    assert "paired IQR 0.95-1.07" in check.detail


def test_langchain_share_sets_both_langchain_clients_against_the_raw_sdk() -> None:
    stats = [
        _rounds("ChatLlamaSwap", [70.0, 72.0]),
        _rounds("ChatOpenAI", [75.0, 72.0]),
        _rounds("AsyncOpenAI", [100.0, 90.0]),
    ]
    table = langchain_share(stats)
    assert table.splitlines()[-1].startswith("| 64 | 0.78 | 0.75 |")
    assert langchain_share(stats[:2]) == "(not measured)"


def test_round_order_runs_each_pair_back_to_back_and_balances_who_goes_first() -> None:
    cycle = 2 * len(ROUND_PAIRS)
    orders = [round_order(r) for r in range(cycle)]
    for order in orders:
        assert sorted(order) == sorted(CLIENTS)
        for ours, peer in ROUND_PAIRS:
            assert abs(order.index(ours) - order.index(peer)) == 1
    for client in CLIENTS:  # every place once per cycle
        assert sorted(order.index(client) for order in orders) == list(range(cycle))


def test_the_aa_pair_is_the_throughput_resolution_not_a_target() -> None:
    first, second = AA_PAIR
    stats = [
        _rounds("ChatLlamaSwap", [60.0]),
        _rounds("ChatOpenAI", [60.0]),
        _rounds(first, [100.0, 90.0, 80.0]),
        _rounds(second, [100.0, 100.0, 100.0]),
    ]
    assert [c.name for c in throughput_checks(stats)] == [
        "throughput, 64 in flight: ChatLlamaSwap / ChatOpenAI"
    ]
    (line, _) = throughput_resolution(stats)
    assert "0.90 at 64 in flight" in line and "paired IQR 0.85-0.95" in line
    assert throughput_resolution(stats[:2]) == []  # a run without it


def test_import_bench_children_write_bytecode_outside_the_source_tree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both sides import from bytecode (as a user's install does) without dirtying the tree."""
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    source = tmp_path / "src"
    source.mkdir()
    (source / "probe_mod.py").write_text("VALUE = 1\n")
    pycache = tmp_path / "pycache"
    env = child_env(str(pycache))
    env["PYTHONPATH"] = f"{source}{os.pathsep}{env['PYTHONPATH']}"
    time_import("import probe_mod", env)
    assert "PYTHONDONTWRITEBYTECODE" not in env
    assert [p.name for p in pycache.rglob("probe_mod*.pyc")], "no bytecode under the prefix"
    assert not (source / "__pycache__").exists()


def test_concurrency_summary_keeps_the_round_spread_and_client_cpu_per_request() -> None:
    slow = Burst(2.0, [0.1] * 64, {}, cpu=0.64)
    fast = Burst(0.5, [0.1] * 64, {}, cpu=0.32)
    mid = Burst(1.0, [0.1] * 62, {"429": 2}, cpu=0.32)
    ours = summarise("ChatLlamaSwap", 64, [slow, fast, mid])
    assert (ours.rps_low, ours.rps, ours.rps_high) == (32.0, 62.0, 128.0)
    assert ours.cpu_per_request == 0.005  # median of 10 ms, 5 ms, 5 ms (429s count)
    peer = summarise("ChatOpenAI", 64, [Burst(1.0, [0.1] * 64, {}, cpu=0.64)] * 3)
    (check,) = throughput_checks([ours, peer])
    assert "client CPU per request ours / peer 0.50" in check.detail


class _FakeClocks:
    """Stand-ins for the wall and CPU clocks that only the timed callables advance."""

    def __init__(self) -> None:
        self.wall = 0
        self.cpu = 0

    def call(self, name: str, wall: int, cpu: int, order: list[str]) -> Callable[[], None]:
        def fn() -> None:
            order.append(name)
            self.wall += wall
            self.cpu += cpu

        return fn


@pytest.fixture
def clocks(monkeypatch: pytest.MonkeyPatch) -> _FakeClocks:
    """The harness's wall and CPU clocks, advanced only by the timed callables."""
    fake = _FakeClocks()
    monkeypatch.setattr(time, "perf_counter_ns", lambda: fake.wall)
    monkeypatch.setattr(time, "process_time_ns", lambda: fake.cpu)
    return fake


def test_rotation_alternates_call_by_call_and_keeps_each_sides_own_time(
    clocks: _FakeClocks,
) -> None:
    order: list[str] = []
    ours = clocks.call("ours", 3_000, 1_000, order)
    peer = clocks.call("peer", 2_000, 500, order)

    first = harness._rotation([ours, peer], 4, 0)
    assert order == ["ours", "peer", "peer", "ours", "ours", "peer", "peer", "ours"]
    assert first.medians == [(3e-6, 1e-6), (2e-6, 5e-7)]
    assert first.totals == [12e-6, 8e-6]

    order.clear()
    harness._rotation([ours, peer], 1, 1)  # the next round starts with the other side
    assert order == ["peer", "ours"]


def test_a_round_keeps_the_median_call_and_the_mean_keeps_the_slow_one(
    clocks: _FakeClocks, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(harness, "_calibrate", lambda fn, target, most: 3)  # 3 calls a side
    monkeypatch.setattr(harness, "_freeze", lambda: None)
    walls = iter([1_000, 1_000, 50_000])  # the third of our calls catches a stolen stretch

    def ours() -> None:
        clocks.wall += next(walls)

    def peer() -> None:
        clocks.wall += 1_000

    result = harness.compare("case", ours, peer, labels=("a", "b"), rounds=1, warmup=0)
    assert result.ratio == 1.0
    assert result.mean_ratio == pytest.approx(52_000 / 3_000)


def test_rotate_times_every_side_in_every_turn(clocks: _FakeClocks) -> None:
    order: list[str] = []
    fns = {n: clocks.call(n, w, 0, order) for n, w in (("a", 1_000), ("b", 2_000), ("c", 4_000))}
    run = harness._rotation(list(fns.values()), 3, 0)
    assert order == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]
    assert [m for m, _ in run.medians] == [1e-6, 2e-6, 4e-6]


async def _keepalive_server(accepted: list[asyncio.StreamWriter]) -> asyncio.Server:
    """A local HTTP/1.1 server that keeps connections open; keeps each one it accepts."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client closed it: what drop_idle_connections does

    return await asyncio.start_server(serve, "127.0.0.1", 0)


def test_drop_idle_connections_makes_the_next_burst_open_new_ones() -> None:
    """What the keep-alive expiry did before a target level's burst, without the wait."""

    async def run() -> tuple[int, int, int]:
        accepted: list[asyncio.StreamWriter] = []
        server = await _keepalive_server(accepted)
        port = server.sockets[0].getsockname()[1]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            await client.get("/")
            await client.get("/")  # reuses the first connection
            reused = len(accepted)
            dropped = await drop_idle_connections()
            await client.get("/")  # the pool opens a new one, and still works
            after = len(accepted)
        server.close()
        for writer in accepted:
            writer.close()
            await writer.wait_closed()
        return reused, dropped, after

    reused, dropped, after = asyncio.run(run())
    assert (reused, dropped, after) == (1, 1, 2)


def test_the_target_levels_get_more_rounds_than_the_others() -> None:
    assert rounds_at(16, 16) == 16
    assert rounds_at(64, 16) > 16 and rounds_at(256, 16) > 16
    assert rounds_at(64, 1) <= 6 and rounds_at(256, 1) <= 6  # --quick keeps every level short
