"""``llamaswap load MODEL``: swap a model in with live progress and an estimate of time left.

The state comes from ``/api/events`` (stopped, starting, ready), the elapsed time from the
clock, and the estimate from earlier cold loads of the same model on the same llama-swap
(:mod:`llamaswap.cli.loadtimes`). Ctrl-C stops waiting and changes nothing: llama-swap
cannot cancel a load, so it finishes starting the model on its own.
"""

from __future__ import annotations

import argparse
import threading
import time

from llamaswap import LlamaSwapProvider, ModelInfo, ModelStatus
from llamaswap.cli.background import Worker
from llamaswap.cli.errors import EXIT_OK, Interrupted
from llamaswap.cli.loadtimes import LoadTimes
from llamaswap.cli.progress import LiveLine
from llamaswap.cli.terminal import Terminal

TICK = 0.1  # seconds between redraws


class StateWatch:
    """Follows one model's state in ``/api/events`` on a daemon thread."""

    def __init__(self, provider: LlamaSwapProvider, model: str) -> None:
        self.model = model
        self.state: str | None = None
        self._lock = threading.Lock()
        threading.Thread(target=self._follow, args=(provider,), name="events", daemon=True).start()

    def _follow(self, provider: LlamaSwapProvider) -> None:
        try:
            for event in provider.events():
                if isinstance(event, ModelStatus):
                    state = event.state_of(self.model)
                    if state is not None:
                        with self._lock:
                            self.state = state
        except Exception:  # no events (an older llama-swap?): the load goes on without
            return

    def current(self) -> str | None:
        """The last state seen, or None before the first snapshot."""
        with self._lock:
            return self.state


def resolve(model: str, listed: list[ModelInfo]) -> str:
    """The id llama-swap reports states under (an alias maps to its model)."""
    for info in listed:
        if info.id == model or model in info.aliases:
            return info.id
    return model  # unlisted, or unknown: load() says which


def load(provider: LlamaSwapProvider, args: argparse.Namespace, term: Terminal) -> int:
    """Load ``args.model`` and show its progress until it is ready or failed."""
    model = resolve(args.model, provider.list_models())
    was_ready = any(r.model == model and r.state == "ready" for r in provider.running())
    times = LoadTimes()
    estimate = None if was_ready else times.estimate(provider.base_url, model)
    watch = StateWatch(provider, model)
    started = time.monotonic()
    worker = Worker(lambda: provider.load(args.model), name="load")
    if was_ready:
        header = f"checking {model} (already loaded)"
    elif estimate:
        header = f"loading {model} (earlier loads took ~{estimate:.1f}s)"
    else:
        header = f"loading {model} (no earlier load remembered)"
    try:
        with LiveLine(term, header) as line:
            while not worker.wait(TICK):
                elapsed = time.monotonic() - started
                state = watch.current()
                description = f"loading {model}: {state}" if state else header
                if estimate and elapsed < estimate:
                    line.update(
                        description=description,
                        completed=elapsed,
                        total=estimate,
                        note=f"~{estimate - elapsed:.0f}s left",
                    )
                elif estimate:
                    line.update(description=description, note=f"usually ~{estimate:.0f}s")
                else:
                    line.update(description=description)
            seconds = time.monotonic() - started
            worker.result()  # raises ModelLoadError, NotFoundError, ...
    except KeyboardInterrupt:
        raise Interrupted(
            f"stopped waiting for {model}; llama-swap cannot cancel a load and finishes "
            f"starting it on its own (`llamaswap unload {model}` stops it)"
        ) from None
    if not was_ready:
        times.record(provider.base_url, model, seconds)
    if args.json:
        term.json(
            {
                "model": model,
                "requested": args.model,
                "state": "ready",
                "seconds": round(seconds, 3),
                "was_loaded": was_ready,
                "estimate_seconds": round(estimate, 3) if estimate else None,
            }
        )
    elif was_ready:
        term.line(f"{model} was already loaded")
    else:
        term.line(f"{model} is ready ({seconds:.1f}s)")
    return EXIT_OK
