"""Replay of real llama-swap answers recorded from the rig (vcrpy), pinning the wire format.

Playback is offline: requests are matched on method, path, query and body (not host or
port), so the cassettes replay against a fixed address. ``make cassettes`` re-records every
cassette from a fresh rig with API keys on (``LLAMASWAP_BIN`` picks a real llama-swap
binary when one is installed); keys are filtered out before anything is written.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import vcr
from PIL import Image

from llamaswap import AuthenticationError, LlamaSwapProvider, ModelLoadError, NotFoundError

pytestmark = pytest.mark.cassette

CASSETTES = Path(__file__).resolve().parents[1] / "cassettes"
RECORDING = os.environ.get("LLAMASWAP_RECORD") == "1"
PLAYBACK_KEY = "sk-cassette-playback"
REDACTED = "<redacted>"


def _scrub_request(request: Any) -> Any:
    if "authorization" in request.headers:
        request.headers["authorization"] = f"Bearer {REDACTED}"
    return request


def _scrub_response(response: dict[str, Any]) -> dict[str, Any]:
    # Rig keys are test keys, but keep cassettes free of any key-shaped header all the same.
    response["headers"] = {
        k: v for k, v in response["headers"].items() if k.lower() not in ("set-cookie", "date")
    }
    return response


CASSETTE_VCR = vcr.VCR(
    cassette_library_dir=str(CASSETTES),
    record_mode="all" if RECORDING else "none",
    match_on=["method", "path", "query", "body"],
    filter_headers=[("authorization", f"Bearer {REDACTED}"), ("x-api-key", REDACTED)],
    before_record_request=_scrub_request,
    before_record_response=_scrub_response,
    decode_compressed_response=True,
)


@pytest.fixture(scope="module")
def recorded_rig() -> Iterator[Any]:
    """While recording: one keyed rig for the whole module. In playback: nothing."""
    if not RECORDING:
        yield None
        return
    from llamaswap_rig.runner import Rig

    with Rig(name="cassettes", api_keys=["sk-cassette-record"]) as rig:
        yield rig


@pytest.fixture
def provider(recorded_rig: Any, request: pytest.FixtureRequest) -> Iterator[LlamaSwapProvider]:
    name = request.node.name.removeprefix("test_")
    path = CASSETTES / f"{name}.yaml"
    if not RECORDING and not path.exists():
        pytest.fail(f"cassette {path.name} is missing; record it with `make cassettes`")
    dsn = recorded_rig.dsn if recorded_rig else f"llama-swap://{PLAYBACK_KEY}@127.0.0.1:8080"
    with ExitStack() as stack:
        stack.enter_context(CASSETTE_VCR.use_cassette(path.name))
        yield stack.enter_context(LlamaSwapProvider(dsn))


def test_list_models(provider: LlamaSwapProvider) -> None:
    models = {m.id: m for m in provider.list_models()}
    assert {"qwen", "qwen-b", "embed", "sd", "fake-model"} <= set(models)
    qwen = models["qwen"]
    assert qwen.type == "model" and qwen.aliases == ("coder",)
    assert qwen.context_length == 2048
    assert qwen.name == "Qwen2.5 Coder 0.5B"
    assert qwen.raw["object"] == "model"


def test_load_running_unload(provider: LlamaSwapProvider) -> None:
    provider.unload()
    provider.load("fake-model")
    (running,) = provider.running()
    assert (running.model, running.state) == ("fake-model", "ready")
    provider.unload("fake-model")
    assert provider.running() == []


def test_unknown_model(provider: LlamaSwapProvider) -> None:
    with pytest.raises(NotFoundError) as info:
        provider.load("no-such-model")
    assert "qwen" in info.value.available


def test_broken_model(provider: LlamaSwapProvider) -> None:
    with pytest.raises(ModelLoadError) as info:
        provider.load("broken")
    assert "exited prematurely" in info.value.reason or "failed to start" in info.value.reason


def test_missing_key(provider: LlamaSwapProvider) -> None:
    bare = LlamaSwapProvider(provider.base_url, http_client=provider.http_client)
    with pytest.raises(AuthenticationError, match="no key was sent"):
        bare.running()


def test_version(provider: LlamaSwapProvider) -> None:
    assert provider.version().version


def test_generate_image(provider: LlamaSwapProvider) -> None:
    result = provider.generate_image("a red fox", model="sd", size="32x24", n=1, seed=5)
    with Image.open(io.BytesIO(result[0].data)) as png:
        assert (png.format, png.size) == ("PNG", (32, 24))
