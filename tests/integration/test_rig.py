"""The rig is real: llama-swap (binary or double) in front of llama.cpp and the test upstreams.

Plain httpx on purpose: these tests check the rig, not the llamaswap provider.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
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

from llamaswap import parse_dsn
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


def test_fake_model_streams_to_done(client: httpx.Client) -> None:
    body = {"model": "fake-model", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    with client.stream("POST", "/v1/chat/completions", json=body) as resp:
        assert resp.status_code == 200
        lines = [ln for ln in resp.iter_lines() if ln.startswith("data:")]
    assert lines[-1] == "data: [DONE]"
    assert json.loads(lines[-2].removeprefix("data:"))["choices"][0]["finish_reason"] == "stop"


def test_midstream_death_cuts_the_stream_short(client: httpx.Client) -> None:
    """The faulty upstream exits after half its chunks: content arrives, then the stream ends
    without ``[DONE]`` (cleanly or with a protocol error, never with another kind of error)."""
    body = {
        "model": "faulty",
        "stream": True,
        "messages": [{"role": "user", "content": "__die_midstream__"}],
    }
    lines: list[str] = []
    with client.stream("POST", "/v1/chat/completions", json=body) as resp:
        assert resp.status_code == 200
        with contextlib.suppress(httpx.RemoteProtocolError, httpx.ReadError):
            lines.extend(ln for ln in resp.iter_lines() if ln.startswith("data:"))
    contents = [ln for ln in lines if '"content"' in ln]
    assert contents, "no chunk arrived before the upstream died"
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


def test_rig_reports_which_llama_swap_runs(rig: Rig) -> None:
    """The banner's version is the running binary's own: ``/api/version`` agrees with it."""
    assert rig.binary is not None
    with httpx.Client(base_url=rig.base_url, timeout=TIMEOUT) as c:
        served = c.get("/api/version").json()
    if rig.flavour == "real":
        version, _, commit = rig.binary.version.partition(" ")
        assert served["version"] == version, (served, rig.binary.version)
        assert served["commit"] == commit.strip("()"), (served, rig.binary.version)
        assert version in rig.binary.describe()
    else:
        assert served["version"] == rig.binary.version == "double-v250"


def test_keyed_dsn_encodes_the_key_and_banner_hides_it(rig_factory: Callable[..., Rig]) -> None:
    key = "sk-a@b:c/d"
    small = rig_factory(models=("fake-model",), api_keys=[key])
    parsed = parse_dsn(small.dsn)
    assert parsed.api_key == key
    assert key not in small.redacted_dsn
    with httpx.Client(base_url=small.base_url, timeout=TIMEOUT) as c:
        ok = c.get("/v1/models", headers={"Authorization": f"Bearer {key}"})
        assert ok.status_code == 200


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


_HOLDING_TEST = """
import json, os, time
import httpx

def test_hold(rig_factory):
    rig = rig_factory(models=("fake-model", "sd"), groups=True)
    with httpx.Client(base_url=rig.base_url, timeout=120) as c:
        body = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]}
        assert c.post("/v1/chat/completions", json=body).status_code == 200
        img = {"model": "sd", "prompt": "p", "size": "16x16"}
        assert c.post("/v1/images/generations", json=img).status_code == 200
    procs = {pid: info.cmdline for pid, info in rig.upstream_processes().items()}
    marker = {"llama_swap": rig.proc.pid, "run_id": rig.run_id, "upstreams": procs,
              "ports": list(rig.upstream_ports.values())}
    with open(os.environ["HOLD_MARKER"], "w") as fh:
        json.dump(marker, fh)
    time.sleep(600)
"""


def test_sigterm_to_make_test_leaves_no_rig_process(tmp_path: Path) -> None:
    """A CI timeout SIGTERMs ``make test``: make forwards it to pytest, whose handler stops
    llama-swap (which stops its upstreams) before pytest dies of the signal."""
    (tmp_path / "test_hold.py").write_text(_HOLDING_TEST)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    marker = tmp_path / "marker.json"
    (tmp_path / "Makefile").write_text(
        f"test:\n\t{sys.executable} -m pytest -q -p llamaswap_rig.pytest_plugin test_hold.py\n"
    )
    rig_dir = Path(__file__).resolve().parents[2] / "rig"
    env = {
        **os.environ,
        "HOLD_MARKER": str(marker),
        "PYTHONPATH": os.pathsep.join([str(rig_dir), os.environ.get("PYTHONPATH", "")]),
    }
    make = subprocess.Popen(
        ["make", "-s", "test"],
        cwd=tmp_path,
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        while not marker.exists() or not marker.read_text():
            assert make.poll() is None, make.communicate()[0].decode(errors="replace")
            time.sleep(0.2)
        held = json.loads(marker.read_text())
        assert held["upstreams"], held  # two upstreams were running when the signal came
        os.kill(make.pid, signal.SIGTERM)  # to make alone, as a CI runner's timeout does
        output = make.communicate(timeout=120)[0].decode(errors="replace")
        assert make.returncode != 0, output
        watched = [held["llama_swap"], *map(int, held["upstreams"])]
        while any(os.path.exists(f"/proc/{pid}") and not _is_zombie(pid) for pid in watched):
            time.sleep(0.2)  # pytest's own timeout bounds this wait
        assert not find_run_processes(held["run_id"], held["ports"])
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGKILL)
            make.wait()
        if marker.exists() and marker.read_text():  # a failed run must not leak its rig
            held = json.loads(marker.read_text())
            for pid in [held["llama_swap"], *find_run_processes(held["run_id"], held["ports"])]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
