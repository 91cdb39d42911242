"""Decode llama-swap's ``GET /api/events`` stream into typed events.

Protocol facts this module relies on:

* every frame is ``event:message`` plus one ``data:`` line and a blank line; llama-swap
  writes no space after the colons, other servers may, so both are read;
* the ``data`` line is an envelope ``{"type": ..., "data": "<JSON as a string>"}``: the
  payload is encoded twice and is decoded twice here;
* on connect llama-swap replays log history, a ``modelStatus`` snapshot, ``uiConfig``,
  ``profileChanged`` and an ``inflight`` snapshot; later frames follow state changes;
* there are no heartbeats, ids or retry fields, and the server closes the stream on a
  config reload or shutdown.

Parsing is pure (:class:`SSEDecoder`, :func:`decode_event`) so it is tested on its own;
the provider only feeds it lines. Unknown or malformed frames become
:class:`UnknownEvent` instead of being dropped.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from llamaswap.states import ModelState, state_fields


@dataclass(frozen=True)
class SSEFrame:
    """One server-sent event: its ``event`` name and joined ``data`` lines."""

    event: str
    data: str


class SSEDecoder:
    """Incremental SSE decoder: feed it lines, get frames at each blank line."""

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []

    def feed(self, line: str) -> SSEFrame | None:
        """Take one line (without its newline); return a frame when one completes."""
        line = line.rstrip("\r\n")
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None  # comment / keep-alive
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        return None

    def flush(self) -> SSEFrame | None:
        """Return a frame left without its closing blank line at end of stream."""
        return self._dispatch()

    def _dispatch(self) -> SSEFrame | None:
        if not self._data:
            self._event = ""
            return None
        frame = SSEFrame(event=self._event or "message", data="\n".join(self._data))
        self._event = ""
        self._data = []
        return frame


def iter_frames(lines: Iterable[str]) -> Iterator[SSEFrame]:
    """Split an iterable of lines into SSE frames (including a trailing unterminated one)."""
    decoder = SSEDecoder()
    for line in lines:
        frame = decoder.feed(line)
        if frame is not None:
            yield frame
    last = decoder.flush()
    if last is not None:
        yield last


async def aiter_frames(lines: AsyncIterable[str]) -> AsyncIterator[SSEFrame]:
    """The async twin of :func:`iter_frames`."""
    decoder = SSEDecoder()
    async for line in lines:
        frame = decoder.feed(line)
        if frame is not None:
            yield frame
    last = decoder.flush()
    if last is not None:
        yield last


@dataclass(frozen=True)
class Event:
    """Base of every event from ``/api/events``; ``type`` is llama-swap's type name."""

    type: str
    raw: Any = field(repr=False)


@dataclass(frozen=True)
class ModelStatusEntry:
    """One model's entry in a :class:`ModelStatus` event.

    ``state`` is a :class:`~llamaswap.ModelState` (``UNKNOWN`` for a peer's model, which
    llama-swap sends with an empty state); ``raw_state`` is the word llama-swap sent.
    """

    id: str
    state: ModelState
    name: str = ""
    description: str = ""
    unlisted: bool = False
    peer_id: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)
    raw_state: str = ""

    def __post_init__(self) -> None:
        typed, raw = state_fields(self.state, self.raw_state)
        object.__setattr__(self, "state", typed)
        object.__setattr__(self, "raw_state", raw)


@dataclass(frozen=True)
class ModelStatus(Event):
    """The state of every model (``STOPPED``, ``STARTING``, ``READY``, ``STOPPING``)."""

    models: tuple[ModelStatusEntry, ...] = ()

    def state_of(self, model: str) -> ModelState | None:
        """The state of ``model`` in this snapshot, or ``None`` if it is not listed."""
        for entry in self.models:
            if entry.id == model:
                return entry.state
        return None


@dataclass(frozen=True)
class LogData(Event):
    """A chunk of llama-swap's (``proxy``) or a model server's (``upstream``) log."""

    source: str = ""
    data: str = ""


@dataclass(frozen=True)
class Activity(Event):
    """A metered request finished; details live at ``/api/metrics/activity``."""

    id: int | None = None


@dataclass(frozen=True)
class InFlight(Event):
    """In-flight request tracking: ``snapshot``, ``upsert`` or ``remove``."""

    operation: str = ""
    requests: tuple[Mapping[str, Any], ...] = ()
    request_id: str | None = None


