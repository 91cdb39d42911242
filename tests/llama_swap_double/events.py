"""Event fan-out and in-flight request tracking for the test double's ``/api/events``.

llama-swap frames every event as ``event:message\\ndata:<envelope>\\n\\n`` where the
envelope's ``data`` is itself a JSON document encoded as a string.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .errors import go_json

REDACTED = {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"}
INFLIGHT_INTERVAL = 0.25


def sse_frame(msg_type: str, data: Any) -> bytes:
    """One SSE frame exactly as llama-swap writes it (``data`` double-encoded)."""
    inner = go_json(data).decode()
    return b"event:message\ndata:" + go_json({"type": msg_type, "data": inner}) + b"\n\n"


class EventBus:
    """Broadcast (type, data) events to every connected ``/api/events`` client."""

    def __init__(self) -> None:
        self._queues: set[asyncio.Queue[tuple[str, Any] | None]] = set()
        self._listeners: list[Callable[[str, Any], None]] = []

    def subscribe(self) -> asyncio.Queue[tuple[str, Any] | None]:
        """A bounded queue that receives every later event (None = close)."""
        q: asyncio.Queue[tuple[str, Any] | None] = asyncio.Queue(maxsize=1024)
        self._queues.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[tuple[str, Any] | None]) -> None:
        """Stop delivering to ``q``."""
        self._queues.discard(q)

    def on(self, listener: Callable[[str, Any], None]) -> None:
        """Register an in-process listener (used for modelStatus on state changes)."""
        self._listeners.append(listener)

    def emit(self, msg_type: str, data: Any) -> None:
        """Deliver to all subscribers; drop when a slow client's queue is full."""
        for listener in list(self._listeners):
            listener(msg_type, data)
        for q in list(self._queues):
            with contextlib.suppress(asyncio.QueueFull):
                q.put_nowait((msg_type, data))

    def close_all(self) -> None:
        """Ask every SSE handler to end its stream (shutdown)."""
        for q in list(self._queues):
            with contextlib.suppress(asyncio.QueueFull):
                q.put_nowait(None)


def _rfc3339nano(ts: float) -> str:
    dt = datetime.fromtimestamp(ts, tz=timezone.utc).astimezone()
    base = dt.strftime("%Y-%m-%dT%H:%M:%S")
    frac = f"{dt.microsecond:06d}".rstrip("0")
    offset = dt.strftime("%z")
    tz = "Z" if offset in ("+0000", "") else f"{offset[:3]}:{offset[3:]}"
    return base + (f".{frac}" if frac else "") + tz


def header_map(headers: Any) -> dict[str, str]:
    """Single-valued, canonical-case header map with secrets redacted."""
    out: dict[str, str] = {}
    for key in headers:
        if str(key).lower() == "host":
            continue
        canon = "-".join(p.capitalize() for p in str(key).split("-"))
        out[canon] = "[REDACTED]" if key.lower() in REDACTED else str(headers.get(key))
    return dict(sorted(out.items()))


@dataclass
class InflightEntry:
    """One request llama-swap is currently serving for a model."""

    id: str
    started: float
    model: str
    req_path: str
    method: str
    req_headers: dict[str, str]
    remote_ip: str
    resp_headers: dict[str, str] = field(default_factory=dict)
    resp_bytes: int = 0
    last_emit: float = 0.0
    cancel: Callable[[], object] | None = None

    def to_json(self) -> dict[str, Any]:
        """The wire shape of an in-flight entry."""
        return {
            "id": self.id,
            "timestamp": _rfc3339nano(self.started),
            "model": self.model,
            "req_path": self.req_path,
            "method": self.method,
            "req_headers": self.req_headers,
            "remote_ip": self.remote_ip,
            "resp_headers": self.resp_headers,
            "resp_bytes": self.resp_bytes,
            "elapsed_ms": int((time.time() - self.started) * 1000),
        }


class InflightTracker:
    """Tracks in-flight model requests and publishes upsert/remove events."""

    def __init__(self, bus: EventBus) -> None:
        self._bus = bus
        self._ids = itertools.count(1)
        self.entries: dict[str, InflightEntry] = {}

    def add(
        self,
        model: str,
        path: str,
        method: str,
        headers: Any,
        remote_ip: str,
        cancel: Callable[[], object] | None = None,
    ) -> InflightEntry:
        """Start tracking a request and announce it."""
        entry = InflightEntry(
            id=str(next(self._ids)),
            started=time.time(),
            model=model,
            req_path=path,
            method=method,
            req_headers=header_map(headers),
            remote_ip=remote_ip,
            cancel=cancel,
        )
        entry.last_emit = time.monotonic()
        self.entries[entry.id] = entry
        self._bus.emit("inflight", {"operation": "upsert", "request": entry.to_json()})
        return entry

    def set_response_headers(self, entry: InflightEntry, headers: Any) -> None:
        """Record the upstream response headers."""
        if entry.id not in self.entries:
            return
        entry.resp_headers = header_map(headers)
        entry.last_emit = time.monotonic()
        self._bus.emit("inflight", {"operation": "upsert", "request": entry.to_json()})

    def add_bytes(self, entry: InflightEntry, count: int) -> None:
        """Count streamed bytes; publish at most every 250 ms."""
        if entry.id not in self.entries or count <= 0:
            return
        entry.resp_bytes += count
        now = time.monotonic()
        if now - entry.last_emit >= INFLIGHT_INTERVAL:
            entry.last_emit = now
            self._bus.emit("inflight", {"operation": "upsert", "request": entry.to_json()})

    def remove(self, entry: InflightEntry) -> None:
        """Stop tracking and announce removal."""
        if self.entries.pop(entry.id, None) is not None:
            self._bus.emit("inflight", {"operation": "remove", "id": entry.id})

    def snapshot(self) -> dict[str, Any]:
        """The on-connect snapshot event payload."""
        requests = [e.to_json() for e in self.entries.values()]
        # Go marshals the empty slice away (``omitempty``).
        return (
            {"operation": "snapshot", "requests": requests}
            if requests
            else {"operation": "snapshot"}
        )

    def cancel(self, entry_id: str) -> bool:
        """Abort a tracked request (``POST /api/inflight/{id}/cancel``)."""
        entry = self.entries.get(entry_id)
        if entry is None or entry.cancel is None:
            return False
        entry.cancel()
        return True
