"""Self-check of the llama-swap test double (or, with ``--bin``, of the real binary).

Starts the server on a throwaway config in a temp dir with tiny Python upstreams
(:mod:`llama_swap_double._selfcheck_upstream`) and checks the behaviours the test
suite relies on. Usage::

    python -m llama_swap_double._selfcheck            # the double
    python -m llama_swap_double._selfcheck --bin /path/to/llama-swap
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
UPSTREAM = HERE / "_selfcheck_upstream.py"
RESULTS: list[tuple[str, bool, str]] = []


def check(name: str, ok: bool, detail: str = "") -> None:
    RESULTS.append((name, ok, detail))
    print(f"{'PASS' if ok else 'FAIL'}  {name}  {detail if not ok else ''}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def config_text(tag: str, start_port: int, peer_port: int, api_keys: list[str] | None) -> str:
    py = sys.executable
    up = f"{py} {UPSTREAM}"
    keys = f"apiKeys: {json.dumps(api_keys)}\n" if api_keys else ""
    return f"""
healthCheckTimeout: 15
logLevel: debug
logToStdout: none
startPort: {start_port}
{keys}models:
  model-a:
    cmd: {up} --port ${{PORT}} --respond {tag}-model-a --child
    proxy: http://127.0.0.1:${{PORT}}
    aliases: ["gpt-4o-mini"]
    name: "Model A"
    metadata: {{family: test}}
    capabilities: {{in: [text, image], out: [text], tools: true, context: 4096}}
  model-b:
    cmd: |
      {up}
      # comment line
      --port ${{PORT}} --respond {tag}-model-b
    proxy: http://127.0.0.1:${{PORT}}
    useModelName: upstream-b
    concurrencyLimit: 2
    filters:
      stripParams: "temperature, top_p"
      setParams: {{max_tokens: 16}}
  slow:
    cmd: {up} --port ${{PORT}} --respond {tag}-slow --load-delay 2
    proxy: http://127.0.0.1:${{PORT}}
    sendLoadingState: true
  ttl-model:
    cmd: {up} --port ${{PORT}} --respond {tag}-ttl
    proxy: http://127.0.0.1:${{PORT}}
    ttl: 1
  broken:
    cmd: /bin/false
    proxy: http://127.0.0.1:9
    unlisted: true
peers:
  remote:
    proxy: http://127.0.0.1:{peer_port}
    apiKey: peer-secret
    models: [llama-3]
"""


def peer_config(tag: str, start_port: int) -> str:
    return f"""
healthCheckTimeout: 15
logToStdout: none
startPort: {start_port}
apiKeys: ["peer-secret"]
models:
  llama-3:
    cmd: {sys.executable} {UPSTREAM} --port ${{PORT}} --respond {tag}-peer
    proxy: http://127.0.0.1:${{PORT}}
