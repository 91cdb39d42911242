"""pytest plugin: session-scoped llama-swap rigs and their fixtures.

Fixtures: ``rig`` / ``dsn`` (no API keys) and ``keyed_rig`` / ``keyed_dsn`` (``apiKeys`` set,
started only when a test asks for it). ``rig_factory`` builds extra rigs that are stopped at
the end of the test. ``peered_rigs`` is two small rigs, the first listing the second under
``peers`` (scale-out across hosts). When a rig cannot start the test is skipped with the
reason, except when the ``CI`` environment variable is set: then it fails, so CI never skips
silently. A failing test that used a rig gets llama-swap's log tail as a report section.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest

from llamaswap_rig.runner import Rig, RigError, select_binary

RIG_API_KEY = "sk-rig-test-key"
PEER_ID = "far"
PEER_API_KEY = "sk-rig-peer-key"
PEER_MODELS = ("fake-model", "scripted")
LOG_TAIL_LINES = 80

_ACTIVE: dict[str, Rig] = {}
_FAILED: dict[str, str] = {}


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def rig_unavailable(reason: str) -> NoReturn:
    """Skip locally, fail in CI (CI must never silently skip integration tests)."""
    if in_ci():
        pytest.fail(f"llama-swap rig unavailable in CI: {reason}", pytrace=False)
    pytest.skip(f"llama-swap rig unavailable: {reason}")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "integration: needs the llama-swap rig (started by the rig fixture)"
    )


def pytest_report_header(config: pytest.Config) -> str:
    try:
        binary = select_binary()
    except RigError as exc:
        return f"llama-swap rig: unavailable ({exc})"
    return f"llama-swap rig: {binary.describe()}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in Path(str(item.path)).parts:
            item.add_marker(pytest.mark.integration)


def _start(key: str, **kwargs: Any) -> Rig:
    if key in _FAILED:
        rig_unavailable(_FAILED[key])
    rig = Rig(name=key, **kwargs)
    try:
        rig.start()
    except RigError as exc:  # RigUnavailableError included
        _FAILED[key] = str(exc)
        rig_unavailable(str(exc))
    _ACTIVE[key] = rig
    return rig


def _stop(key: str) -> None:
    rig = _ACTIVE.pop(key, None)
    if rig is not None:
        rig.stop()  # raises RigLeftoverError -> a visible teardown error


@pytest.fixture(scope="session")
def rig() -> Iterator[Rig]:
    """The shared rig without API keys."""
    started = _start("rig")
    yield started
    _stop("rig")


@pytest.fixture(scope="session")
def keyed_rig() -> Iterator[Rig]:
    """A second rig whose llama-swap requires ``RIG_API_KEY`` (``rig.api_key``)."""
    started = _start("keyed", api_keys=[RIG_API_KEY])
    yield started
    _stop("keyed")


@pytest.fixture(scope="session")
def dsn(rig: Rig) -> str:
    return rig.dsn


@pytest.fixture(scope="session")
def keyed_dsn(keyed_rig: Rig) -> str:
    return keyed_rig.dsn


@dataclass(frozen=True)
class PeeredRigs:
    """``front`` lists ``back`` as peer ``peer_id`` serving ``models`` (ids ``peer_id/model``).

    ``back`` requires ``PEER_API_KEY``, which ``front`` injects (its ``peers.<id>.apiKey``);
    ``front`` has no key and serves ``fake-model`` locally.
    """

    front: Rig
    back: Rig
    peer_id: str
    models: tuple[str, ...]
    missing: str  # listed for the peer in front's config, not served by back
    down_peer: str  # a second peer whose address nothing listens on
    down_model: str

    def fqn(self, model: str) -> str:
        return f"{self.peer_id}/{model}"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def peered_rigs() -> Iterator[PeeredRigs]:
    """Two llama-swap instances on loopback, the first federating the second."""
    back = _start("peer-back", api_keys=[PEER_API_KEY], models=PEER_MODELS, verbose=False)
    missing, down, down_model = "not-on-peer", "down", "gone"
    try:
        front = _start(
            "peer-front",
            models=("fake-model",),
            verbose=False,
            peers={
                PEER_ID: {
                    "proxy": back.base_url,
                    "apiKey": PEER_API_KEY,
                    "models": [*PEER_MODELS, missing],
                },
                down: {"proxy": f"http://127.0.0.1:{_closed_port()}", "models": [down_model]},
            },
        )
    except BaseException:
        _stop("peer-back")
        raise
    yield PeeredRigs(front, back, PEER_ID, PEER_MODELS, missing, down, down_model)
    try:
        _stop("peer-front")
    finally:
        _stop("peer-back")


@pytest.fixture
def rig_factory(request: pytest.FixtureRequest) -> Iterator[Callable[..., Rig]]:
    """Start an extra, test-scoped rig: ``rig_factory(models=("fake-model",), ...)``."""
    made: list[str] = []

    def make(**kwargs: Any) -> Rig:
        key = f"{request.node.name}-{len(made)}"
        made.append(key)
        kwargs.setdefault("verbose", False)
        return _start(key, **kwargs)

    yield make
    for key in made:
        _FAILED.pop(key, None)
        _stop(key)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed and _ACTIVE:
        _add_log_sections(item, report)
    return report


def _add_log_sections(item: pytest.Item, report: pytest.TestReport) -> None:
    used = getattr(item, "fixturenames", ())
    if "integration" not in item.keywords and not any(
        name in used
        for name in ("rig", "keyed_rig", "dsn", "keyed_dsn", "rig_factory", "peered_rigs")
    ):
        return
    for key, active in list(_ACTIVE.items()):
        tail = active.log_tail(LOG_TAIL_LINES)
        report.sections.append(
            (
                f"llama-swap log tail [{key}, {active.flavour}, {active.log_path}]",
                tail or "(empty)",
            )
        )