@dataclass(frozen=True)
class ProfileChanged(Event):
    """The active profile changed (``None`` when no profile is active)."""

    active: str | None = None


@dataclass(frozen=True)
class UIConfig(Event):
    """Settings llama-swap sends its web UI on connect."""

    config: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class UnknownEvent(Event):
    """A frame of a type this version does not know, or one that did not decode.

    Attributes:
        data: the payload, decoded when it was JSON, else the text as sent.
        error: why decoding failed, or ``""`` for a well-formed unknown type.
    """

    data: Any = None
    error: str = ""


def decode_event(frame: SSEFrame | str) -> Event:
    """Decode one frame's doubly encoded payload into a typed event."""
    text = frame.data if isinstance(frame, SSEFrame) else frame
    try:
        envelope = json.loads(text)
    except ValueError as exc:
        return UnknownEvent(type="", raw=text, data=text, error=f"envelope is not JSON: {exc}")
    if not isinstance(envelope, Mapping) or not isinstance(envelope.get("type"), str):
        return UnknownEvent(
            type="", raw=envelope, data=envelope, error="envelope has no 'type' string"
        )
    kind: str = envelope["type"]
    payload = envelope.get("data")
    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except ValueError as exc:
            return UnknownEvent(
                type=kind, raw=envelope, data=payload, error=f"payload is not JSON: {exc}"
            )
    decoder = _DECODERS.get(kind)
    if decoder is None:
        return UnknownEvent(type=kind, raw=envelope, data=payload)
    try:
        return decoder(kind, envelope, payload)
    except (TypeError, ValueError, KeyError) as exc:
        return UnknownEvent(
            type=kind, raw=envelope, data=payload, error=f"unexpected {kind} payload: {exc}"
        )


def _model_status(kind: str, raw: Any, payload: Any) -> Event:
    if not isinstance(payload, list):
        raise TypeError("expected a list of models")
    models = tuple(
        ModelStatusEntry(
            id=str(item["id"]),
            state=ModelState.from_raw(str(item.get("state") or "")),
            raw_state=str(item.get("state") or ""),
            name=str(item.get("name") or ""),
            description=str(item.get("description") or ""),
            unlisted=bool(item.get("unlisted", False)),
            peer_id=str(item["peerID"]) if item.get("peerID") else None,
            raw=dict(item),
        )
        for item in payload
    )
    return ModelStatus(type=kind, raw=raw, models=models)


def _log_data(kind: str, raw: Any, payload: Any) -> Event:
    if not isinstance(payload, Mapping):
        raise TypeError("expected an object")
    return LogData(
        type=kind, raw=raw, source=str(payload.get("source", "")), data=str(payload.get("data", ""))
    )


def _activity(kind: str, raw: Any, payload: Any) -> Event:
    if not isinstance(payload, Mapping):
        raise TypeError("expected an object")
    ident = payload.get("id")
    return Activity(type=kind, raw=raw, id=ident if isinstance(ident, int) else None)


def _inflight(kind: str, raw: Any, payload: Any) -> Event:
    if not isinstance(payload, Mapping):
        raise TypeError("expected an object")
    requests: list[Mapping[str, Any]] = []
    if isinstance(payload.get("requests"), list):
        requests = [r for r in payload["requests"] if isinstance(r, Mapping)]
    if isinstance(payload.get("request"), Mapping):
        requests = [payload["request"]]
    ident = payload.get("id")
    return InFlight(
        type=kind,
        raw=raw,
        operation=str(payload.get("operation", "")),
        requests=tuple(requests),
        request_id=str(ident) if ident is not None else None,
    )


def _profile_changed(kind: str, raw: Any, payload: Any) -> Event:
    if not isinstance(payload, Mapping):
        raise TypeError("expected an object")
    active = payload.get("active")
    return ProfileChanged(type=kind, raw=raw, active=active if isinstance(active, str) else None)


def _ui_config(kind: str, raw: Any, payload: Any) -> Event:
    if not isinstance(payload, Mapping):
        raise TypeError("expected an object")
    return UIConfig(type=kind, raw=raw, config=dict(payload))


_DECODERS = {
    "modelStatus": _model_status,
    "logData": _log_data,
    "activity": _activity,
    "inflight": _inflight,
    "profileChanged": _profile_changed,
    "uiConfig": _ui_config,
}
