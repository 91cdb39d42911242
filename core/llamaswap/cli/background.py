"""Run one blocking provider call on a worker thread while the main thread shows progress.

The main thread keeps the terminal and receives Ctrl-C; the worker is a daemon thread, so
an interrupted command exits at once and its connection closes with the process, which
tells llama-swap the client has gone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Worker(Generic[T]):
    """``fn()`` running on a daemon thread; :meth:`wait` polls, :meth:`result` re-raises."""

    def __init__(self, fn: Callable[[], T], *, name: str) -> None:
        self._fn = fn
        self._done = threading.Event()
        self._value: T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._fn()
        except BaseException as exc:  # handed to the main thread by result()
            self._error = exc
        finally:
            self._done.set()

    def wait(self, timeout: float) -> bool:
        """True once ``fn`` has returned or raised (Ctrl-C interrupts the wait)."""
        return self._done.wait(timeout)

    def result(self) -> T:
        """What ``fn`` returned; its exception if it raised."""
        if not self._done.is_set():
            raise RuntimeError("result() before the worker finished")
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]
