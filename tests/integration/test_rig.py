"""The rig is real: llama-swap (binary or double) in front of llama.cpp and the test upstreams.

Plain httpx on purpose: these tests check the rig, not the llamaswap provider.
"""

from __future__ import annotations

import base64
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from llamaswap_rig.config import RUN_ENV, build_config, upstream_ports
from llamaswap_rig.runner import (
    Rig,
    RigLeftoverError,
    RigUnavailableError,
    find_run_processes,
    select_binary,
)

pytestmark = pytest.mark.integration

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TIMEOUT = httpx.Timeout(180.0, connect=5.0)


@pytest.fixture
def client(rig: Rig) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=rig.base_url, timeout=TIMEOUT) as c:
        yield c


def chat(client: httpx.Client, model: str, text: str, **extra: object) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": text}], **extra}
    return client.post("/v1/chat/completions", json=body)


def running(client: httpx.Client) -> dict[str, str]:
    resp = client.get("/running")
    assert resp.status_code == 200, resp.text
    return {r["model"]: r["state"] for r in resp.json()["running"]}


def error_message(resp: httpx.Response) -> str:
    """Both error shapes: <= v250 ``{"error": "text"}`` and later ``{"error": {"message"}}``."""
    try:
        err = resp.json().get("error")
    except ValueError:
        return resp.text
    return str(err.get("message") if isinstance(err, dict) else err)


def test_chat_completion_is_answered_by_llamacpp(client: httpx.Client) -> None:
    resp = chat(client, "qwen", "Write the word hello.", max_tokens=8, temperature=0)
    assert resp.status_code == 200, resp.text
    data = resp.json()
    assert "timings" in data, "llama.cpp adds timings; their absence means a fake answered"
    assert data["timings"]["predicted_n"] <= 8
    assert data["usage"]["completion_tokens"] <= 8
    assert data["choices"][0]["message"]["content"].strip()
    assert running(client) == {"qwen": "ready"}


def test_alias_routes_to_its_model(client: httpx.Client) -> None:
    resp = chat(client, "coder", "Say yes.", max_tokens=2)
    assert resp.status_code == 200, resp.text
    assert set(running(client)) == {"qwen"}


def test_swap_between_qwen_and_qwen_b(client: httpx.Client) -> None:
    assert chat(client, "qwen", "One word.", max_tokens=2).status_code == 200
    assert running(client) == {"qwen": "ready"}
    resp = chat(client, "qwen-b", "One word.", max_tokens=2)
    assert resp.status_code == 200, resp.text
    assert "timings" in resp.json()
    assert running(client) == {"qwen-b": "ready"}


def test_unload_empties_running(client: httpx.Client) -> None:
    assert chat(client, "qwen", "One word.", max_tokens=2).status_code == 200
    assert "qwen" in running(client)
    resp = client.post("/api/models/unload/qwen")
    assert resp.status_code == 200, resp.text
    assert running(client) == {}


def test_models_list_reports_config(client: httpx.Client) -> None:
    resp = client.get("/v1/models")
    assert resp.status_code == 200, resp.text
    records = {m["id"]: m for m in resp.json()["data"]}
    assert {"qwen", "qwen-b", "embed", "sd", "fake-model"} <= set(records)
    assert "broken" not in records  # unlisted
    qwen = records["qwen"]
    assert qwen["context_length"] == 2048
    assert qwen["name"] == "Qwen2.5 Coder 0.5B"
    assert qwen["meta"]["llamaswap"]["aliases"] == ["coder"]
    assert qwen["meta"]["llamaswap"]["family"] == "qwen2.5"


def test_broken_model_gives_500_load_error(client: httpx.Client) -> None:
    resp = chat(client, "broken", "hi", max_tokens=1)
    assert resp.status_code == 500, resp.text
    assert "exited prematurely" in error_message(resp) or "unspecific error" in error_message(resp)


def test_embedding_from_minilm(client: httpx.Client) -> None:
    resp = client.post("/v1/embeddings", json={"model": "embed", "input": ["hello", "goodbye"]})
    assert resp.status_code == 200, resp.text
    vectors = [d["embedding"] for d in resp.json()["data"]]
    assert [len(v) for v in vectors] == [384, 384]
    assert vectors[0] != vectors[1]


def test_image_generation_returns_png(client: httpx.Client) -> None:
    body = {"model": "sd", "prompt": "a red fox", "n": 2, "size": "64x32", "seed": 7}
    resp = client.post("/v1/images/generations", json=body)
    assert resp.status_code == 200, resp.text
    data = resp.json()["data"]
    assert len(data) == 2
    pngs = [base64.b64decode(d["b64_json"]) for d in data]
    for raw in pngs:
        assert raw.startswith(PNG_SIGNATURE)
        with Image.open(io.BytesIO(raw)) as img:
            assert img.size == (64, 32)
            assert img.format == "PNG"
    assert pngs[0] != pngs[1]  # the index is part of the picture
    again = client.post("/v1/images/generations", json=body).json()["data"]
    assert base64.b64decode(again[0]["b64_json"]) == pngs[0]  # deterministic
    bad = client.post("/v1/images/generations", json={**body, "prompt": ""})
    assert bad.status_code == 400
    failed = client.post("/v1/images/generations", json={**body, "prompt": "x __fail_render__"})
    assert failed.status_code == 500
    assert "render failed" in error_message(failed)


