"""Log buffers of the test double: proxy log, upstream log, and their listeners.

llama-swap keeps ring buffers that ``/logs``, ``/logs/stream`` and the
``logData`` SSE events replay; this mirrors that with 100 KiB buffers.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

RING_BYTES = 100 * 1024
LEVELS = {"debug": 0, "info": 1, "warn": 2, "error": 3}

Listener = Callable[[bytes], None]


class LogMonitor:
    """A byte ring buffer that also fans writes out to listeners and, optionally, stdout."""

    def __init__(self, echo: TextIO | None = None, limit: int = RING_BYTES) -> None:
        self._buf = bytearray()
        self._limit = limit
        self._listeners: list[Listener] = []
        self.echo = echo
        self.forward: list[LogMonitor] = []

    def write(self, data: bytes) -> None:
        """Append raw bytes, notify listeners and forwarded monitors."""
        if not data:
            return
        self._buf += data
        if len(self._buf) > self._limit:
            del self._buf[: len(self._buf) - self._limit]
        if self.echo is not None:
            try:
                self.echo.write(data.decode("utf-8", "replace"))
                self.echo.flush()
            except (OSError, ValueError):
                pass
        for listener in list(self._listeners):
            listener(data)
        for other in self.forward:
            other.write(data)

    def history(self) -> bytes:
        """Everything still in the ring buffer."""
        return bytes(self._buf)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Register a listener; returns the function that removes it."""
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove


class ProxyLogger:
    """Leveled ``[double] [LEVEL] message`` lines into a :class:`LogMonitor`."""

    def __init__(self, monitor: LogMonitor, level: str = "info") -> None:
        self.monitor = monitor
        self.level = LEVELS.get(level, 1)

    def _log(self, level: str, msg: str) -> None:
        if LEVELS[level] >= self.level:
            self.monitor.write(f"[double] [{level.upper()}] {msg}\n".encode())

    def debug(self, msg: str) -> None:
        """Log at debug level."""
        self._log("debug", msg)

    def info(self, msg: str) -> None:
        """Log at info level."""
        self._log("info", msg)

    def warn(self, msg: str) -> None:
        """Log at warn level."""
        self._log("warn", msg)

    def error(self, msg: str) -> None:
        """Log at error level."""
        self._log("error", msg)


class Logs:
    """The three monitors llama-swap has: proxy, upstream, and the combined one for /logs."""

    def __init__(self, log_to_stdout: str, level: str) -> None:
        self.combined = LogMonitor()
        out = sys.stdout
        self.proxy = LogMonitor(out if log_to_stdout in ("proxy", "both") else None)
        self.upstream = LogMonitor(out if log_to_stdout in ("upstream", "both") else None)
        self.proxy.forward.append(self.combined)
        if log_to_stdout in ("upstream", "both"):
            self.upstream.forward.append(self.combined)
        self.models: dict[str, LogMonitor] = {}
        self.log = ProxyLogger(self.proxy, level)

    def for_model(self, model_id: str) -> LogMonitor:
        """Per-model process output (also forwarded into the upstream log)."""
        mon = self.models.get(model_id)
        if mon is None:
            mon = LogMonitor()
            mon.forward.append(self.upstream)
            self.models[model_id] = mon
        return mon
