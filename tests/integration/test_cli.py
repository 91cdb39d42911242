"""The installed ``llamaswap`` console script against the rig (real llama-swap, real models).

Every test runs the script the venv installed (``<venv>/bin/llamaswap``) in a subprocess,
with stdout and stderr as pipes (not a terminal: no colour, no redraw), and a temporary
cache directory for the remembered load times. Interrupt tests wait on state (a progress
line, an in-flight request), never on the clock, before sending SIGINT.
"""

from __future__ import annotations

import io
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest
from PIL import Image

from llamaswap import InFlight, LlamaSwapProvider
from llamaswap_rig.runner import Rig

SCRIPT = Path(sys.executable).parent / "llamaswap"
WAIT = 120.0  # a bound on waiting for a state, so a broken build fails instead of hanging


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def cli_env(cache_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LLAMASWAP_DSN", "NO_COLOR")}
    env["LLAMASWAP_CACHE_DIR"] = str(cache_dir)
    env.update(extra)
    return env


def run(
    cache_dir: Path, *args: str, dsn: str | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    argv = [str(SCRIPT), *(["--dsn", dsn] if dsn else []), *args]
    return subprocess.run(
        argv,
        env=cli_env(cache_dir),
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=600,
    )


class Running:
    """A ``llamaswap`` process whose stdout and stderr lines are read as they come."""

    def __init__(self, cache_dir: Path, *args: str, dsn: str, cwd: Path | None = None) -> None:
        self.proc = subprocess.Popen(
            [str(SCRIPT), "--dsn", dsn, *args],
            env=cli_env(cache_dir),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=cwd,
        )
        self.out: queue.Queue[str] = queue.Queue()
        self.err: queue.Queue[str] = queue.Queue()
        self.err_lines: list[str] = []
        assert self.proc.stdout is not None and self.proc.stderr is not None
        for stream, lines in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=self._pump, args=(stream, lines), daemon=True).start()

    @staticmethod
    def _pump(stream: IO[str], lines: queue.Queue[str]) -> None:
        for line in stream:
            lines.put(line.rstrip("\n"))

    def wait_for(self, lines: queue.Queue[str], accept: Callable[[str], bool]) -> str:
        """The first line ``accept`` takes; fails if the process ends or WAIT passes."""
        while True:
            try:
                line = lines.get(timeout=WAIT)
            except queue.Empty:
                pytest.fail(f"no matching line; stderr so far: {self.err_lines}")
            if lines is self.err:
                self.err_lines.append(line)
            if accept(line):
                return line

    def interrupt(self) -> tuple[int, str]:
        """SIGINT, then the exit code and the rest of stderr."""
        self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(timeout=WAIT)
        rest = []
        while True:
            try:
                rest.append(self.err.get(timeout=1))
            except queue.Empty:
                break
        return code, "\n".join(self.err_lines + rest)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def provider(rig: Rig) -> Iterator[LlamaSwapProvider]:
    with LlamaSwapProvider(rig.dsn) as p:
        yield p


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def assert_one_error(stderr: str) -> tuple[str, str]:
    """stderr is exactly ``error: ...`` and ``hint: ...``, no traceback; returns both."""
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: ") and lines[1].startswith("hint: ")
    return lines[0], lines[1]


def running_states(provider: LlamaSwapProvider) -> list[tuple[str, str]]:
    return sorted((r.model, r.state) for r in provider.running())


def watch_in_flight(provider: LlamaSwapProvider, path: str, *, answering: bool) -> threading.Event:
    """Set once llama-swap tracks a request to ``path`` (that has sent bytes, if ``answering``)."""
    seen = threading.Event()

    def watch() -> None:
        for event in provider.events():
            if isinstance(event, InFlight) and any(
                r.get("req_path") == path and (not answering or r.get("resp_bytes", 0) > 0)
                for r in event.requests
            ):
                seen.set()
                return

    threading.Thread(target=watch, daemon=True).start()
    return seen


# -- the script itself -----------------------------------------------------------------------


def test_the_console_script_is_installed_and_python_m_runs_the_same(cache_dir: Path) -> None:
    assert SCRIPT.is_file(), f"{SCRIPT} missing: run `make venv` to install the console script"
    script = run(cache_dir, "--version")
    module = subprocess.run(
        [sys.executable, "-m", "llamaswap", "--version"], capture_output=True, text=True
    )
    assert script.returncode == module.returncode == 0
    assert script.stdout == module.stdout
    assert re.fullmatch(r"llamaswap \d+\.\d+\.\d+\S*\n", script.stdout)


# -- data commands ------------------------------------------------------------------------------


def test_models_prints_a_table_and_json_parses_back(
    rig: Rig, provider: LlamaSwapProvider, cache_dir: Path
) -> None:
    table = run(cache_dir, "models", dsn=rig.dsn)
    assert table.returncode == 0, table.stderr
    header, *rows = table.stdout.splitlines()
    assert header.split() == ["ID", "NAME", "STATE", "CONTEXT", "ALIASES", "PEER"]
    qwen = next(r for r in rows if r.startswith("qwen "))
    assert "coder" in qwen.split() and "2048" in qwen.split()
    assert not any(r.startswith("broken ") for r in rows)  # unlisted stays hidden
    assert "\x1b[" not in table.stdout  # no colour in a pipe

    parsed = json.loads(run(cache_dir, "models", "--json", dsn=rig.dsn).stdout)
    assert [m["id"] for m in parsed] == [m.id for m in provider.list_models()]
    by_id = {m["id"]: m for m in parsed}
    assert by_id["qwen"]["aliases"] == ["coder"] and by_id["qwen"]["context_length"] == 2048
    assert {r.split()[0] for r in rows} == set(by_id)


def test_running_and_unload_one_and_all(
    rig: Rig, provider: LlamaSwapProvider, cache_dir: Path
) -> None:
    provider.unload()
    empty = run(cache_dir, "running", dsn=rig.dsn)
    assert (empty.returncode, empty.stdout) == (0, "")
    assert "no model is running" in empty.stderr
    assert json.loads(run(cache_dir, "running", "--json", dsn=rig.dsn).stdout) == []

    provider.load("fake-model")
    table = run(cache_dir, "running", dsn=rig.dsn)
    assert table.returncode == 0
    assert table.stdout.splitlines()[1].split()[:2] == ["fake-model", "ready"]
    parsed = json.loads(run(cache_dir, "running", "--json", dsn=rig.dsn).stdout)
    assert [(r["model"], r["state"]) for r in parsed] == [("fake-model", "ready")]

    one = run(cache_dir, "unload", "fake-model", dsn=rig.dsn)
    assert (one.returncode, one.stdout) == (0, "unloaded fake-model\n")
    assert running_states(provider) == []

    provider.load("fake-model")
    every = run(cache_dir, "unload", "--json", dsn=rig.dsn)
    assert every.returncode == 0
    assert json.loads(every.stdout) == {"unloaded": None, "all": True}
    assert running_states(provider) == []


def test_health_and_version(rig: Rig, provider: LlamaSwapProvider, cache_dir: Path) -> None:
    health = run(cache_dir, "health", dsn=rig.dsn)
    assert (health.returncode, health.stdout) == (0, f"llama-swap at {rig.base_url} is up\n")
    assert json.loads(run(cache_dir, "health", "--json", dsn=rig.dsn).stdout) == {
        "base_url": rig.base_url,
        "healthy": True,
    }
    info = provider.version()
    version = run(cache_dir, "version", dsn=rig.dsn)
    assert version.returncode == 0
    assert version.stdout.splitlines()[0].startswith(f"llama-swap {info.version} ")
    parsed = json.loads(run(cache_dir, "--json", "version", dsn=rig.dsn).stdout)
    assert parsed["llama_swap"]["version"] == info.version
    assert parsed["llama_swap"]["commit"] == info.commit


# -- load: progress, estimate, failures ------------------------------------------------------


def test_load_shows_state_changes_and_estimates_from_earlier_loads(
    rig_factory: Callable[..., Rig], cache_dir: Path
) -> None:
    slow = rig_factory(models=("fake-model",), fast_load=1.5)
    first = run(cache_dir, "load", "fake-model", dsn=slow.dsn)
    assert first.returncode == 0, first.stderr
    assert re.fullmatch(r"fake-model is ready \(\d+\.\ds\)\n", first.stdout)
    progress = first.stderr.splitlines()
    assert progress[0] == "loading fake-model (no earlier load remembered)"
    assert "loading fake-model: starting" in progress  # from /api/events, one line per change

    remembered = json.loads((cache_dir / "load-times.json").read_text())
    (seconds,) = remembered["loads"][slow.base_url]["fake-model"]
    assert seconds > 0

    again = run(cache_dir, "load", "fake-model", "--json", dsn=slow.dsn)
    assert json.loads(again.stdout)["was_loaded"] is True  # no second load, nothing learned

    with LlamaSwapProvider(slow.dsn) as p:
        p.unload()
    second = run(cache_dir, "load", "fake-model", "--json", dsn=slow.dsn)
    assert second.returncode == 0, second.stderr
    result = json.loads(second.stdout)
    assert result["model"] == "fake-model" and result["state"] == "ready"
    assert result["was_loaded"] is False
    assert result["estimate_seconds"] == pytest.approx(seconds)
    assert second.stderr.splitlines()[0].startswith("loading fake-model (earlier loads took ~")
    loads = json.loads((cache_dir / "load-times.json").read_text())["loads"]
    assert len(loads[slow.base_url]["fake-model"]) == 2


def test_load_by_alias_reports_the_model_id(
    rig: Rig, provider: LlamaSwapProvider, cache_dir: Path
) -> None:
    result = run(cache_dir, "load", "coder", "--json", dsn=rig.dsn)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["model"] == "qwen"
    assert ("qwen", "ready") in running_states(provider)


def test_failed_load_prints_llama_swaps_reason(rig: Rig, cache_dir: Path) -> None:
    result = run(cache_dir, "load", "broken", dsn=rig.dsn)
    assert result.returncode == 1
    error, hint = assert_one_error(
        "\n".join(line for line in result.stderr.splitlines() if not line.startswith("loading"))
    )
    assert error == (
        "error: llama-swap could not load model 'broken': upstream command exited prematurely"
    )
    assert "llamaswap logs broken" in hint
    assert result.stdout == ""


# -- errors ---------------------------------------------------------------------------------


def test_unknown_model_lists_the_ids_llama_swap_knows(
    rig: Rig, provider: LlamaSwapProvider, cache_dir: Path
) -> None:
    ids = [m.id for m in provider.list_models()]
    for args in (["load", "nope"], ["chat", "nope", "hi"], ["unload", "nope"]):
        result = run(cache_dir, *args, dsn=rig.dsn)
        assert result.returncode == 1, args
        error, hint = assert_one_error(
            "\n".join(line for line in result.stderr.splitlines() if not line.startswith("load"))
        )
        assert "'nope'" in error and all(i in error for i in ids), (args, error)
        assert "llamaswap models" in hint


def test_unreachable_llama_swap_names_the_address_tried(cache_dir: Path) -> None:
    address = f"http://127.0.0.1:{closed_port()}"
    for args in (["models"], ["load", "qwen"], ["chat", "qwen", "hi"]):
        result = run(cache_dir, *args, dsn=address)
        assert result.returncode == 1, args
        error, hint = assert_one_error(result.stderr)
        assert f"could not reach llama-swap at {address}" in error, args
        assert hint.startswith(f"hint: tried {address}")
    health = run(cache_dir, "health", dsn=address)
    assert health.returncode == 1
    assert f"llama-swap at {address} did not answer GET /health" in health.stderr


def test_missing_and_wrong_key_say_which(keyed_rig: Rig, cache_dir: Path) -> None:
    address = f"llama-swap://127.0.0.1:{keyed_rig.port}"
    missing = run(cache_dir, "models", dsn=address)
    assert missing.returncode == 1
    error, hint = assert_one_error(missing.stderr)
    assert "401" in error and "no key was sent" in error
    assert "needs a key" in hint and "--dsn llama-swap://KEY@host:port" in hint

    wrong_key = "sk-definitely-wrong-7"
    wrong = run(cache_dir, "running", dsn=f"llama-swap://{wrong_key}@127.0.0.1:{keyed_rig.port}")
    assert wrong.returncode == 1
    error, hint = assert_one_error(wrong.stderr)
    assert "401" in error and "the key was refused" in hint
    assert wrong_key not in wrong.stderr + wrong.stdout

    right = run(cache_dir, "models", "--json", dsn=keyed_rig.dsn)
    assert right.returncode == 0 and json.loads(right.stdout)
    assert keyed_rig.api_key is not None and keyed_rig.api_key not in right.stdout


def test_bad_command_lines_exit_2_before_calling_llama_swap(cache_dir: Path) -> None:
    nowhere = f"llama-swap://127.0.0.1:{closed_port()}"
    bad_dsn = run(cache_dir, "models", dsn="llama-swap://host:99999")
    assert bad_dsn.returncode == 2
    assert "port" in assert_one_error(bad_dsn.stderr)[0]
    no_history = run(cache_dir, "logs", "--no-history", dsn=nowhere)
    assert no_history.returncode == 2
    assert "needs --follow" in assert_one_error(no_history.stderr)[0]
    no_model = run(cache_dir, "image", "a fox", "-o", "x.png", dsn=nowhere)
    assert no_model.returncode == 2 and "--model" in no_model.stderr  # argparse's usage error


# -- events and logs ----------------------------------------------------------------------------


def test_events_json_is_one_event_a_line_until_ctrl_c(
    rig: Rig, provider: LlamaSwapProvider, cache_dir: Path
) -> None:
    provider.unload()
    cli = Running(cache_dir, "events", "--json", dsn=rig.dsn)
    try:
        first = json.loads(cli.wait_for(cli.out, lambda line: '"modelStatus"' in line))
        assert {"id": "fake-model"}.items() <= next(
            m for m in first["data"] if m["id"] == "fake-model"
        ).items()
        provider.load("fake-model")

        def fake_model_ready(line: str) -> bool:
            event = json.loads(line)  # every line is one JSON event
            return event["type"] == "modelStatus" and any(
                m["id"] == "fake-model" and m["state"] == "ready" for m in event["data"]
            )

        cli.wait_for(cli.out, fake_model_ready)
        code, stderr = cli.interrupt()
    finally:
        cli.stop()
    assert code == 130
    assert "Traceback" not in stderr


def test_events_readable_lines_show_model_state_changes(
    rig: Rig, provider: LlamaSwapProvider, cache_dir: Path
) -> None:
    provider.unload()
    cli = Running(cache_dir, "events", "--no-logs", dsn=rig.dsn)
    try:
        cli.wait_for(cli.out, lambda line: line.endswith("model fake-model stopped"))
        provider.load("fake-model")
        ready = cli.wait_for(cli.out, lambda line: line.endswith("model fake-model ready"))
        assert re.match(r"\d\d:\d\d:\d\d model fake-model ready$", ready)
        code, _ = cli.interrupt()
    finally:
        cli.stop()
    assert code == 130


def test_logs_history_of_all_and_of_one_model(
    rig: Rig, provider: LlamaSwapProvider, cache_dir: Path
) -> None:
    provider.load("fake-model")
    everything = run(cache_dir, "logs", dsn=rig.dsn)
    assert everything.returncode == 0
    assert "[INFO]" in everything.stdout  # llama-swap's own lines

    one = run(cache_dir, "logs", "fake-model", dsn=rig.dsn)
    assert one.returncode == 0
    assert "listening on 127.0.0.1:" in one.stdout  # the model server's own output
    assert "[INFO]" not in one.stdout  # and none of llama-swap's

    parsed = json.loads(run(cache_dir, "logs", "fake-model", "--json", dsn=rig.dsn).stdout)
    assert parsed["source"] == "fake-model"
    assert parsed["lines"] == one.stdout.splitlines()

    unknown = run(cache_dir, "logs", "nope", dsn=rig.dsn)
    assert unknown.returncode == 1
    error, _ = assert_one_error(unknown.stderr)
    assert "it has: proxy, upstream" in error and "fake-model" in error


def test_logs_follow_without_history_prints_new_lines_until_ctrl_c(
    rig: Rig, cache_dir: Path
) -> None:
    cli = Running(cache_dir, "logs", "proxy", "--follow", "--no-history", dsn=rig.dsn)
    marker = "__follow_marker__"
    seen = threading.Event()

    def poke() -> None:
        # The stream subscribes some time after start: ask until a new line shows up.
        with httpx.Client(base_url=rig.base_url) as client:
            while not seen.wait(0.5):
                client.get(f"/{marker}")

    threading.Thread(target=poke, daemon=True).start()
    try:
        line = cli.wait_for(cli.out, lambda text: marker in text)
        seen.set()
        assert line.startswith("[INFO] Request ")  # llama-swap's access log, live
        code, stderr = cli.interrupt()
    finally:
        seen.set()
        cli.stop()
    assert code == 130 and "Traceback" not in stderr


# -- image -----------------------------------------------------------------------------------


def test_image_writes_the_png_and_json_describes_it(
    rig: Rig, cache_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "fox.png"
    made = run(
        cache_dir,
        "image",
        "a red fox",
        "--model",
        "sd",
        "--size",
        "64x48",
        "--seed",
        "7",
        "-o",
        str(out),
        dsn=rig.dsn,
    )
    assert made.returncode == 0, made.stderr
    wrote = rf"wrote {re.escape(str(out))} \(image/png, \d+ bytes\) in \d+\.\ds\n"
    assert re.fullmatch(wrote, made.stdout)
    assert "rendering with sd" in made.stderr
    with Image.open(io.BytesIO(out.read_bytes())) as picture:
        assert (picture.format, picture.size) == ("PNG", (64, 48))

    again = tmp_path / "again.png"
    described = run(
        cache_dir,
        "image",
        "a red fox",
        "-m",
        "sd",
        "--size",
        "64x48",
        "--seed",
        "7",
        "-o",
        str(again),
        "--json",
        dsn=rig.dsn,
    )
    result = json.loads(described.stdout)
    assert result["mime_type"] == "image/png" and result["bytes"] == again.stat().st_size
    assert again.read_bytes() == out.read_bytes()  # same prompt and seed, same picture

    bad = run(
        cache_dir,
        "image",
        "x",
        "-m",
        "sd",
        "--size",
        "64x",
        "-o",
        str(tmp_path / "b.png"),
        dsn=rig.dsn,
    )
    assert bad.returncode == 2
    assert "size must look like" in bad.stderr and not (tmp_path / "b.png").exists()


# -- chat ------------------------------------------------------------------------------------


def test_chat_streams_the_answer_and_shows_llama_cpp_tokens_per_second(
    rig: Rig, cache_dir: Path
) -> None:
    result = run(
        cache_dir,
        "chat",
        "qwen",
        "Say hello.",
        "--max-tokens",
        "8",
        "--temperature",
        "0",
        dsn=rig.dsn,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    assert re.search(
        r"^-- \d+ tokens at \d+\.\d tokens/s; .*\(llama\.cpp timings\)$", result.stderr, re.M
    )

    parsed = json.loads(
        run(
            cache_dir,
            "chat",
            "qwen",
            "Say hello.",
            "--max-tokens",
            "8",
            "--temperature",
            "0",
            "--json",
            dsn=rig.dsn,
        ).stdout
    )
    assert parsed["model"] == "qwen" and parsed["content"].strip()
    assert parsed["timings"]["predicted_n"] >= 1
    assert parsed["tokens_per_second"] == parsed["timings"]["predicted_per_second"] > 0
    assert parsed["content"] == result.stdout.rstrip("\n")  # greedy: the same answer


def test_chat_without_prompt_keeps_the_conversation(rig: Rig, cache_dir: Path) -> None:
    # The scripted upstream answers `__echo_request__` with the request it received.
    result = run(
        cache_dir,
        "chat",
        "scripted",
        "--system",
        "be brief",
        "--json",
        dsn=rig.dsn,
        stdin="first question\n__echo_request__\n/reset\n__echo_request__\n",
    )
    assert result.returncode == 0, result.stderr
    turns = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(turns) == 3
    assert turns[0]["content"] == "scripted reply"
    sent = json.loads(turns[1]["content"])["body"]["messages"]
    assert [(m["role"], m["content"]) for m in sent] == [
        ("system", "be brief"),
        ("user", "first question"),
        ("assistant", "scripted reply"),
        ("user", "__echo_request__"),
    ]
    after_reset = json.loads(turns[2]["content"])["body"]["messages"]
    assert [m["role"] for m in after_reset] == ["system", "user"]
    assert "conversation forgotten" in result.stderr


# -- Ctrl-C -----------------------------------------------------------------------------------


def test_ctrl_c_during_a_slow_load_exits_130_and_leaves_llama_swap_loading(
    rig_factory: Callable[..., Rig], cache_dir: Path
) -> None:
    slow = rig_factory(models=("fake-model",), fast_load=60, health_check_timeout=120)
    cli = Running(cache_dir, "load", "fake-model", dsn=slow.dsn)
    try:
        cli.wait_for(cli.err, lambda line: line == "loading fake-model: starting")
        code, stderr = cli.interrupt()
    finally:
        cli.stop()
    assert code == 130
    assert "Traceback" not in stderr
    assert "interrupted: stopped waiting for fake-model" in stderr
    with LlamaSwapProvider(slow.dsn) as p:
        assert p.health()
        # The CLI did not unload it: llama-swap goes on with the load it was asked for.
        assert running_states(p) == [("fake-model", "starting")]
    assert not (cache_dir / "load-times.json").exists()  # an interrupted load teaches nothing


def test_ctrl_c_during_a_slow_image_exits_130_writes_nothing_and_keeps_sd(
    rig_factory: Callable[..., Rig], cache_dir: Path, tmp_path: Path
) -> None:
    slow = rig_factory(models=("sd",), image_delay=60)
    with LlamaSwapProvider(slow.dsn) as p:
        p.load("sd")
        before = running_states(p)
        rendering = watch_in_flight(p, "/v1/images/generations", answering=False)
        out_dir = tmp_path / "out"
        out_dir.mkdir()
        out = out_dir / "slow.png"
        cli = Running(
            cache_dir,
            "image",
            "slow fox",
            "-m",
            "sd",
            "--size",
            "32x32",
            "-o",
            str(out),
            dsn=slow.dsn,
        )
        try:
            cli.wait_for(cli.err, lambda line: line == "rendering with sd")
            assert rendering.wait(WAIT), "llama-swap never had the image request in flight"
            code, stderr = cli.interrupt()
        finally:
            cli.stop()
        assert code == 130
        assert "Traceback" not in stderr and "interrupted: stopped rendering" in stderr
        assert list(out_dir.iterdir()) == []  # no image, no partial file
        assert p.health()
        assert running_states(p) == before == [("sd", "ready")]


def test_ctrl_c_during_a_streamed_answer_exits_130_and_keeps_the_model(
    rig_factory: Callable[..., Rig], cache_dir: Path
) -> None:
    slow = rig_factory(models=("fake-model",), fast_tokens=2000, fast_tps=5)
    with LlamaSwapProvider(slow.dsn) as p:
        p.load("fake-model")
        streaming = watch_in_flight(p, "/v1/chat/completions", answering=True)
        cli = Running(cache_dir, "chat", "fake-model", "tell me everything", dsn=slow.dsn)
        try:
            assert streaming.wait(WAIT), "the answer never started streaming"
            code, stderr = cli.interrupt()
        finally:
            cli.stop()
        assert code == 130
        assert "Traceback" not in stderr and "interrupted: stopped the answer" in stderr
        assert p.health()
        assert running_states(p) == [("fake-model", "ready")]