"""


class Server:
    def __init__(self, argv0: list[str], cfg: Path, port: int, log: Path) -> None:
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        env = dict(os.environ)
        env["PYTHONPATH"] = str(HERE.parent) + os.pathsep + env.get("PYTHONPATH", "")
        self.proc = subprocess.Popen(
            [*argv0, "-config", str(cfg), "-listen", f"127.0.0.1:{port}"],
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            env=env,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.base + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"server on {port} did not come up, see {log}")

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=40)


def procs_with(tag: str) -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid,pgid,args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if tag in line and "ps -eo" not in line]


def chat(c: httpx.Client, model: str, **extra: object) -> httpx.Response:
    return c.post("/v1/chat/completions", json={"model": model, "messages": [], **extra})


def collect_events(
    base: str, headers: dict[str, str], stop: threading.Event, out: list[dict[str, Any]]
) -> None:
    with httpx.stream("GET", base + "/api/events", headers=headers, timeout=None) as resp:
        buf = ""
        for text in resp.iter_text():
            buf += text
            while "\n\n" in buf:
                frame, buf = buf.split("\n\n", 1)
                assert frame.startswith("event:message\ndata:"), frame
                env = json.loads(frame[len("event:message\ndata:") :])
                env["decoded"] = json.loads(env["data"])
                out.append(env)
            if stop.is_set():
                return


def run(argv0: list[str]) -> int:
    tag = f"lsdcheck{os.getpid()}"
    tmp = Path(tempfile.mkdtemp(prefix="lsd-selfcheck-"))
    port, peer_port, auth_port = free_port(), free_port(), free_port()
    base_port = 20000 + (os.getpid() % 200) * 10
    (tmp / "main.yaml").write_text(config_text(tag, base_port, peer_port, None))
    (tmp / "peer.yaml").write_text(peer_config(tag, base_port + 8))
    (tmp / "auth.yaml").write_text(config_text(tag, base_port + 20, peer_port, ["sk-test-1"]))
    peer = Server(argv0, tmp / "peer.yaml", peer_port, tmp / "peer.log")
    srv = Server(argv0, tmp / "main.yaml", port, tmp / "main.log")
    auth = Server(argv0, tmp / "auth.yaml", auth_port, tmp / "auth.log")
    c = httpx.Client(base_url=srv.base, timeout=60)
    try:
        checks(c, srv, tag)
        auth_checks(auth.base)
    finally:
        for s in (srv, auth, peer):
            code = s.stop()
            check(f"exit code 0 after SIGTERM ({s.port})", code == 0, str(code))
        time.sleep(0.5)
        left = procs_with(tag)
        check("no orphan upstreams after SIGTERM", not left, "\n".join(left))
    if argv0[0] == sys.executable:
        sigkill_check(argv0, tmp, tag)
    failed = [r for r in RESULTS if not r[1]]
    print(f"\n{len(RESULTS) - len(failed)}/{len(RESULTS)} passed; logs in {tmp}")
    return 1 if failed else 0


def sigkill_check(argv0: list[str], tmp: Path, tag: str) -> None:
    """Even a SIGKILLed double must not leave upstreams behind (PR_SET_PDEATHSIG)."""
    port = free_port()
    srv = Server(argv0, tmp / "main.yaml", port, tmp / "kill9.log")
    httpx.post(
        srv.base + "/v1/chat/completions", json={"model": "model-a", "messages": []}, timeout=30
    )
    loaded = bool(procs_with(tag))
    srv.proc.kill()
    srv.proc.wait()
    deadline = time.monotonic() + 5
    while procs_with(tag) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = procs_with(tag)
    check("no orphans after SIGKILL of the double", loaded and not left, "\n".join(left))


def checks(c: httpx.Client, srv: Server, tag: str) -> None:
    r = c.get("/v1/models")
    ids = [m["id"] for m in r.json()["data"]]
    check(
        "list ids sorted, unlisted hidden, peer listed",
        ids == ["model-a", "model-b", "remote/llama-3", "slow", "ttl-model"],
        str(ids),
    )
    rec = r.json()["data"][0]
    check(
        "record shape",
        rec["meta"]
        == {
            "llamaswap": {"aliases": ["gpt-4o-mini"], "family": "test", "type": "model"},
            "n_ctx": 4096,
        }
        and rec["status"] == {"value": "unloaded"}
        and rec["context_length"] == 4096,
        json.dumps(rec),
    )
    peer_rec = r.json()["data"][2]
    check(
        "peer record",
        peer_rec.get("meta") == {"llamaswap": {"peerID": "remote", "type": "peer"}}
        and peer_rec.get("name") == "remote: llama-3",
        json.dumps(peer_rec),
    )

    events: list[dict[str, Any]] = []
    stop = threading.Event()
    t = threading.Thread(target=collect_events, args=(srv.base, {}, stop, events), daemon=True)
    t.start()
    time.sleep(0.5)

    r = chat(c, "gpt-4o-mini")
    check("chat via alias 200", r.status_code == 200, r.text)
    check("upstream got the alias as model", r.json().get("model") == "gpt-4o-mini", r.text)
    with c.stream(
        "POST", "/v1/chat/completions", json={"model": "model-a", "stream": True, "chunks": 3}
    ) as s:
        body = s.read().decode()
        check(
            "stream SSE + X-Accel-Buffering",
            s.headers.get("x-accel-buffering") == "no"
            and body.count("data: ") == 4
            and "[DONE]" in body,
            body,
        )
    r = chat(c, "model-b", temperature=0.5, top_p=1)
    sent = json.loads(r.json()["request_body"])
    check(
        "useModelName/stripParams/setParams",
        sent == {"model": "upstream-b", "messages": [], "max_tokens": 16},
        str(sent),
    )
    running = c.get("/running").json()["running"]
    check(
        "swap: only model-b running",
        [m["model"] for m in running] == ["model-b"] and running[0]["state"] == "ready",
        str(running),
    )
    check(
        "/running record shape",
        set(running[0]) == {"model", "state", "cmd", "proxy", "ttl", "name", "description"},
        str(running[0]),
    )
    time.sleep(0.3)
    stop.set()
    states = [
        {m["id"]: m["state"] for m in e["decoded"] if m["state"] not in ("stopped", "")}
        for e in events
        if e["type"] == "modelStatus"
    ]
    first = [e["type"] for e in events[:6]]
    check(
        "events on connect",
        first == ["logData", "logData", "modelStatus", "uiConfig", "profileChanged", "inflight"],
        str(first),
    )
    wanted = [
        {"model-a": "starting"},
        {"model-a": "ready"},
        {"model-a": "stopping"},
        {"model-b": "starting"},
        {"model-b": "ready"},
    ]
    seq = [s for i, s in enumerate(states) if s and (i == 0 or s != states[i - 1])]
    check(
        "modelStatus transitions during swap",
        all(w in seq for w in wanted) and seq.index(wanted[2]) < seq.index(wanted[3]),
        str(seq),
    )
    inflight_ops = [e["decoded"]["operation"] for e in events if e["type"] == "inflight"]
    check(
        "inflight upsert/remove events",
        "upsert" in inflight_ops and "remove" in inflight_ops,
        str(inflight_ops),
    )

    r = c.post("/api/models/unload/gpt-4o-mini")
    check("unload alias (not running) 200 OK", r.status_code == 200 and r.text == "OK", r.text)
    r = c.post("/api/models/unload/model-b")
    check("unload one", r.text == "OK" and c.get("/running").json() == {"running": []}, r.text)
    r = c.post("/api/models/unload/nope")
    check(
        "unload unknown 404",
        r.status_code == 404 and r.json() == {"error": "model not found", "src": "llama-swap"},
        r.text,
    )
    chat(c, "model-a")
    r = c.post("/api/models/unload")
    check(
        "unload all",
        r.text == '{"msg":"ok"}\n' and c.get("/running").json() == {"running": []},
        r.text,
    )

    r = chat(c, "broken")
    check(
        "/bin/false -> 500",
        r.status_code == 500
        and r.json()
        == {"error": "unspecific error: upstream command exited prematurely", "src": "llama-swap"},
        r.text,
    )
    r = chat(c, "nope")
    check(
        "unknown model 404",
        r.status_code == 404 and r.json()["error"] == "no router for requested model",
        r.text,
    )
    r = c.post(
        "/v1/chat/completions",
        content=b'{"model":"model-a"}',
        headers={"Content-Type": "text/plain"},
    )
    check(
        "non-JSON content type 404",
        r.status_code == 404 and r.json()["error"] == "no model id could be identified",
        r.text,
    )
    r = c.get("/nope")
    check("Go 404", r.status_code == 404 and r.text == "404 page not found\n", r.text)
    r = c.get("/v1/chat/completions")
    check("Go 405", r.status_code == 405 and r.headers.get("allow") == "POST", r.text)
    r = c.get("/upstream/model-a", follow_redirects=False)
    check(
        "/upstream redirect 301",
        r.status_code == 301 and r.headers["location"] == "/upstream/model-a/",
        str(r.headers),
    )
    r = c.get("/upstream/model-a/x.json")
    check("/upstream ignorePaths 409", r.status_code == 409, r.text)
    r = c.get("/upstream/model-a/health")
    check(
        "/upstream loads model",
        r.status_code == 200 and c.get("/running").json()["running"][0]["model"] == "model-a",
        r.text,
    )

    # 429 over concurrencyLimit (model-b: 2)
    chat(c, "model-b")
    results: list[int] = []

    def one() -> None:
        results.append(
            chat(httpx.Client(base_url=srv.base, timeout=30), "model-b", wait=1).status_code
        )

    threads = [threading.Thread(target=one) for _ in range(3)]
    for th in threads:
        th.start()
        time.sleep(0.1)
    for th in threads:
        th.join()
    check("429 over concurrencyLimit", sorted(results) == [200, 200, 429], str(results))

    def over() -> httpx.Response:
        return chat(c, "model-b")

    tl = [threading.Thread(target=one) for _ in range(2)]
    for th in tl:
        th.start()
    time.sleep(0.3)
    r = over()
    for th in tl:
        th.join()
    check(
        "429 body and Retry-After",
        r.status_code == 429
        and r.text == '{"error":"Too many requests"}'
        and r.headers.get("retry-after") == "1",
        r.text,
    )

    r = chat(c, "model-a", crash_before_headers=True)
    check(
        "502 empty body when upstream dies",
        r.status_code == 502 and r.content == b"",
        repr(r.content),
    )
    time.sleep(0.3)
    with c.stream(
        "POST", "/v1/chat/completions", json={"model": "model-a", "stream": True, "die_after": 2}
    ) as s:
        body = s.read().decode()
    check(
        "mid-stream death ends cleanly, no [DONE]",
        s.status_code == 200 and body.count("data: ") == 2 and "[DONE]" not in body,
        body,
    )

    t0 = time.monotonic()
    with c.stream(
        "POST", "/v1/chat/completions", json={"model": "slow", "stream": True, "chunks": 2}
    ) as s:
        first_at = None
        text = ""
        for chunk in s.iter_text():
            first_at = first_at or time.monotonic() - t0
            text += chunk
    reasoning = "".join(
        json.loads(line[6:])["choices"][0]["delta"].get("reasoning_content", "")
        for line in text.split("\n")
        if line.startswith("data: {") and "reasoning_content" in line
    )
    check(
        "sendLoadingState progress then upstream",
        (first_at or 9) < 1
        and reasoning.startswith("━━━━━\nllama-swap loading model: slow\n")
        and "Done! (" in reasoning
        and "[DONE]" in text,
        reasoning,
    )

    chat(c, "ttl-model")
    time.sleep(3.5)
    check("ttl unload", c.get("/running").json() == {"running": []}, c.get("/running").text)

    out: dict[str, httpx.Response] = {}
    th = threading.Thread(
        target=lambda: out.setdefault(
            "r", chat(httpx.Client(base_url=srv.base, timeout=30), "slow")
        )
    )
    th.start()
    time.sleep(1.0)
    c.post("/api/models/unload/slow")
    th.join()
    rr = out["r"]
    check(
        "unload during load -> 500 model unloaded",
        rr.status_code == 500 and rr.json()["error"] == "unspecific error: group: model unloaded",
        rr.text,
    )

    r = chat(c, "remote/llama-3")
    check(
        "peer FQN routed with apiKey + model rewrite",
        r.status_code == 200
        and r.json()["model"] == "llama-3"
        and r.json()["auth"] == "Bearer peer-secret"
        and r.json()["x_api_key"] == "peer-secret",
        r.text,
    )
    r = chat(c, "llama-3")
    check(
        "bare peer model routed",
        r.status_code == 200 and r.json()["responder"].endswith("-peer"),
        r.text,
    )
    # A GET model route gets ?model= rewritten to the peer's id, so the peer loads it and
    # its upstream answers (this one has no /props: its own 404, not llama-swap's).
    r = c.get("/props", params={"model": "remote/llama-3"})
    check(
        "peer GET route: ?model= rewritten",
        r.status_code == 404 and "llama-swap" not in r.text,
        f"{r.status_code} {r.text[:120]}",
    )


def auth_checks(base: str) -> None:
    c = httpx.Client(base_url=base, timeout=10)
    r = c.get("/v1/models")
    check(
        "401 without key",
        r.status_code == 401
        and r.headers.get("www-authenticate") == 'Basic realm="llama-swap"'
        and r.json() == {"error": "unauthorized: invalid or missing API key", "src": "llama-swap"},
        r.text,
    )
    check("health needs no key", c.get("/health").status_code == 200)
    check(
        "Bearer ok",
        c.get("/v1/models", headers={"Authorization": "Bearer sk-test-1"}).status_code == 200,
    )
    check(
        "x-api-key ok", c.get("/v1/models", headers={"x-api-key": "sk-test-1"}).status_code == 200
    )
    check("Basic password ok", c.get("/v1/models", auth=("user", "sk-test-1")).status_code == 200)
    check(
        "wrong Bearer not rescued by x-api-key",
        c.get(
            "/v1/models", headers={"Authorization": "Bearer no", "x-api-key": "sk-test-1"}
        ).status_code
        == 401,
    )
    check("OPTIONS no key 204", c.options("/v1/models").status_code == 204)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", help="run against this llama-swap binary instead of the double")
    args = parser.parse_args(argv)
    argv0 = [args.bin] if args.bin else [sys.executable, "-m", "llama_swap_double"]
    return run(argv0)


if __name__ == "__main__":
    sys.exit(main())
