"""Self-check of the llama-swap test double (or, with ``--bin``, of the real binary).

Starts the server on a throwaway config in a temp dir with tiny Python upstreams
(:mod:`llama_swap_double._selfcheck_upstream`) and checks the behaviours the test
suite relies on. Usage::

    python -m llama_swap_double._selfcheck                          # the double, v250 errors
    python -m llama_swap_double._selfcheck --error-shape envelope   # the double, newer errors
    python -m llama_swap_double._selfcheck --bin /path/to/llama-swap

Error bodies are asserted byte for byte in the shape the server speaks: v250's
``{"error":"<msg>","src":"llama-swap"}`` ("string") or main-0bdb372's OpenAI-style
``{"src":"llama-swap","error":{"message","type","param","code"}}`` ("envelope"). For a
real binary ``--error-shape auto`` (the default) detects the shape from a 404; for the
double the flag picks it (config key ``doubleErrorEnvelope``).

Every wait is on state (a file the upstream creates, ``/running``, the event stream,
``/proc``), with a deadline only as a guard. The self-check makes itself a child
subreaper, so every process a server ever started stays its descendant and a leak
cannot hide behind reparenting to init.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
UPSTREAM = HERE / "_selfcheck_upstream.py"
SLEEPER = "import time; time.sleep(3600)"  # the grandchild `--child` leaves in its group
RESULTS: list[tuple[str, bool, str]] = []
OWN_CHILDREN: set[int] = set()  # pids a Popen object waits for: never reap them by hand
STATE_TIMEOUT = 30.0  # a guard on every wait for state, never a measurement
_PR_SET_CHILD_SUBREAPER = 36


def check(name: str, ok: bool, detail: str = "") -> None:
    RESULTS.append((name, ok, detail))
    print(f"{'PASS' if ok else 'FAIL'}  {name}  {detail if not ok else ''}", flush=True)


def wait_until(predicate: Callable[[], bool], timeout: float = STATE_TIMEOUT) -> bool:
    """Poll a condition on state until it holds (True) or the guard expires (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


# -- error bodies ---------------------------------------------------------------------------

# main-0bdb372 internal/swaputil/httperror.go errorTypeForStatus, for the statuses checked.
ENVELOPE_TYPES = {
    401: ("authentication_error", "unauthorized"),
    404: ("invalid_request_error", "not_found"),
    500: ("server_error", "internal_error"),
    502: ("server_error", "bad_gateway"),
}
SHAPES = ("string", "envelope")


def go_compact(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class ErrorShape:
    """The exact bytes llama-swap sends for its own errors, in one of the two shapes."""

    name: str

    def body(self, status: int, message: str) -> bytes:
        if self.name == "string":  # v250: json.Marshal of a map, keys sorted
            return go_compact({"error": message, "src": "llama-swap"})
        etype, code = ENVELOPE_TYPES[status]
        detail = {"message": message, "type": etype, "param": None, "code": code}
        return go_compact({"src": "llama-swap", "error": detail})

    def too_many(self) -> bytes:
        """The concurrency-limit 429: v250 has no ``src``; main overrides the code."""
        if self.name == "string":
            return go_compact({"error": "Too many requests"})
        detail = {
            "message": "Too many requests",
            "type": "rate_limit_error",
            "param": None,
            "code": "concurrency_limit",
        }
        return go_compact({"src": "llama-swap", "error": detail})


def detect_shape(c: httpx.Client) -> str:
    """The shape of the server's 404 for an unknown model ("?" if neither)."""
    r = chat(c, "selfcheck-no-such-model")
    try:
        err = r.json().get("error")
    except (ValueError, AttributeError):
        return "?"
    if isinstance(err, str):
        return "string"
    if isinstance(err, dict):
        return "envelope"
    return "?"


# -- processes, from /proc -------------------------------------------------------------------


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    pgid: int
    start: int  # start time in clock ticks: with the pid, identifies the process
    state: str
    cmdline: str


def read_proc(pid: int) -> Proc | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    cmdline = raw.replace(b"\x00", b" ").decode(errors="replace").strip()
    return Proc(pid, int(fields[1]), int(fields[2]), int(fields[19]), fields[0], cmdline)


def all_procs() -> dict[int, Proc]:
    found: dict[int, Proc] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (p := read_proc(int(entry))) is not None:
            found[p.pid] = p
    return found


def descendants(root: int) -> dict[int, Proc]:
    procs = all_procs()
    children: dict[int, list[int]] = {}
    for p in procs.values():
        children.setdefault(p.ppid, []).append(p.pid)
    found: dict[int, Proc] = {}
    stack = list(children.get(root, []))
    while stack:
        pid = stack.pop()
        if pid not in found:
            found[pid] = procs[pid]
            stack.extend(children.get(pid, []))
    return found


def still_running(p: Proc) -> bool:
    """Is this very process (same pid and start) alive? Reaps it if it is our zombie."""
    now = read_proc(p.pid)
    if now is None or now.start != p.start:
        return False
    if now.state == "Z":
        if now.ppid == os.getpid() and now.pid not in OWN_CHILDREN:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(now.pid, os.WNOHANG)
        return False
    return True


def live_descendants_of_self() -> list[Proc]:
    return [p for p in descendants(os.getpid()).values() if still_running(p)]


def kill_leftovers(procs: list[Proc]) -> None:
    """A failed check must not leak: SIGKILL what it found (whole groups, never our own)."""
    for p in procs:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if p.pgid != os.getpgrp():
                os.killpg(p.pgid, signal.SIGKILL)
            else:
                os.kill(p.pid, signal.SIGKILL)
    wait_until(lambda: not any(still_running(p) for p in procs))


def become_subreaper() -> None:
    """Orphans of any server's tree get reparented to us instead of init."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")


def is_sleeper(p: Proc) -> bool:
    return p.cmdline.endswith(f"-c {SLEEPER}")


def upstream_of(server_pid: int, responder: str) -> Proc | None:
    """The live upstream process of a server answering as ``responder``."""
    for p in descendants(server_pid).values():
        if f"--respond {responder}" in p.cmdline and str(UPSTREAM) in p.cmdline:
            return p
    return None


# -- servers ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_block(size: int) -> int:
    """A run of ``size`` free loopback ports below the ephemeral range, for ``startPort``."""
    for _ in range(200):
        base = random.randrange(20000, 32000 - size)
        try:
            with contextlib.ExitStack() as stack:
                for port in range(base, base + size):
                    s = stack.enter_context(socket.socket())
                    s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
    raise RuntimeError(f"no block of {size} free ports found")


def config_text(
    tag: str,
    start_port: int,
    peer_port: int,
    api_keys: list[str] | None,
    ready_file: Path,
    envelope: bool,
) -> str:
    py = sys.executable
    up = f"{py} {UPSTREAM}"
    keys = f"apiKeys: {json.dumps(api_keys)}\n" if api_keys else ""
    double_only = "doubleErrorEnvelope: true\n" if envelope else ""
    return f"""
healthCheckTimeout: 15
logLevel: debug
logToStdout: none
startPort: {start_port}
{double_only}{keys}models:
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
    cmd: {up} --port ${{PORT}} --respond {tag}-slow --ready-file {ready_file}
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
  down:
    proxy: http://127.0.0.1:9
    models: [gone]
"""


def peer_config(tag: str, start_port: int, envelope: bool) -> str:
    double_only = "doubleErrorEnvelope: true\n" if envelope else ""
    return f"""
healthCheckTimeout: 15
logToStdout: none
startPort: {start_port}
{double_only}apiKeys: ["peer-secret"]
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
        OWN_CHILDREN.add(self.proc.pid)

        def healthy() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server on {port} exited ({self.proc.returncode}), see {log}")
            try:
                return httpx.get(self.base + "/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        if not wait_until(healthy):
            raise RuntimeError(f"server on {port} did not come up, see {log}")

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=40)


def chat(c: httpx.Client, model: str, **extra: object) -> httpx.Response:
    return c.post("/v1/chat/completions", json={"model": model, "messages": [], **extra})


def running(c: httpx.Client) -> dict[str, str]:
    """``/running`` as model id -> state."""
    return {m["model"]: m["state"] for m in c.get("/running").json()["running"]}


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


# -- the run ---------------------------------------------------------------------------------


@dataclass
class Run:
    """What the checks share: the server, the temp dir, the shape, what crashed."""

    srv: Server
    c: httpx.Client
    tag: str
    tmp: Path
    shape: ErrorShape
    real: bool
    crashed_groups: set[int]  # process groups of upstreams that exited on their own


def run(argv0: list[str], real: bool, requested_shape: str) -> int:
    become_subreaper()
    tag = f"lsdcheck{os.getpid()}"
    tmp = Path(tempfile.mkdtemp(prefix="lsd-selfcheck-"))
    port, peer_port, auth_port = free_port(), free_port(), free_port()
    base_port = free_block(30)
    envelope = not real and requested_shape == "envelope"
    ready = tmp / "slow.ready"
    (tmp / "main.yaml").write_text(config_text(tag, base_port, peer_port, None, ready, envelope))
    (tmp / "peer.yaml").write_text(peer_config(tag, base_port + 8, envelope))
    (tmp / "auth.yaml").write_text(
        config_text(tag, base_port + 20, peer_port, ["sk-test-1"], ready, envelope)
    )
    peer = Server(argv0, tmp / "peer.yaml", peer_port, tmp / "peer.log")
    srv = Server(argv0, tmp / "main.yaml", port, tmp / "main.log")
    auth = Server(argv0, tmp / "auth.yaml", auth_port, tmp / "auth.log")
    c = httpx.Client(base_url=srv.base, timeout=60)

    detected = detect_shape(c)
    expected = "string" if requested_shape == "auto" and not real else requested_shape
    if expected == "auto":
        expected = detected
    check(
        f"speaks the {expected} error shape",
        detected == expected and detected in SHAPES,
        f"detected {detected!r}",
    )
    shape = ErrorShape(expected if expected in SHAPES else "string")
    state = Run(srv, c, tag, tmp, shape, real, set())
    try:
        checks(state)
        auth_checks(auth.base, shape)
    finally:
        for s in (srv, auth, peer):
            code = s.stop()
            check(f"exit code 0 after SIGTERM ({s.port})", code == 0, str(code))
        tree_check(state)
    if not real:
        sigkill_check(argv0, tmp)
    failed = [r for r in RESULTS if not r[1]]
    what = f"real llama-swap {argv0[0]}" if real else "the double"
    print(
        f"\n{len(RESULTS) - len(failed)}/{len(RESULTS)} passed against {what} "
        f"({shape.name} error bodies); logs in {tmp}"
    )
    return 1 if failed else 0


def tree_check(state: Run) -> None:
    """After SIGTERM every process the servers started is gone, with one real-binary leak.

    Real llama-swap (v250, main-0bdb372) signals an upstream's process group only when
    it stops that upstream itself: an upstream that exits on its own leaves its children
    running (the group is never signalled, not even at shutdown). The double kills the
    group as soon as its leader exits. So the real binary must leave exactly the
    sleeper grandchild of each crashed upstream, and the double nothing.
    """
    crashed = state.crashed_groups

    def settled() -> bool:
        left = live_descendants_of_self()
        if state.real:
            return all(p.pgid in crashed for p in left)
        return not left

    wait_until(settled)
    left = live_descendants_of_self()
    listing = "\n".join(f"{p.pid} pgid {p.pgid}: {p.cmdline}" for p in left)
    if state.real:
        check(
            "after SIGTERM only the grandchildren of self-exited upstreams are left "
            "(real llama-swap never signals the group of an upstream that exited on its own)",
            len(crashed) == 2
            and sorted(p.pgid for p in left) == sorted(crashed)
            and all(is_sleeper(p) for p in left),
            f"crashed groups {sorted(crashed)}; left:\n{listing}",
        )
    else:
        check("no descendant of any server left after SIGTERM", not left, listing)
    kill_leftovers(left)


def sigkill_check(argv0: list[str], tmp: Path) -> None:
    """Double only: a SIGKILLed double's reaper stops every upstream group.

    Real llama-swap starts upstreams with Setpgid and no Pdeathsig, so a SIGKILLed
    llama-swap leaves them running; this item is not run against it.
    """
    srv = Server(argv0, tmp / "main.yaml", free_port(), tmp / "kill9.log")
    r = httpx.post(
        srv.base + "/v1/chat/completions", json={"model": "model-a", "messages": []}, timeout=30
    )
    tree = descendants(srv.proc.pid)
    upstreams = {p.pid for p in tree.values() if str(UPSTREAM) in p.cmdline}
    grandchildren = [p for p in tree.values() if p.ppid in upstreams and is_sleeper(p)]
    srv.proc.kill()
    srv.proc.wait()
    wait_until(lambda: not any(still_running(p) for p in tree.values()))
    left = [p for p in tree.values() if still_running(p)]
    check(
        "SIGKILL of the double: every descendant (upstream, its child, the reaper) is gone "
        "[double only: real llama-swap leaves its upstreams on SIGKILL]",
        r.status_code == 200 and bool(grandchildren) and not left,
        f"status {r.status_code}; tree:\n"
        + "\n".join(f"{p.pid} {p.cmdline}" for p in tree.values())
        + "\nleft:\n"
        + "\n".join(f"{p.pid} {p.cmdline}" for p in left),
    )
    kill_leftovers(left)


def checks(state: Run) -> None:
    c = state.c
    r = c.get("/v1/models")
    records = {m["id"]: m for m in r.json()["data"]}
    ids = [m["id"] for m in r.json()["data"]]
    check(
        "list ids sorted, unlisted hidden, peers listed",
        ids == ["down/gone", "model-a", "model-b", "remote/llama-3", "slow", "ttl-model"],
        str(ids),
    )
    rec = records["model-a"]
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
    peer_rec = records["remote/llama-3"]
    check(
        "peer record",
        peer_rec.get("meta") == {"llamaswap": {"peerID": "remote", "type": "peer"}}
        and peer_rec.get("name") == "remote: llama-3",
        json.dumps(peer_rec),
    )

    swap_and_event_checks(state)
    unload_and_error_checks(state)
    concurrency_checks(state)
    crash_checks(state)
    loading_checks(state)
    peer_checks(c, state.shape)


def swap_and_event_checks(state: Run) -> None:
    c, srv = state.c, state.srv
    events: list[dict[str, Any]] = []
    stop = threading.Event()
    t = threading.Thread(target=collect_events, args=(srv.base, {}, stop, events), daemon=True)
    t.start()
    wait_until(lambda: len(events) >= 6)  # the burst every new subscriber gets

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
    listing = c.get("/running").json()["running"]
    check(
        "swap: only model-b running",
        [m["model"] for m in listing] == ["model-b"] and listing[0]["state"] == "ready",
        str(listing),
    )
    check(
        "/running record shape",
        set(listing[0]) == {"model", "state", "cmd", "proxy", "ttl", "name", "description"},
        str(listing[0]),
    )

    wanted = [
        {"model-a": "starting"},
        {"model-a": "ready"},
        {"model-a": "stopping"},
        {"model-b": "starting"},
        {"model-b": "ready"},
    ]

    def transitions() -> list[dict[str, str]]:
        states = [
            {m["id"]: m["state"] for m in e["decoded"] if m["state"] not in ("stopped", "")}
            for e in list(events)
            if e["type"] == "modelStatus"
        ]
        return [s for i, s in enumerate(states) if s and (i == 0 or s != states[i - 1])]

    def inflight_ops() -> list[str]:
        return [e["decoded"]["operation"] for e in list(events) if e["type"] == "inflight"]

    # Wait for what the checks below look for (model-b ready, a request's "remove").
    wait_until(lambda: all(w in transitions() for w in wanted) and "remove" in inflight_ops())
    stop.set()
    first = [e["type"] for e in events[:6]]
    check(
        "events on connect",
        first == ["logData", "logData", "modelStatus", "uiConfig", "profileChanged", "inflight"],
        str(first),
    )
    seq = transitions()
    check(
        "modelStatus transitions during swap",
        all(w in seq for w in wanted) and seq.index(wanted[2]) < seq.index(wanted[3]),
        str(seq),
    )
    ops = inflight_ops()
    check("inflight upsert/remove events", "upsert" in ops and "remove" in ops, str(ops))


def unload_and_error_checks(state: Run) -> None:
    c, shape = state.c, state.shape
    r = c.post("/api/models/unload/gpt-4o-mini")
    check("unload alias (not running) 200 OK", r.status_code == 200 and r.text == "OK", r.text)
    r = c.post("/api/models/unload/model-b")
    check("unload one", r.text == "OK" and running(c) == {}, r.text)
    r = c.post("/api/models/unload/nope")
    check(
        "unload unknown 404",
        r.status_code == 404 and r.content == shape.body(404, "model not found"),
        r.text,
    )
    chat(c, "model-a")
    r = c.post("/api/models/unload")
    check("unload all", r.text == '{"msg":"ok"}\n' and running(c) == {}, r.text)

    r = chat(c, "broken")
    check(
        "/bin/false -> 500",
        r.status_code == 500
        and r.content == shape.body(500, "unspecific error: upstream command exited prematurely"),
        r.text,
    )
    r = chat(c, "nope")
    check(
        "unknown model 404",
        r.status_code == 404 and r.content == shape.body(404, "no router for requested model"),
        r.text,
    )
    r = c.post(
        "/v1/chat/completions",
        content=b'{"model":"model-a"}',
        headers={"Content-Type": "text/plain"},
    )
    check(
        "non-JSON content type 404",
        r.status_code == 404 and r.content == shape.body(404, "no model id could be identified"),
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
        r.status_code == 200 and list(running(c)) == ["model-a"],
        r.text,
    )


def concurrency_checks(state: Run) -> None:
    """model-b has concurrencyLimit 2: hold two requests in its upstream, send a third."""
    c, srv, tmp = state.c, state.srv, state.tmp
    chat(c, "model-b")
    gate = tmp / "model-b.gate"
    arrived = [tmp / f"model-b.arrived-{i}" for i in range(2)]
    held: list[int] = []

    def hold(mark: Path) -> None:
        with httpx.Client(base_url=srv.base, timeout=60) as own:
            held.append(chat(own, "model-b", arrived=str(mark), hold=str(gate)).status_code)

    threads = [threading.Thread(target=hold, args=(mark,)) for mark in arrived]
    for th in threads:
        th.start()
    both_in = wait_until(lambda: all(mark.exists() for mark in arrived))
    r = chat(c, "model-b")
    gate.touch()
    for th in threads:
        th.join()
    check(
        "429 over concurrencyLimit (two held in the upstream, a third refused)",
        both_in and held == [200, 200] and r.status_code == 429,
        f"both arrived: {both_in}; held: {held}; third: {r.status_code}",
    )
    check(
        "429 body, JSON and Retry-After: 1",
        r.status_code == 429
        and r.content == state.shape.too_many()
        and r.headers.get("content-type") == "application/json"
        and r.headers.get("retry-after") == "1",
        f"{r.headers.get('content-type')} {r.text}",
    )


def crash_checks(state: Run) -> None:
    """An upstream that dies before its headers, and one that dies mid-stream."""
    c, srv, tag = state.c, state.srv, state.tag
    chat(c, "model-a")
    victim = upstream_of(srv.proc.pid, f"{tag}-model-a")
    r = chat(c, "model-a", crash_before_headers=True)
    check(
        "502 empty body when upstream dies",
        r.status_code == 502 and r.content == b"",
        repr(r.content),
    )
    # Real llama-swap notices the exit only when cmd.Wait returns: WaitDelay (10 s) after
    # the exit while the grandchild holds the output pipe. Until then it stays "ready".
    gone = wait_until(lambda: "model-a" not in running(c))
    check("crashed upstream leaves /running", gone, str(running(c)))
    if victim is not None:
        state.crashed_groups.add(victim.pgid)

    chat(c, "model-a")
    victim = upstream_of(srv.proc.pid, f"{tag}-model-a")
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
    payload = {"model": "model-a", "messages": [], "stream": True, "die_after": 2}
    conn.request(
        "POST",
        "/v1/chat/completions",
        body=json.dumps(payload),
        headers={"Content-Type": "application/json"},
    )
    resp = conn.getresponse()
    chunked = resp.getheader("Transfer-Encoding") == "chunked"
    try:
        body, terminated = resp.read().decode(), True
    except http.client.IncompleteRead as err:
        body, terminated = err.partial.decode(), False
    sock = conn.sock
    try:
        conn.request("GET", "/health")
        again = conn.getresponse()
        again.read()
        kept_alive = again.status == 200 and sock is not None and conn.sock is sock
    except (http.client.HTTPException, OSError):
        kept_alive = False
    conn.close()
    check(
        "mid-stream death: 200, the 2 events sent, no [DONE], chunked body ends with its "
        "terminator and the connection stays open",
        resp.status == 200
        and chunked
        and body.count("data: ") == 2
        and "[DONE]" not in body
        and terminated
        and kept_alive,
        f"status {resp.status} chunked {chunked} terminated {terminated} "
        f"kept alive {kept_alive} body {body!r}",
    )
    gone = wait_until(lambda: "model-a" not in running(c))
    check("upstream dead mid-stream leaves /running", gone, str(running(c)))
    if victim is not None:
        state.crashed_groups.add(victim.pgid)


def loading_checks(state: Run) -> None:
    """sendLoadingState, TTL, and an unload while loading; ``slow`` is healthy on a file."""
    c, srv, tmp = state.c, state.srv, state.tmp
    ready = tmp / "slow.ready"
    watcher = httpx.Client(base_url=srv.base, timeout=60)
    with c.stream(
        "POST", "/v1/chat/completions", json={"model": "slow", "stream": True, "chunks": 2}
    ) as s:
        pieces = s.iter_text()
        text = ""
        for piece in pieces:
            text += piece
            if "\n\n" in text:
                break
        first_event = text.split("\n\n", 1)[0]
        state_then = running(watcher).get("slow")
        ready.touch()
        text += "".join(pieces)
    ready.unlink()
    reasoning = "".join(
        json.loads(line[6:])["choices"][0]["delta"].get("reasoning_content", "")
        for line in text.split("\n")
        if line.startswith("data: {") and "reasoning_content" in line
    )
    # "Done! (N.NNs)" closes the progress unless the model got ready while a remark was
    # still being typed: llama-swap (v250 and main) then waits 1 s for its writer and
    # hands the stream to the upstream anyway, and the rest of the remark and the Done
    # line are dropped. Either way the upstream's answer follows.
    answer = "".join(
        choice.get("delta", {}).get("content") or ""
        for line in text.split("\n")
        if line.startswith("data: {")
        for choice in json.loads(line[6:]).get("choices") or []
    )
    check(
        "sendLoadingState: progress while still starting, then the upstream",
        state_then == "starting"
        and "reasoning_content" in first_event
        and reasoning.startswith("━━━━━\nllama-swap loading model: slow\n")
        and bool(answer)
        and "[DONE]" in text,
        f"state when the first event came: {state_then}; answer {answer!r}; {reasoning!r}",
    )

    r = chat(c, "ttl-model")
    unloaded = wait_until(lambda: running(c) == {})
    check("ttl unload", r.status_code == 200 and unloaded, c.get("/running").text)

    out: dict[str, httpx.Response] = {}

    def load_slow() -> None:
        with httpx.Client(base_url=srv.base, timeout=60) as own:
            out["r"] = chat(own, "slow")

    th = threading.Thread(target=load_slow)
    th.start()
    starting = wait_until(lambda: running(watcher).get("slow") == "starting")
    c.post("/api/models/unload/slow")
    th.join()
    watcher.close()
    rr = out["r"]
    check(
        "unload during load -> 500 model unloaded",
        starting
        and rr.status_code == 500
        and rr.content == state.shape.body(500, "unspecific error: group: model unloaded"),
        rr.text,
    )


def peer_checks(c: httpx.Client, shape: ErrorShape) -> None:
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
    # v250's peer proxy answers with http.Error (text); main-0bdb372 through SendResponse.
    r = chat(c, "down/gone")
    message = "peer proxy error: dial tcp 127.0.0.1:9: connect: connection refused"
    if shape.name == "string":
        wanted = ("text/plain; charset=utf-8", (message + "\n").encode())
    else:
        wanted = ("application/json", shape.body(502, message))
    check(
        "peer down -> 502",
        r.status_code == 502 and (r.headers.get("content-type"), r.content) == wanted,
        f"{r.status_code} {r.headers.get('content-type')} {r.text}",
    )


def auth_checks(base: str, shape: ErrorShape) -> None:
    c = httpx.Client(base_url=base, timeout=10)
    r = c.get("/v1/models")
    check(
        "401 without key",
        r.status_code == 401
        and r.headers.get("www-authenticate") == 'Basic realm="llama-swap"'
        and r.content == shape.body(401, "unauthorized: invalid or missing API key"),
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
    parser = argparse.ArgumentParser(prog="python -m llama_swap_double._selfcheck")
    parser.add_argument("--bin", help="run against this llama-swap binary instead of the double")
    parser.add_argument(
        "--error-shape",
        choices=("auto", *SHAPES),
        default="auto",
        help="error bodies to expect: v250's string, main-0bdb372's envelope, or auto "
        "(a real binary: detected; the double: string). For the double it also sets "
        "doubleErrorEnvelope.",
    )
    args = parser.parse_args(argv)
    argv0 = [args.bin] if args.bin else [sys.executable, "-m", "llama_swap_double"]
    return run(argv0, real=bool(args.bin), requested_shape=args.error_shape)


if __name__ == "__main__":
    sys.exit(main())
