"""Every front door gives the same diagnosis, pinned offline with httpx.MockTransport.

The provider, its OpenAI clients, the LangChain classes and the LlamaIndex classes all send
through the shared provider for their DSN; here that provider's pooled clients are mock
transports answering as the real llama-swap does, so each class's error is checked on the
same answer.
"""

from __future__ import annotations

import importlib
import itertools
import json
import subprocess
import sys
import types
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from langchain_core.tools import ToolException
from llama_index.core.llms import ChatMessage

import langchain_llamaswap
import llama_index_llamaswap
import llamaswap
import llamaswap.openai_compat
from langchain_llamaswap import ChatLlamaSwap, LlamaSwapEmbeddings, LlamaSwapImageTool
from llama_index_llamaswap import LlamaSwap, LlamaSwapEmbedding, LlamaSwapImageToolSpec
from llamaswap import (
    AuthenticationError,
    LlamaSwapConnectionError,
    LlamaSwapProvider,
    NotFoundError,
    shared_provider,
)

RIGHT_KEY = "sk-right-key-31"
WRONG_KEY = "sk-wrong-key-47"
_HOSTS = itertools.count()

Handler = Callable[[httpx.Request], httpx.Response]


def fake_swap(handler: Handler, key: str | None = None) -> str:
    """A DSN whose shared provider sends every request to ``handler``."""
    host = f"agree-{next(_HOSTS)}.invalid"
    dsn = f"llama-swap://{key}@{host}:8080" if key else f"llama-swap://{host}:8080"
    provider = shared_provider(dsn)
    transport = httpx.MockTransport(handler)
    provider._client = httpx.Client(transport=transport)
    provider._async_client = httpx.AsyncClient(transport=transport)
    provider._owns_async_client = False
    return dsn


def _user() -> list[ChatMessage]:
    return [ChatMessage(role="user", content="hi")]


ENTRY_POINTS: dict[str, Callable[[str], object]] = {
    "provider": lambda dsn: shared_provider(dsn).load("qwen"),
    "provider openai_client": lambda dsn: (
        shared_provider(dsn)
        .openai_client()
        .chat.completions.create(model="qwen", messages=[{"role": "user", "content": "hi"}])
    ),
    "ChatLlamaSwap": lambda dsn: ChatLlamaSwap(model="qwen", dsn=dsn).invoke("hi"),
    "ChatLlamaSwap stream": lambda dsn: list(ChatLlamaSwap(model="qwen", dsn=dsn).stream("hi")),
    "LlamaSwapEmbeddings": lambda dsn: LlamaSwapEmbeddings(model="embed", dsn=dsn).embed_query("x"),
    "LlamaSwapImageTool": lambda dsn: LlamaSwapImageTool(model="sd", dsn=dsn).invoke(
        {"prompt": "x"}
    ),
    "LlamaSwap": lambda dsn: LlamaSwap(model="qwen", dsn=dsn).chat(_user()),
    "LlamaSwap stream": lambda dsn: list(LlamaSwap(model="qwen", dsn=dsn).stream_chat(_user())),
    "LlamaSwapEmbedding": lambda dsn: LlamaSwapEmbedding(model="embed", dsn=dsn).get_text_embedding(
        "x"
    ),
    "LlamaSwapImageToolSpec": lambda dsn: LlamaSwapImageToolSpec(
        model="sd", dsn=dsn
    ).generate_image("x"),
}


def raised(call: Callable[[], object]) -> BaseException:
    try:
        call()
    except Exception as exc:
        return exc
    raise AssertionError("no error raised")


# -- a missing key is a missing key --------------------------------------------------------


def keyed_swap(request: httpx.Request) -> httpx.Response:
    """llama-swap with ``apiKeys: [RIGHT_KEY]`` (its 401 body, v250 shape)."""
    if request.headers.get("authorization") == f"Bearer {RIGHT_KEY}":
        return httpx.Response(200, json={"object": "list", "data": []})
    return httpx.Response(
        401,
        json={"error": "unauthorized: invalid or missing API key", "src": "llama-swap"},
        headers={"WWW-Authenticate": 'Basic realm="llama-swap"'},
    )


@pytest.mark.parametrize("call", ENTRY_POINTS.values(), ids=ENTRY_POINTS.keys())
def test_no_key_is_reported_as_no_key_by_every_entry_point(call: Callable[[str], object]) -> None:
    exc = raised(lambda: call(fake_swap(keyed_swap)))
    assert isinstance(exc, AuthenticationError | ToolException), repr(exc)
    assert "no key was sent" in str(exc), str(exc)
    assert "rejected" not in str(exc)


