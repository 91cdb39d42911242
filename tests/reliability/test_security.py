"""Security: the API key never shows, and a wrong key is refused once, never retried.

A rig whose llama-swap requires a distinctive key runs fake-model, the image test upstream
and the misbehaving test upstream. Every public object is built with the key (in the DSN,
or as ``api_key=``), a full set of calls is made (successes, 401, 404, 500, connection
refused, timeout, undecodable bodies), and every ``repr``/``str``, exception message and
traceback, log record at DEBUG (all loggers: ``llamaswap``, ``httpx``, ``httpcore``,
``openai``, the frameworks'), LangChain ``dumpd``/``dumps``, LangSmith and invocation
params, callback payloads and LlamaIndex ``to_dict()``/``to_json()`` is searched for it.
"""

from __future__ import annotations

import asyncio
import http.server
import logging
import re
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.load import dumpd, dumps
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.tools import ToolException
from llama_index.core.llms import ChatMessage

from langchain_llamaswap import ChatLlamaSwap, LlamaSwapEmbeddings, LlamaSwapImageTool
from llama_index_llamaswap import LlamaSwap, LlamaSwapEmbedding, LlamaSwapImageToolSpec
from llamaswap import (
    AuthenticationError,
    LlamaSwapConnectionError,
    LlamaSwapProvider,
    LlamaSwapTimeoutError,
    parse_dsn,
)
from llamaswap_rig.pytest_plugin import _start, _stop
from llamaswap_rig.runner import Rig

KEY = "sk-SECRET-9f3c1d-never-show-me"
WRONG = "sk-WRONG-5e7a0b-also-secret"
FAST, BAD, IMAGE = "faulty", "misbehaving", "sd"  # faulty: fault hooks and embeddings
LOGGERS = ("llamaswap", "httpx", "httpcore", "openai", "langchain", "llama_index")
_ACCESS_401 = re.compile(r'"[A-Z]+ (?P<path>[^ "]+) HTTP/1\.1" 401 ')


@pytest.fixture(scope="module")
def keyed() -> Iterator[Rig]:
    rig = _start("security", api_keys=[KEY], models=(FAST, BAD, IMAGE), groups=True, verbose=False)
    yield rig
    _stop("security")


