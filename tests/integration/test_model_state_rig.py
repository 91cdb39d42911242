"""One typed model state from every endpoint of the real llama-swap (v250 and main-0bdb372)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from llamaswap import LlamaSwapProvider, ModelState, ModelStatus
from llamaswap_rig.runner import Rig

FAST = "fake-model"


@pytest.fixture
def provider(rig: Rig) -> Iterator[LlamaSwapProvider]:
    with LlamaSwapProvider(rig.dsn) as p:
        yield p


def snapshot_state(provider: LlamaSwapProvider, model: str) -> tuple[ModelState, str]:
    """The state (and llama-swap's word) in the ``modelStatus`` snapshot sent on connect."""
    events = provider.events()
    try:
        for event in events:
            if isinstance(event, ModelStatus):
                entry = next(m for m in event.models if m.id == model)
                return entry.state, entry.raw_state
    finally:
        events.close()  # type: ignore[attr-defined]
    raise AssertionError("no modelStatus snapshot on /api/events")


def test_a_ready_model_is_ready_everywhere(provider: LlamaSwapProvider) -> None:
    provider.load(FAST)  # returns once llama-swap reports it ready
    listed = provider.get_model(FAST)
    running = next(r for r in provider.running() if r.model == FAST)
    assert (listed.state, listed.raw_state) == (ModelState.LOADED, "loaded")
    assert (running.state, running.raw_state) == (ModelState.READY, "ready")
    assert snapshot_state(provider, FAST) == (ModelState.READY, "ready")
    assert listed.state.loaded and running.state.loaded


def test_an_unloaded_model_is_stopped_everywhere(provider: LlamaSwapProvider) -> None:
    provider.load(FAST)
    provider.unload(FAST)  # returns once the process has stopped
    listed = provider.get_model(FAST)
    assert (listed.state, listed.raw_state) == (ModelState.STOPPED, "unloaded")
    assert FAST not in [r.model for r in provider.running()]
    assert snapshot_state(provider, FAST) == (ModelState.STOPPED, "stopped")
    assert not listed.loaded