@pytest.mark.parametrize("call", ENTRY_POINTS.values(), ids=ENTRY_POINTS.keys())
def test_wrong_key_is_reported_as_rejected_by_every_entry_point(
    call: Callable[[str], object],
) -> None:
    exc = raised(lambda: call(fake_swap(keyed_swap, key=WRONG_KEY)))
    assert "the key sent was rejected" in str(exc), str(exc)
    assert WRONG_KEY not in str(exc)


def test_one_placeholder_for_every_class() -> None:
    import llamaswap
    from llamaswap import openai_compat

    seen: list[str] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization", ""))
        return keyed_swap(request)

    dsn = fake_swap(record)
    for call in ENTRY_POINTS.values():
        raised(lambda c=call: c(dsn))  # type: ignore[misc]
    bearers = {h for h in seen if h}
    assert bearers == {f"Bearer {llamaswap.PLACEHOLDER_API_KEY}"}, bearers
    assert openai_compat.PLACEHOLDER_API_KEY is llamaswap.PLACEHOLDER_API_KEY


# -- an unknown model lists the ids llama-swap serves ------------------------------------------

SERVED = ("chat-a", "embed-b", "image-c")


def serving(request: httpx.Request) -> httpx.Response:
    """llama-swap main-0bdb372 serving ``SERVED``: every other model id is its 404."""
    if request.url.path == "/v1/models":
        data = [{"id": m, "object": "model", "status": {"value": "unloaded"}} for m in SERVED]
        return httpx.Response(200, json={"object": "list", "data": data})
    message = "no router for requested model"
    if request.url.path.startswith("/upstream/"):
        message = "model not found"
    return httpx.Response(
        404,
        json={
            "src": "llama-swap",
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": None,
                "code": "not_found",
            },
        },
    )


@pytest.mark.parametrize("call", ENTRY_POINTS.values(), ids=ENTRY_POINTS.keys())
def test_unknown_model_lists_the_served_ids_from_every_entry_point(
    call: Callable[[str], object],
) -> None:
    exc = raised(lambda: call(fake_swap(serving)))
    assert "chat-a, embed-b, image-c" in str(exc), str(exc)
    if not isinstance(exc, ToolException):  # a tool hands the agent text, not attributes
        assert isinstance(exc, NotFoundError), repr(exc)
        assert exc.available == SERVED
        assert exc.route is None


async def test_unknown_model_lists_the_served_ids_async() -> None:
    dsn = fake_swap(serving)
    calls = {
        "openai": lambda: (
            shared_provider(dsn)
            .async_openai_client()
            .chat.completions.create(model="qwen", messages=[{"role": "user", "content": "hi"}])
        ),
        "ChatLlamaSwap": lambda: ChatLlamaSwap(model="qwen", dsn=dsn).ainvoke("hi"),
        "LlamaSwap": lambda: LlamaSwap(model="qwen", dsn=dsn).achat(_user()),
        "LlamaSwapEmbedding": lambda: LlamaSwapEmbedding(
            model="embed", dsn=dsn
        ).aget_text_embedding("x"),
    }
    for name, call in calls.items():
        with pytest.raises(NotFoundError) as info:
            await call()
        assert info.value.available == SERVED, name
        assert "chat-a, embed-b, image-c" in str(info.value), name


# -- reached then dropped is not "could not reach" -----------------------------------------


def dropping(request: httpx.Request) -> httpx.Response:
    """llama-swap killed while the request was in flight (what httpx sees then)."""
    raise httpx.RemoteProtocolError("Server disconnected without sending a response.")


