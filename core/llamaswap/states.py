"""One vocabulary for a model's state, whichever llama-swap endpoint reported it.

llama-swap names the same thing three ways: ``GET /v1/models`` says ``loaded`` (any
process up) or ``unloaded``; ``GET /running`` lists ``starting``, ``ready`` and
``stopping``; ``/api/events`` adds ``stopped`` (and ``""`` for a peer's model, whose state
it does not know). :class:`ModelState` maps them all onto one enum; the records keep the
word llama-swap sent in ``raw_state``.
"""

from __future__ import annotations

from enum import Enum


class ModelState(str, Enum):
    """A model's state, comparable everywhere (and equal to llama-swap's word for it).

    ``LOADED`` is all ``GET /v1/models`` can say: a process is up, in one of
    ``STARTING``, ``READY`` or ``STOPPING`` (``running()`` tells which). ``UNKNOWN`` is a
    peer's model, whose state llama-swap does not know, or a word this version does not.
    """

    STOPPED = "stopped"
    STARTING = "starting"
    READY = "ready"
    STOPPING = "stopping"
    LOADED = "loaded"
    UNKNOWN = "unknown"

    @classmethod
    def from_raw(cls, raw: str) -> ModelState:
        """The state for a word llama-swap sent (``unloaded`` and ``shutdown`` are stopped)."""
        return _FROM_RAW.get(raw, cls.UNKNOWN)

    @property
    def loaded(self) -> bool:
        """Whether a process for the model is up (starting, ready, stopping or loaded)."""
        return self in (
            ModelState.STARTING,
            ModelState.READY,
            ModelState.STOPPING,
            ModelState.LOADED,
        )

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)

    # Equal to its word, so it must hash like it: {"ready": ...}[ModelState.READY] works.
    __hash__ = str.__hash__


_FROM_RAW = {
    "stopped": ModelState.STOPPED,
    "unloaded": ModelState.STOPPED,
    "shutdown": ModelState.STOPPED,  # llama-swap's "stopped for good" (never listed today)
    "starting": ModelState.STARTING,
    "ready": ModelState.READY,
    "stopping": ModelState.STOPPING,
    "loaded": ModelState.LOADED,
}


def state_fields(state: object, raw_state: str) -> tuple[ModelState, str]:
    """``(typed, raw)`` for a record built by hand with a plain word or a :class:`ModelState`."""
    if isinstance(state, ModelState):
        return state, raw_state or (state.value if state is not ModelState.UNKNOWN else "")
    word = state if isinstance(state, str) else ""
    return ModelState.from_raw(word), raw_state or word