def dsn_with(rig: Rig, key: str) -> str:
    return f"llama-swap://{key}@127.0.0.1:{rig.port}"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Seen:
    """Everything a user could see or a program could persist, as (label, text) pairs."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, label: str, value: Any) -> None:
        self.items.append((f"{label} repr", repr(value)))
        self.items.append((f"{label} str", str(value)))

    def error(self, label: str, fn: Callable[[], Any]) -> BaseException:
        try:
            fn()
        except Exception as exc:
            self.exc(label, exc)
            return exc
        raise AssertionError(f"{label}: no error raised")

    def aerror(self, label: str, coro: Any) -> BaseException:
        async def run() -> BaseException:
            try:
                await coro
            except Exception as exc:
                return exc
            raise AssertionError(f"{label}: no error raised")

        exc = asyncio.run(run())
        self.exc(label, exc)
        return exc

    def exc(self, label: str, exc: BaseException) -> None:
        self.add(label, exc)
        self.items.append((f"{label} traceback", "".join(traceback.format_exception(exc))))
        self.items.append((f"{label} args", repr(exc.args)))
        for attr in ("message", "body", "url"):
            if hasattr(exc, attr):
                self.items.append((f"{label} .{attr}", str(getattr(exc, attr))))

    def assert_clean(self, *secrets: str) -> None:
        leaks = [(label, text) for label, text in self.items for s in secrets if s in text]
        assert not leaks, f"{len(leaks)} leaks, first: {leaks[0][0]}: {leaks[0][1][:300]}"
        assert len(self.items) > 20


class Recorder(BaseCallbackHandler):
    """Keeps the repr of every callback payload (what LangSmith tracing would send)."""

    def __init__(self) -> None:
        self.payloads: list[str] = []

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        self.payloads.append(repr((serialized, messages, kwargs)))

    def on_llm_end(self, response: Any, **kwargs: Any) -> None:
        self.payloads.append(repr((response, kwargs)))

    def on_llm_error(self, error: BaseException, **kwargs: Any) -> None:
        self.payloads.append(repr((error, kwargs)))

    def on_tool_start(self, serialized: Any, input_str: str, **kwargs: Any) -> None:
        self.payloads.append(repr((serialized, input_str, kwargs)))

    def on_tool_error(self, error: BaseException, **kwargs: Any) -> None:
        self.payloads.append(repr((error, kwargs)))


def access_401s(rig: Rig) -> list[str]:
    """Paths llama-swap logged a 401 for, in order (its access log)."""
    return [m.group("path") for m in _ACCESS_401.finditer(rig.log_text())]


def settled_401s(rig: Rig, at_least: int) -> list[str]:
    """The 401 log once it has ``at_least`` entries and stopped growing (log is async)."""
    deadline = time.monotonic() + 5.0
    seen = access_401s(rig)
    while len(seen) < at_least and time.monotonic() < deadline:
        time.sleep(0.05)
        seen = access_401s(rig)
    time.sleep(0.5)  # a retry would land within this
    return access_401s(rig)


# -- no key anywhere --------------------------------------------------------------------------


def test_key_shows_nowhere(keyed: Rig, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    seen = Seen()
    dsn = keyed.dsn
    assert KEY in dsn

    # core
    provider = LlamaSwapProvider(dsn)
    seen.add("provider", provider)
    seen.add("DSN", provider.dsn)
    seen.add("parse_dsn", parse_dsn(dsn))
    seen.add("redacted", provider.dsn.redacted())
    provider.load(FAST)
    seen.add("models", provider.list_models())
    seen.add("model", provider.get_model(FAST))
    seen.add("running", provider.running())
    seen.add("version", provider.version())
    result = provider.generate_image("a cat", model=IMAGE, size="16x16")
    seen.add("image result", result)
    seen.add("image", result[0])
    seen.add("mimebundle", result._repr_mimebundle_()["text/plain"])
    for event in provider.events():
        seen.add("event", event)
        if type(event).__name__ == "InFlight":
            break
    seen.error("404 load", lambda: provider.load("no-such-model"))
    seen.error("404 image", lambda: provider.generate_image("x", model="nope"))
    seen.error("500 image", lambda: provider.generate_image("__fail_render__", model=IMAGE))
    seen.error("decode image", lambda: provider.generate_image("__bad_base64__", model=BAD))
    seen.error("decode list", LlamaSwapProvider(f"{dsn}/upstream/{BAD}/not_json").list_models)
    exc = seen.error("timeout", lambda: provider.generate_image("__hang__", model=BAD, timeout=0.5))
    assert isinstance(exc, LlamaSwapTimeoutError)
    refused = LlamaSwapProvider(f"llama-swap://{KEY}@127.0.0.1:{closed_port()}")
    assert isinstance(seen.error("refused", refused.list_models), LlamaSwapConnectionError)
    wrong = LlamaSwapProvider(dsn_with(keyed, WRONG))
    seen.add("wrong provider", wrong)
    assert isinstance(seen.error("401", wrong.list_models), AuthenticationError)
    seen.aerror("401 async", wrong.arunning())
    seen.aerror("refused async", refused.alist_models())

    # LangChain
    recorder = Recorder()
    chats = [
        ChatLlamaSwap(model=FAST, dsn=dsn, callbacks=[recorder]),
        ChatLlamaSwap(model=FAST, base_url=keyed.base_url, api_key=KEY, callbacks=[recorder]),
    ]
    for i, chat in enumerate(chats):
        seen.add(f"chat{i}", chat)
        seen.items.append((f"chat{i} dumps", dumps(chat)))
        seen.items.append((f"chat{i} dumpd", repr(dumpd(chat))))
        seen.items.append((f"chat{i} ls params", repr(chat._get_ls_params())))
        seen.items.append((f"chat{i} invocation", repr(chat._get_invocation_params())))
        seen.items.append((f"chat{i} identifying", repr(chat._identifying_params)))
        seen.items.append((f"chat{i} asdict", repr(chat.asdict())))
        seen.add(f"chat{i} answer", chat.invoke("hello"))
        seen.add(f"chat{i} chunks", list(chat.stream("hello")))
        seen.add(f"chat{i} provider", chat.provider)
    chain = ChatPromptTemplate.from_messages([("human", "{q}")]) | chats[0]
    seen.items.append(("chain dumps", dumps(chain)))
    bound = chats[0].bind_tools([{"type": "function", "function": {"name": "f", "parameters": {}}}])
    seen.items.append(("bound dumps", dumps(bound)))
    seen.error("chat 500", lambda: chats[0].invoke("__upstream_500__"))
    seen.error("chat 404", lambda: ChatLlamaSwap(model="nope", dsn=dsn).invoke("hi"))
    seen.error("chat decode", lambda: ChatLlamaSwap(model=BAD, dsn=dsn).invoke("__truncated__"))
    seen.error(
        "chat stream decode",
        lambda: list(ChatLlamaSwap(model=BAD, dsn=dsn).stream("__sse_garbage__")),
    )
    wrong_chat = ChatLlamaSwap(model=FAST, dsn=dsn_with(keyed, WRONG), callbacks=[recorder])
    seen.add("wrong chat", wrong_chat)
    assert isinstance(seen.error("chat 401", lambda: wrong_chat.invoke("hi")), AuthenticationError)
    seen.aerror("chat 401 async", wrong_chat.ainvoke("hi"))
    refused_chat = ChatLlamaSwap(model=FAST, dsn=f"llama-swap://{KEY}@127.0.0.1:{closed_port()}")
    seen.error("chat refused", lambda: refused_chat.invoke("hi"))

    embeddings = LlamaSwapEmbeddings(model=FAST, dsn=dsn)
    seen.add("lc embeddings", embeddings)
    seen.items.append(("lc embeddings dumps", dumps(embeddings)))
    seen.items.append(("lc embeddings dump", repr(embeddings.model_dump())))
    embeddings.embed_query("hello")
    wrong_emb = LlamaSwapEmbeddings(model=FAST, dsn=dsn_with(keyed, WRONG))
    seen.error("lc embeddings 401", lambda: wrong_emb.embed_query("x"))
    seen.error(
        "lc embeddings decode",
        lambda: LlamaSwapEmbeddings(model=BAD, dsn=dsn).embed_documents(["__ragged__", "x"]),
    )

    tool = LlamaSwapImageTool(model=IMAGE, dsn=dsn, callbacks=[recorder])
    seen.add("lc tool", tool)
    seen.items.append(("lc tool dumps", dumps(tool)))
    seen.items.append(("lc tool schema", repr(tool.tool_call_schema)))
    seen.items.append(("lc tool args", repr(tool.args)))
    message = tool.invoke(
        {
            "type": "tool_call",
            "id": "c1",
            "name": tool.name,
            "args": {"prompt": "a cat", "size": "16x16"},
        }
    )
    seen.add("lc tool message", message)
    seen.error("lc tool 500", lambda: tool.invoke({"prompt": "__fail_render__"}))
    bad_tool = LlamaSwapImageTool(model=IMAGE, dsn=dsn_with(keyed, WRONG))
    assert isinstance(
        seen.error("lc tool 401", lambda: bad_tool.invoke({"prompt": "x"})), ToolException
    )

    # LlamaIndex
    llms = [LlamaSwap(model=FAST, dsn=dsn), LlamaSwap(model=FAST, dsn=keyed.base_url, api_key=KEY)]
    for i, llm in enumerate(llms):
        seen.add(f"li llm{i}", llm)
        seen.items.append((f"li llm{i} to_dict", repr(llm.to_dict())))
        seen.items.append((f"li llm{i} to_json", llm.to_json()))
        seen.items.append((f"li llm{i} dump", repr(llm.model_dump())))
        seen.add(f"li llm{i} metadata", llm.metadata)
        seen.add(f"li llm{i} chat", llm.chat([ChatMessage(role="user", content="hello")]))
        seen.add(f"li llm{i} complete", llm.complete("hello"))
    seen.error("li 404", lambda: LlamaSwap(model="nope", dsn=dsn).complete("hi"))
    seen.error("li decode", lambda: LlamaSwap(model=BAD, dsn=dsn).complete("__html__"))
    wrong_llm = LlamaSwap(model=FAST, dsn=dsn_with(keyed, WRONG))
    seen.add("li wrong llm", wrong_llm)
    assert isinstance(seen.error("li 401", lambda: wrong_llm.complete("hi")), AuthenticationError)
    li_emb = LlamaSwapEmbedding(model=FAST, dsn=dsn)
    seen.add("li embedding", li_emb)
    seen.items.append(("li embedding to_dict", repr(li_emb.to_dict())))
    seen.items.append(("li embedding to_json", li_emb.to_json()))
    li_emb.get_text_embedding("hello")
    seen.error(
        "li embedding 401",
        lambda: LlamaSwapEmbedding(model=FAST, dsn=dsn_with(keyed, WRONG)).get_text_embedding("x"),
    )
    spec = LlamaSwapImageToolSpec(model=IMAGE, dsn=dsn)
    seen.add("li spec", spec)
    seen.add("li blocks", spec.generate_image("a cat", size="16x16"))
    for fn_tool in spec.to_tool_list():
        seen.add("li tool", fn_tool)
        seen.add("li tool metadata", fn_tool.metadata)
    seen.error("li spec 500", lambda: spec.generate_image("__fail_render__"))

    seen.items.extend(("callback", p) for p in recorder.payloads)
    records = [r for r in caplog.records]
    assert any(r.levelno == logging.DEBUG for r in records)
    for record in records:
        seen.items.append((f"log {record.name}", record.getMessage()))
        seen.items.append((f"log {record.name} args", repr(record.args)))
        if record.exc_info:
            seen.items.append(
                (f"log {record.name} exc", logging.Formatter().formatException(record.exc_info))
            )
    seen.assert_clean(KEY, WRONG)


# -- a wrong key: AuthenticationError, sent once ---------------------------------------------


def _once(rig: Rig, label: str, call: Callable[[], Any], expected: type[Exception]) -> None:
    before = len(access_401s(rig))
    try:
        call()
    except Exception as exc:
        assert isinstance(exc, expected), f"{label}: {exc!r}"
        assert "401" in str(exc) or "key" in str(exc).lower(), f"{label}: {exc}"
        assert WRONG not in str(exc)
    else:
        raise AssertionError(f"{label}: no error")
    after = settled_401s(rig, before + 1)
    assert len(after) - before == 1, f"{label}: {after[before:]}"


@pytest.mark.parametrize("retries", [0, 3])
def test_wrong_key_is_refused_once_never_retried(keyed: Rig, retries: int) -> None:
    wrong = dsn_with(keyed, WRONG)
    provider = LlamaSwapProvider(wrong, max_retries=retries)
    _once(keyed, "provider list", provider.list_models, AuthenticationError)
    _once(keyed, "provider load", lambda: provider.load(FAST), AuthenticationError)
    _once(
        keyed,
        "provider image",
        lambda: provider.generate_image("x", model=IMAGE),
        AuthenticationError,
    )
    _once(
        keyed,
        "provider async",
        lambda: asyncio.run(provider.alist_models()),
        AuthenticationError,
    )
    chat = ChatLlamaSwap(model=FAST, dsn=wrong, max_retries=retries)
    _once(keyed, "chat invoke", lambda: chat.invoke("hi"), AuthenticationError)
    _once(keyed, "chat stream", lambda: list(chat.stream("hi")), AuthenticationError)
    _once(keyed, "chat ainvoke", lambda: asyncio.run(chat.ainvoke("hi")), AuthenticationError)
    llm = LlamaSwap(model=FAST, dsn=wrong, max_retries=retries, context_window=1024)
    _once(keyed, "llamaindex chat", lambda: llm.complete("hi"), AuthenticationError)
    _once(
        keyed,
        "llamaindex achat",
        lambda: asyncio.run(llm.achat([ChatMessage(role="user", content="hi")])),
        AuthenticationError,
    )
    lc_emb = LlamaSwapEmbeddings(model=FAST, dsn=wrong, max_retries=retries)
    _once(keyed, "lc embeddings", lambda: lc_emb.embed_query("x"), AuthenticationError)
    li_emb = LlamaSwapEmbedding(model=FAST, dsn=wrong, max_retries=retries)
    _once(keyed, "li embedding", lambda: li_emb.get_text_embedding("x"), AuthenticationError)
    tool = LlamaSwapImageTool(model=IMAGE, dsn=wrong)
    _once(keyed, "lc image tool", lambda: tool.invoke({"prompt": "x"}), ToolException)
    spec = LlamaSwapImageToolSpec(model=IMAGE, dsn=wrong)
    _once(keyed, "li image spec", lambda: spec.generate_image("x"), AuthenticationError)


def test_missing_key_says_how_to_send_one(keyed: Rig) -> None:
    with LlamaSwapProvider(keyed.base_url) as p:
        try:
            p.list_models()
        except AuthenticationError as exc:
            assert "no key was sent" in str(exc)
        else:
            raise AssertionError("no error")


class _ImageHost(http.server.BaseHTTPRequestHandler):
    """Another origin serving a PNG, remembering the headers of every request it got."""

    seen: ClassVar[list[dict[str, str]]] = []

    def do_GET(self) -> None:
        type(self).seen.append(dict(self.headers.items()))
        body = b"\x89PNG\r\n\x1a\n" + b"\0" * 32
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_no_key_travels_to_a_foreign_image_host(keyed: Rig) -> None:
    """An image answered as a URL on another origin is fetched without the key."""
    host = http.server.ThreadingHTTPServer(("127.0.0.2", 0), _ImageHost)
    threading.Thread(target=host.serve_forever, daemon=True).start()
    _ImageHost.seen.clear()
    try:
        url = f"http://127.0.0.2:{host.server_address[1]}/render.png"
        with LlamaSwapProvider(keyed.dsn) as provider:
            result = provider.generate_image(f"__url__ {url}", model=IMAGE)
    finally:
        host.shutdown()
        host.server_close()
    assert result[0].data.startswith(b"\x89PNG")  # the bytes came from the foreign host
    assert len(_ImageHost.seen) == 1
    headers = {k.lower(): v for k, v in _ImageHost.seen[0].items()}
    assert "authorization" not in headers and "x-api-key" not in headers
    assert KEY not in repr(_ImageHost.seen)


@pytest.mark.parametrize("mode", ["echo", "error_echo"])
def test_a_server_echoing_the_key_does_not_make_errors_show_it(keyed: Rig, mode: str) -> None:
    """llama-swap forwards ``Authorization`` to local model servers; some echo requests."""
    seen = Seen()
    provider = LlamaSwapProvider(keyed.dsn)
    seen.error("image", lambda: provider.generate_image(f"__{mode}__", model=BAD))
    chat = ChatLlamaSwap(model=BAD, dsn=keyed.dsn)
    seen.error("chat", lambda: chat.invoke(f"__{mode}__"))
    seen.error("chat stream", lambda: list(chat.stream(f"__{mode}__")))
    llm = LlamaSwap(model=BAD, dsn=keyed.dsn, context_window=1024)
    seen.error("llamaindex", lambda: llm.complete(f"__{mode}__"))
    seen.error(
        "embeddings",
        lambda: LlamaSwapEmbeddings(model=BAD, dsn=keyed.dsn).embed_query(f"__{mode}__"),
    )
    seen.error(
        "embedding",
        lambda: LlamaSwapEmbedding(model=BAD, dsn=keyed.dsn).get_text_embedding(f"__{mode}__"),
    )
    tool = LlamaSwapImageTool(model=BAD, dsn=keyed.dsn)
    seen.error("tool", lambda: tool.invoke({"prompt": f"__{mode}__"}))
    assert any("Authorization: " in text for _, text in seen.items)  # the echo arrived
    seen.assert_clean(KEY)