def resetting(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadError("[Errno 104] Connection reset by peer")


def refusing(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("[Errno 111] Connection refused")


@pytest.mark.parametrize("answer", [dropping, resetting], ids=["disconnected", "reset"])
@pytest.mark.parametrize("call", ENTRY_POINTS.values(), ids=ENTRY_POINTS.keys())
def test_a_dropped_connection_is_reported_as_dropped_by_every_entry_point(
    call: Callable[[str], object], answer: Handler
) -> None:
    exc = raised(lambda: call(fake_swap(answer)))
    assert isinstance(exc, LlamaSwapConnectionError | ToolException), repr(exc)
    assert "dropped the connection" in str(exc) and "was reached" in str(exc), str(exc)
    assert "could not reach" not in str(exc)


@pytest.mark.parametrize("call", ENTRY_POINTS.values(), ids=ENTRY_POINTS.keys())
def test_a_refused_connection_is_still_unreachable(call: Callable[[str], object]) -> None:
    exc = raised(lambda: call(fake_swap(refusing)))
    assert "could not reach llama-swap" in str(exc), str(exc)
    assert "dropped" not in str(exc)


async def test_a_dropped_connection_is_dropped_async() -> None:
    dsn = fake_swap(dropping)
    for call in (
        lambda: shared_provider(dsn).alist_models(),
        lambda: ChatLlamaSwap(model="qwen", dsn=dsn).ainvoke("hi"),
        lambda: LlamaSwap(model="qwen", dsn=dsn).achat(_user()),
    ):
        with pytest.raises(LlamaSwapConnectionError, match="dropped the connection"):
            await call()


# -- DSN typos fail at construction, in every class ------------------------------------------

CLASSES: dict[str, Callable[[str], object]] = {
    "provider": lambda dsn: LlamaSwapProvider(dsn),
    "ChatLlamaSwap": lambda dsn: ChatLlamaSwap(model="qwen", dsn=dsn),
    "LlamaSwapEmbeddings": lambda dsn: LlamaSwapEmbeddings(model="embed", dsn=dsn),
    "LlamaSwapImageTool": lambda dsn: LlamaSwapImageTool(model="sd", dsn=dsn),
    "LlamaSwap": lambda dsn: LlamaSwap(model="qwen", dsn=dsn),
    "LlamaSwapEmbedding": lambda dsn: LlamaSwapEmbedding(model="embed", dsn=dsn),
    "LlamaSwapImageToolSpec": lambda dsn: LlamaSwapImageToolSpec(model="sd", dsn=dsn),
}


@pytest.mark.parametrize(
    ("typo", "fix"),
    [
        ("llama-swap//127.0.0.1:8080", "llama-swap://127.0.0.1:8080"),
        ("llama-swap:/127.0.0.1:8080", "llama-swap://127.0.0.1:8080"),
        ("http://127.0.0.1:8080/v1/chat/completions", "http://127.0.0.1:8080"),
    ],
)
@pytest.mark.parametrize("build", CLASSES.values(), ids=CLASSES.keys())
def test_every_class_refuses_a_dsn_typo_naming_the_fix(
    build: Callable[[str], object], typo: str, fix: str
) -> None:
    exc = raised(lambda: build(typo))
    assert isinstance(exc, ValueError), repr(exc)  # DSNError, or pydantic's wrapping of it
    assert repr(fix) in str(exc), str(exc)


# -- closing a shared provider never breaks the classes sharing it -----------------------------

PNG_1PX = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"
)


def healthy(request: httpx.Request) -> httpx.Response:
    """A llama-swap whose models all answer (just enough of each API for the classes)."""
    path = request.url.path
    body = json.loads(request.content) if request.content else {}
    if path == "/v1/models":
        data = [{"id": m, "object": "model"} for m in ("qwen", "embed", "sd")]
        return httpx.Response(200, json={"object": "list", "data": data})
    if path.startswith("/upstream/"):
        return httpx.Response(200, json={"status": "ok"})
    if path == "/v1/embeddings":
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [
            {"object": "embedding", "index": i, "embedding": [0.5, 0.5]} for i in range(len(inputs))
        ]
        return httpx.Response(200, json={"object": "list", "model": "embed", "data": data})
    if path == "/v1/images/generations":
        return httpx.Response(200, json={"created": 1, "data": [{"b64_json": PNG_1PX}]})
    message = {"role": "assistant", "content": "ok"}
    if body.get("stream"):
        chunks = [
            {
                "id": "c",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "qwen",
                "choices": [{"index": 0, "delta": message, "finish_reason": None}],
            },
            {
                "id": "c",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "qwen",
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            },
        ]
        text = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
        return httpx.Response(200, text=text, headers={"content-type": "text/event-stream"})
    return httpx.Response(
        200,
        json={
            "id": "c",
            "object": "chat.completion",
            "created": 1,
            "model": "qwen",
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        },
    )


@pytest.fixture
def reopening_dsn(monkeypatch: pytest.MonkeyPatch) -> str:
    """A DSN whose provider's pools, however often reopened, reach ``healthy``."""
    monkeypatch.setattr(httpx, "HTTPTransport", lambda *a, **k: httpx.MockTransport(healthy))
    monkeypatch.setattr(httpx, "AsyncHTTPTransport", lambda *a, **k: httpx.MockTransport(healthy))
    return f"llama-swap://agree-{next(_HOSTS)}.invalid:8080"


# Each: build the object once, then a call that uses it.
USERS: dict[str, tuple[Callable[[str], Any], Callable[[Any], object]]] = {
    "provider": (shared_provider, lambda p: p.load("qwen")),
    "ChatLlamaSwap": (lambda d: ChatLlamaSwap(model="qwen", dsn=d), lambda m: m.invoke("hi")),
    "ChatLlamaSwap stream": (
        lambda d: ChatLlamaSwap(model="qwen", dsn=d),
        lambda m: list(m.stream("hi")),
    ),
    "LlamaSwapEmbeddings": (
        lambda d: LlamaSwapEmbeddings(model="embed", dsn=d),
        lambda e: e.embed_query("x"),
    ),
    "LlamaSwapImageTool": (
        lambda d: LlamaSwapImageTool(model="sd", dsn=d),
        lambda t: t.invoke({"prompt": "x"}),
    ),
    "LlamaSwap": (lambda d: LlamaSwap(model="qwen", dsn=d), lambda m: m.chat(_user())),
    "LlamaSwap stream": (
        lambda d: LlamaSwap(model="qwen", dsn=d),
        lambda m: list(m.stream_chat(_user())),
    ),
    "LlamaSwapEmbedding": (
        lambda d: LlamaSwapEmbedding(model="embed", dsn=d),
        lambda e: e.get_text_embedding("x"),
    ),
    "LlamaSwapImageToolSpec": (
        lambda d: LlamaSwapImageToolSpec(model="sd", dsn=d),
        lambda s: s.generate_image("x"),
    ),
}


@pytest.mark.parametrize(("build", "use"), USERS.values(), ids=USERS.keys())
def test_closing_the_provider_never_breaks_the_object_sharing_it(
    reopening_dsn: str, build: Callable[[str], Any], use: Callable[[Any], object]
) -> None:
    thing = build(reopening_dsn)
    use(thing)
    provider = thing if isinstance(thing, LlamaSwapProvider) else thing.provider
    with provider as p:  # the README's pattern
        p.list_models()
    use(thing)  # reopened, not "could not reach llama-swap"
    provider.close()
    provider.close()  # closing twice is harmless
    use(thing)


async def test_aclosing_the_provider_never_breaks_async_calls(reopening_dsn: str) -> None:
    chat = ChatLlamaSwap(model="qwen", dsn=reopening_dsn)
    llm = LlamaSwap(model="qwen", dsn=reopening_dsn)
    embed = LlamaSwapEmbedding(model="embed", dsn=reopening_dsn)
    for _ in range(2):
        await chat.ainvoke("hi")
        await llm.achat(_user())
        await embed.aget_text_embedding("x")
        async with chat.provider as p:
            await p.alist_models()


def test_a_closed_client_of_yours_says_closed_not_unreachable() -> None:
    mine = httpx.Client(transport=httpx.MockTransport(healthy))
    mine.close()
    provider = LlamaSwapProvider("llama-swap://127.0.0.1:9", http_client=mine)
    chat = ChatLlamaSwap(model="qwen", base_url="http://127.0.0.1:9", http_client=mine)
    for call in (provider.list_models, lambda: chat.invoke("hi")):
        exc = raised(call)
        assert isinstance(exc, LlamaSwapConnectionError), repr(exc)
        assert "client is closed" in str(exc), str(exc)
        assert "could not reach" not in str(exc)


# -- every raised error has a public home ------------------------------------------------------

HOMES = {
    "provider": llamaswap,
    "provider openai_client": llamaswap.openai_compat,
    "ChatLlamaSwap": langchain_llamaswap,
    "ChatLlamaSwap stream": langchain_llamaswap,
    "LlamaSwapEmbeddings": langchain_llamaswap,
    "LlamaSwap": llama_index_llamaswap,
    "LlamaSwap stream": llama_index_llamaswap,
    "LlamaSwapEmbedding": llama_index_llamaswap,
    "LlamaSwapImageToolSpec": llamaswap,
}


@pytest.mark.parametrize(("name", "home"), HOMES.items(), ids=HOMES.keys())
def test_every_raised_error_is_importable_from_a_public_home(
    name: str, home: types.ModuleType
) -> None:
    exc = raised(lambda: ENTRY_POINTS[name](fake_swap(serving)))
    cls = type(exc)
    assert getattr(home, cls.__name__) is cls, (name, cls)
    module = cls.__module__
    assert not any(part.startswith("_") for part in module.split(".")), module
    assert getattr(importlib.import_module(module), cls.__name__) is cls
    assert isinstance(exc, llamaswap.NotFoundError)  # the core class catches every flavour


def test_langchain_errors_are_langchains_openais_and_llamaswaps() -> None:
    import openai
    from langchain_core import exceptions as lc

    dsn = fake_swap(serving)
    for call in (ENTRY_POINTS["ChatLlamaSwap"], ENTRY_POINTS["LlamaSwapEmbeddings"]):
        exc = raised(lambda c=call: c(dsn))  # type: ignore[misc]
        assert type(exc) is langchain_llamaswap.NotFoundError
        assert isinstance(exc, lc.ModelNotFoundError) and isinstance(exc, openai.NotFoundError)


def test_import_llamaswap_needs_no_openai() -> None:
    code = (
        "import sys\n"
        "sys.modules['openai'] = None  # any import of openai now fails\n"
        "import llamaswap\n"
        "assert llamaswap.NotFoundError and llamaswap.UpstreamError\n"
        "assert 'llamaswap.openai_compat' not in sys.modules\n"
        "try:\n"
        "    import llamaswap.openai_compat\n"
        "except ImportError:\n"
        "    print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "ok", done.stderr