def test_fast_upstream_stream_and_midstream_death(client: httpx.Client) -> None:
    body = {"model": "fake-model", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    with client.stream("POST", "/v1/chat/completions", json=body) as resp:
        assert resp.status_code == 200
        lines = [ln for ln in resp.iter_lines() if ln.startswith("data:")]
    assert lines[-1] == "data: [DONE]"
    assert '"finish_reason": "stop"' in lines[-2]
    body["messages"] = [{"role": "user", "content": "__die_midstream__"}]
    try:
        with client.stream("POST", "/v1/chat/completions", json=body) as resp:
            lines = [ln for ln in resp.iter_lines() if ln.startswith("data:")]
    except httpx.HTTPError:
        lines = []
    assert "data: [DONE]" not in lines


def test_api_keys_variant(keyed_rig: Rig) -> None:
    assert keyed_rig.api_key
    assert keyed_rig.dsn.startswith(f"llama-swap://{keyed_rig.api_key}@127.0.0.1:")
    with httpx.Client(base_url=keyed_rig.base_url, timeout=TIMEOUT) as c:
        assert c.get("/health").status_code == 200  # exempt from auth
        denied = c.get("/v1/models")
        assert denied.status_code == 401
        assert "WWW-Authenticate" in denied.headers
        wrong = c.get("/v1/models", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        ok = c.get("/v1/models", headers=keyed_rig.auth_headers)
        assert ok.status_code == 200
        assert c.get("/v1/models", headers={"x-api-key": keyed_rig.api_key}).status_code == 200


def test_no_upstream_survives_the_rig(rig_factory: Callable[..., Rig]) -> None:
    small = rig_factory(models=("fake-model", "sd"), groups=True)
    with httpx.Client(base_url=small.base_url, timeout=TIMEOUT) as c:
        assert chat(c, "fake-model", "hi").status_code == 200
        img = {"model": "sd", "prompt": "p", "size": "16x16"}
        assert c.post("/v1/images/generations", json=img).status_code == 200
        assert set(running(c)) == {"fake-model", "sd"}
    alive = small.upstream_processes()
    assert len(alive) >= 2, alive
    pids = set(alive)
    small.stop()  # raises RigLeftoverError if anything survived
    assert small.leftovers == {}
    assert not find_run_processes(small.run_id, small.upstream_ports.values())
    for pid in pids:
        assert not os.path.exists(f"/proc/{pid}") or _is_zombie(pid)


def test_leftover_detector_kills_and_reports(rig_factory: Callable[..., Rig]) -> None:
    small = rig_factory(models=("fake-model",), leftover_grace=0.5)
    # A process carrying the run marker that llama-swap does not know about: a stray upstream.
    stray = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"],
        env={**os.environ, RUN_ENV: small.run_id},
        start_new_session=True,
    )
    try:
        with pytest.raises(RigLeftoverError, match=str(stray.pid)):
            small.stop()
        assert stray.wait(timeout=5) == -signal.SIGKILL
    finally:
        if stray.poll() is None:
            stray.kill()
            stray.wait()


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_rig_startup_is_quick(rig: Rig) -> None:
    assert rig.flavour in ("real", "double")
    assert rig.startup_seconds < 15, rig.startup_seconds
    started = time.monotonic()
    with httpx.Client(base_url=rig.base_url, timeout=TIMEOUT) as c:
        assert c.get("/health").status_code == 200
    assert time.monotonic() - started < 2


def test_binary_selection(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LLAMASWAP_BIN", str(tmp_path / "missing"))
    with pytest.raises(RigUnavailableError):
        select_binary()
    fake = tmp_path / "llama-swap"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    monkeypatch.setenv("LLAMASWAP_BIN", str(fake))
    chosen = select_binary()
    assert (chosen.flavour, chosen.argv) == ("real", [str(fake)])
    monkeypatch.delenv("LLAMASWAP_BIN")
    assert select_binary().flavour in ("real", "double")


def test_config_ports_follow_sorted_ids() -> None:
    cfg = build_config(start_port=30000, api_keys=["k"])
    ports = upstream_ports(30000)
    assert list(ports) == sorted(ports)  # llama-swap hands ${PORT} out in sorted-ID order
    assert list(ports.values()) == list(range(30000, 30000 + len(ports)))
    assert {"embed", "fake-model", "qwen", "qwen-b", "sd"} <= set(ports)
    assert cfg["apiKeys"] == ["k"]
    assert cfg["models"]["broken"]["unlisted"] is True
    assert "${PORT}" not in cfg["models"]["broken"]["cmd"]
    for mid in ("qwen", "qwen-b", "embed"):
        assert "llamacpp.py" in cfg["models"][mid]["cmd"]
    assert "--embedding" in cfg["models"]["embed"]["cmd"]
