"""Swap scheduling for the test double: groups, joined loads, eviction, admission.

Follows llama-swap's group router: a model that is ready is served at once; a
model that is not gets one shared swap (evict per group rules once the evicted
models have no in-flight requests, then start). Swaps run one at a time, which
is a simplification of the real FIFO scheduler that may overlap disjoint swaps.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

from .config import Config
from .errors import LoadError, SwapError
from .logs import Logs
from .process import READY, STOPPED, Process


class TooManyRequestsError(SwapError):
    """Over ``concurrencyLimit``; rendered as v250's bare 429."""

    def __init__(self) -> None:
        super().__init__(429, "Too many requests", "concurrency_limit")


class Lease:
    """An admitted request: counts towards concurrencyLimit until released."""

    def __init__(self, router: Router, model_id: str) -> None:
        self.router = router
        self.model_id = model_id
        self.serving = False
        self.released = False

    def release(self) -> None:
        """Give back admission (and the in-flight slot once serving)."""
        if self.released:
            return
        self.released = True
        self.router._release(self)


class Router:
    """Owns every local :class:`Process` and decides who runs."""

    name = "group"

    def __init__(self, cfg: Config, logs: Logs, on_state: Callable[[str, str, str], None]) -> None:
        self.cfg = cfg
        self.log = logs.log
        self.processes: dict[str, Process] = {
            mid: Process(mc, logs.log, logs.for_model(mid), self._state_changed)
            for mid, mc in cfg.models.items()
        }
        self._on_state = on_state
        self._admitted: dict[str, int] = dict.fromkeys(cfg.models, 0)
        self._swaps: dict[str, asyncio.Future[None]] = {}
        self._swap_lock = asyncio.Lock()
        self._evicting: set[str] = set()
        self._pulse = asyncio.Event()
        self._shutting_down = False
        self._tasks: set[asyncio.Task[None]] = set()

    # -- bookkeeping ---------------------------------------------------------
    def _notify(self) -> None:
        self._pulse.set()
        self._pulse = asyncio.Event()

    def _state_changed(self, model_id: str, old: str, new: str) -> None:
        self._notify()
        self._on_state(model_id, old, new)

    def running_models(self) -> dict[str, str]:
        """Model ID -> state for every process that is not stopped."""
        return {mid: p.state for mid, p in sorted(self.processes.items()) if p.state != STOPPED}

    def eviction_for(self, target: str, running: list[str]) -> list[str]:
        """Which running models must stop before ``target`` may run (group rules)."""
        tg = self.cfg.model_group[target]
        tcfg = self.cfg.groups[tg]
        out: list[str] = []
        for mid in running:
            if mid == target or mid in out:
                continue
            og = self.cfg.model_group[mid]
            same_group_swap = og == tg and tcfg.swap
            cross_group = og != tg and tcfg.exclusive and not self.cfg.groups[og].persistent
            if same_group_swap or cross_group:
                out.append(mid)
        return out

    # -- admission -----------------------------------------------------------
    def admit(self, model_id: str) -> Lease:
        """Count the request against concurrencyLimit (queued + loading + running)."""
        if self._shutting_down:
            raise LoadError(f"{self.name} is shutting down")
        limit = self.cfg.models[model_id].concurrency_limit
        if self._admitted[model_id] >= limit:
            raise TooManyRequestsError()
        self._admitted[model_id] += 1
        return Lease(self, model_id)

    def _release(self, lease: Lease) -> None:
        self._admitted[lease.model_id] -= 1
        proc = self.processes[lease.model_id]
        if lease.serving:
            proc.inflight -= 1
            proc.touch()
        self._notify()

    async def wait_ready(self, lease: Lease) -> None:
        """Block until the leased model is ready to serve, swapping if needed."""
        model_id = lease.model_id
        proc = self.processes[model_id]
        while True:
            if self._shutting_down:
                raise LoadError(f"{self.name} is shutting down")
            if proc.state == READY and model_id not in self._evicting:
                proc.inflight += 1
                proc.touch()
                lease.serving = True
                return
            fut = self._swaps.get(model_id)
            if fut is None or fut.done():
                fut = asyncio.get_running_loop().create_future()
                fut.add_done_callback(_consume)
                self._swaps[model_id] = fut
                self._spawn(self._run_swap(model_id, fut))
            await asyncio.shield(fut)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_swap(self, target: str, fut: asyncio.Future[None]) -> None:
        try:
            async with self._swap_lock:
                if fut.done():
                    return
                while True:
                    running = [m for m in self.running_models() if m != target]
                    evict = self.eviction_for(target, running)
                    if all(self.processes[m].inflight == 0 for m in evict):
                        break
                    self.log.debug(f"swap to {target} waits for in-flight requests on {evict}")
                    await self._pulse.wait()
                    if fut.done():
                        return
                self.log.debug(
                    f"{self.name}: starting swap for model {target}, evicting {_go_list(evict)}"
                )
                self._evicting.update(evict)
                try:
                    grace = float(self.cfg.health_check_timeout)
                    await asyncio.gather(*(self.processes[m].stop(grace) for m in evict))
                finally:
                    self._evicting.difference_update(evict)
                if fut.done():
                    return
                await self.processes[target].ensure_ready()
            if not fut.done():
                fut.set_result(None)
        except LoadError as err:
            self.log.warn(f"{self.name}: starting {target} failed: {err.reason}")
            if not fut.done():
                fut.set_exception(err)
        except Exception as err:  # pragma: no cover - defensive
            if not fut.done():
                fut.set_exception(LoadError(str(err)))
        finally:
            if self._swaps.get(target) is fut:
                del self._swaps[target]
            self._notify()

    # -- unload / shutdown ---------------------------------------------------
    async def unload(self, model_ids: list[str] | None = None) -> None:
        """Stop models (all when None); queued/loading requests for them fail."""
        targets = sorted(self.processes) if model_ids is None else model_ids
        for mid in targets:
            fut = self._swaps.get(mid)
            if fut is not None and not fut.done():
                fut.set_exception(LoadError(f"{self.name}: model unloaded"))
        await asyncio.gather(
            *(self.processes[m].stop(self.processes[m].mc.unload_timeout) for m in targets)
        )
        self._notify()

    async def shutdown(self) -> None:
        """Stop everything for good (double is exiting)."""
        self._shutting_down = True
        for fut in self._swaps.values():
            if not fut.done():
                fut.set_exception(LoadError(f"{self.name} is shutting down"))
        await asyncio.gather(
            *(p.shutdown(p.mc.unload_timeout) for p in self.processes.values()),
            return_exceptions=True,
        )
        for task in list(self._tasks):
            task.cancel()
        self._notify()


def _go_list(items: list[str]) -> str:
    return "[" + " ".join(items) + "]"


def _consume(fut: asyncio.Future[None]) -> None:
    """Mark a swap's exception as retrieved (joined waiters may all be gone)."""
    if not fut.cancelled():
        with contextlib.suppress(BaseException):
            fut.exception()
