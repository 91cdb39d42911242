"""The command line's pieces offline: import cost, missing extra, grammar, errors, cache, output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from llamaswap import (
    AuthenticationError,
    DSNError,
    LlamaSwapConnectionError,
    ModelLoadError,
    ModelStatus,
    ModelStatusEntry,
    NotFoundError,
    UnknownEvent,
)
from llamaswap.cli import main
from llamaswap.cli.chat import Answer, _stats
from llamaswap.cli.errors import EXIT_ERROR, EXIT_USAGE, UsageError, explain
from llamaswap.cli.loadtimes import ENV_CACHE_DIR, KEEP, LoadTimes, cache_dir
from llamaswap.cli.parser import build_parser
from llamaswap.cli.streams import describe, payload
from llamaswap.cli.terminal import Terminal

BASE = "http://127.0.0.1:8080"


# -- import cost and the optional extra --------------------------------------------------------


RICH_OR_CLI = "m == 'rich' or m.startswith(('rich.', 'llamaswap.cli'))"
RICH = "m == 'rich' or m.startswith('rich.')"


def imported_by(setup: str, statement: str, which: str = RICH_OR_CLI) -> list[str]:
    """Modules matching ``which`` that ``statement`` imports after ``setup`` ran."""
    code = (
        f"import sys; {setup}; before = set(sys.modules); {statement}; "
        f"print(sorted(m for m in set(sys.modules) - before if {which}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return list(json.loads(out.stdout.replace("'", '"')))


def test_import_llamaswap_adds_no_rich_or_cli_import() -> None:
    # httpx is imported first: it may import rich itself (see the next test).
    assert imported_by("import httpx", "import llamaswap") == []


def test_in_a_cli_install_import_llamaswap_loads_no_rich() -> None:
    # `pip install 'llamaswap[cli]'` brings rich and pygments but not click. httpx imports
    # rich for its own command line only when click is installed too, as it is in this
    # dev venv; without click, nothing behind `import llamaswap` touches rich.
    assert imported_by("sys.modules['click'] = None", "import llamaswap") == []
    # The entry point imports rich only when it runs, so a missing rich gets one clear line.
    assert imported_by("sys.modules['click'] = None", "import llamaswap.cli", RICH) == []


def test_without_rich_the_cli_says_how_to_install_it_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "rich", None)  # `import rich` raises ImportError
    assert main(["models"]) == EXIT_ERROR
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "llamaswap: the command line needs rich: pip install 'llamaswap[cli]'\n"
    )


def test_chat_without_the_openai_sdk_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import llamaswap

    monkeypatch.setitem(sys.modules, "openai", None)
    monkeypatch.setitem(sys.modules, "llamaswap.openai_compat", None)
    monkeypatch.delattr(llamaswap, "openai_compat", raising=False)
    assert main(["--dsn", "llama-swap://127.0.0.1:9", "chat", "qwen", "hi"]) == EXIT_ERROR
    assert capsys.readouterr().err.splitlines() == [
        "error: chat needs the OpenAI SDK, which is not installed",
        "hint: pip install 'llamaswap[cli]'",
    ]


# -- grammar ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["--dsn", "llama-swap://h:1", "--json", "models"],
        ["models", "--dsn", "llama-swap://h:1", "--json"],
        ["--json", "models", "--dsn", "llama-swap://h:1"],
    ],
)
def test_dsn_and_json_go_before_or_after_the_subcommand(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert (args.command, args.dsn, args.json) == ("models", "llama-swap://h:1", True)


def test_defaults_leave_the_dsn_to_the_provider() -> None:
    args = build_parser().parse_args(["logs", "qwen", "-f"])
    assert (args.dsn, args.json, args.source, args.follow, args.no_history) == (
        None,
        False,
        "qwen",
        True,
        False,
    )


def test_every_subcommand_the_issue_names_exists() -> None:
    parser = build_parser()
    for argv in (
        ["models"],
        ["running"],
        ["load", "m"],
        ["unload"],
        ["unload", "m"],
        ["events"],
        ["logs"],
        ["logs", "proxy", "--follow", "--no-history"],
        ["image", "p", "--model", "sd", "--size", "8x8", "--seed", "1", "-o", "o.png"],
        ["chat", "m"],
        ["chat", "m", "hi"],
        ["health"],
        ["version"],
    ):
        assert parser.parse_args(argv).command == argv[0]


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["logs", "--no-history"], "needs --follow"),
        (["chat", "qwen", "hi", "--max-tokens", "0"], "--max-tokens must be 1 or more"),
        (["image", "fox", "-m", "sd", "-o", "/no/such/dir/x.png"], "does not exist"),
        (["--dsn", "llama-swap://h:99999", "models"], "port"),
    ],
)
def test_bad_arguments_exit_2_with_a_hint_before_any_request(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # The address is a closed port: reaching the network would be a different error.
    full = argv if "--dsn" in argv else ["--dsn", "llama-swap://127.0.0.1:9", *argv]
    assert main(full) == EXIT_USAGE
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("error: ") and says in err[0]
    assert len(err) == 2 and err[1].startswith("hint: ")


# -- known failures -----------------------------------------------------------------------------


def test_auth_hint_depends_on_whether_a_key_was_given() -> None:
    error = AuthenticationError("llama-swap refused the request with 401", status_code=401)
    missing = explain(error, base_url=BASE, keyed=False)
    wrong = explain(error, base_url=BASE, keyed=True)
    assert missing is not None and wrong is not None
    assert missing.code == wrong.code == EXIT_ERROR
    assert "needs a key" in missing.hint and "llama-swap://KEY@host:port" in missing.hint
    assert "was refused" in wrong.hint


def test_connection_hint_names_the_address_tried() -> None:
    failure = explain(
        LlamaSwapConnectionError(f"could not reach llama-swap at {BASE}"),
        base_url=BASE,
        keyed=False,
    )
    assert failure is not None and failure.hint.startswith(f"tried {BASE}")


def test_load_failure_points_at_the_models_log_and_messages_are_one_line() -> None:
    error = ModelLoadError("could not load\nmodel 'x': exited", model="x", reason="exited")
    failure = explain(error, base_url=BASE, keyed=False)
    assert failure is not None
    assert failure.message == "could not load model 'x': exited"
    assert "llamaswap logs x" in failure.hint


def test_unknown_model_and_bad_dsn_and_usage() -> None:
    nf = explain(NotFoundError("no model 'x'; it lists: a, b"), base_url=BASE, keyed=False)
    assert nf is not None and "llamaswap models" in nf.hint
    dsn = explain(DSNError("the DSN port is out of range"), base_url=BASE, keyed=False)
    assert dsn is not None and dsn.code == EXIT_USAGE
    usage = explain(UsageError("bad", "do this"), base_url=BASE, keyed=False)
    assert usage is not None and (usage.code, usage.hint) == (EXIT_USAGE, "do this")


def test_a_bug_is_not_dressed_up_as_a_known_failure() -> None:
    assert explain(KeyError("oops"), base_url=BASE, keyed=False) is None


# -- remembered load times ---------------------------------------------------------------------


def test_cache_dir_honours_the_override_then_xdg(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(ENV_CACHE_DIR, str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"
    monkeypatch.delenv(ENV_CACHE_DIR)
    if sys.platform.startswith("linux"):
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
        assert cache_dir() == tmp_path / "xdg" / "llamaswap"
        monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")  # the spec says: ignore it
        assert cache_dir() == Path.home() / ".cache" / "llamaswap"


def test_estimate_is_the_median_of_the_last_loads_per_server_and_model(tmp_path: Path) -> None:
    times = LoadTimes(tmp_path / "t.json")
    assert times.estimate(BASE, "qwen") is None
    for seconds in (100.0, 1.0, 2.0, 3.0, 4.0, 5.0):
        assert times.record(BASE, "qwen", seconds)
    assert times.estimate(BASE, "qwen") == 3.0  # 100 s fell out: only the last KEEP count
    assert len(json.loads((tmp_path / "t.json").read_text())["loads"][BASE]["qwen"]) == KEEP
    assert times.estimate("http://other:8080", "qwen") is None
    assert times.estimate(BASE, "qwen-b") is None


@pytest.mark.parametrize("content", ["{not json", '["a list"]', '{"loads": {"x": {"m": ["a"]}}}'])
def test_a_broken_cache_file_is_ignored_and_rewritten(tmp_path: Path, content: str) -> None:
    path = tmp_path / "t.json"
    path.write_text(content)
    times = LoadTimes(path)
    assert times.estimate("x", "m") is None
    assert times.record("x", "m", 2.5)
    assert times.estimate("x", "m") == 2.5


def test_an_unwritable_cache_never_fails_the_load(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    times = LoadTimes(blocker / "sub" / "t.json")  # its parent cannot be created
    assert times.record(BASE, "qwen", 1.0) is False
    assert times.estimate(BASE, "qwen") is None


# -- output -------------------------------------------------------------------------------------


def test_outside_a_terminal_tables_are_plain_unwrapped_columns(
    capsys: pytest.CaptureFixture[str],
) -> None:
    term = Terminal(interactive=False, colour=False)
    long_name = "n" * 150
    term.table(["ID", "NAME"], [["qwen", long_name], ["sd", "image"]])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split() for line in lines] == [
        ["ID", "NAME"],
        ["qwen", long_name],
        ["sd", "image"],
    ]
    assert "\x1b[" not in "".join(lines)


def test_json_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    Terminal(interactive=False, colour=False).json({"a": [1, 2], "b": "ü"})
    assert capsys.readouterr().out == '{"a": [1, 2], "b": "ü"}\n'


def test_readable_events_print_only_models_whose_state_changed() -> None:
    states: dict[str, str] = {}

    def status(**models: str) -> ModelStatus:
        return ModelStatus(
            type="modelStatus",
            raw={},
            models=tuple(
                ModelStatusEntry(id=k.replace("_", "-"), state=v) for k, v in models.items()
            ),
        )

    first = describe(status(qwen="stopped", fake_model="stopped"), states)
    assert [t.plain for t in first] == ["model qwen stopped", "model fake-model stopped"]
    assert [t.plain for t in describe(status(qwen="starting", fake_model="stopped"), states)] == [
        "model qwen starting"
    ]


def test_event_json_carries_the_payload_as_llama_swap_sent_it() -> None:
    envelope = {"type": "modelStatus", "data": json.dumps([{"id": "qwen", "state": "ready"}])}
    event = ModelStatus(type="modelStatus", raw=envelope, models=())
    assert payload(event) == [{"id": "qwen", "state": "ready"}]
    odd = UnknownEvent(type="new", raw={}, data={"x": 1})
    assert payload(odd) == {"x": 1}


def test_chat_stats_come_from_llama_cpp_timings() -> None:
    answer = Answer(
        content="hi",
        finish_reason="length",
        timings={
            "predicted_n": 8,
            "predicted_per_second": 31.25,
            "prompt_n": 12,
            "prompt_per_second": 200.0,
        },
    )
    assert answer.tokens_per_second == 31.25
    assert _stats(answer) == (
        "-- 8 tokens at 31.2 tokens/s; prompt 12 tokens at 200.0 tokens/s; finish: length "
        "(llama.cpp timings)"
    )
    plain = Answer(content="hi", finish_reason="stop")
    assert plain.tokens_per_second is None
    assert _stats(plain) == "-- the server sent no llama.cpp timings, so no tokens/s (finish: stop)"
