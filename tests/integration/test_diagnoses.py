"""What each front door says when something is wrong, against the real llama-swap (the rig).

Run with ``LLAMASWAP_BIN`` pointing at llama-swap v250 or main-0bdb372: both must give the
same diagnosis, whatever shape their error bodies have.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator

import pytest
from langchain_core.tools import ToolException
from llama_index.core.llms import ChatMessage

from langchain_llamaswap import ChatLlamaSwap, LlamaSwapEmbeddings, LlamaSwapImageTool
from llama_index_llamaswap import LlamaSwap, LlamaSwapEmbedding
from llamaswap import (
    AuthenticationError,
    InFlight,
    LlamaSwapConnectionError,
    LlamaSwapProvider,
    NotFoundError,
)
from llamaswap_rig.runner import Rig

FAST, IMAGE, EMBED = "fake-model", "sd", "embed"


@pytest.fixture
def provider(rig: Rig) -> Iterator[LlamaSwapProvider]:
    with LlamaSwapProvider(rig.dsn) as p:
        yield p


def raised(call: Callable[[], object]) -> BaseException:
    try:
        call()
    except Exception as exc:
        return exc
    raise AssertionError("no error raised")


# -- a 404 from the model's own server is a missing route, not a missing model ---------------


@pytest.mark.parametrize("model", [FAST, EMBED])  # a test upstream, real llama.cpp
def test_image_request_to_a_non_image_model_names_the_route(
    provider: LlamaSwapProvider, model: str
) -> None:
    exc = raised(lambda: provider.generate_image("a fox", model=model))
    assert isinstance(exc, NotFoundError), repr(exc)
    assert (exc.model, exc.route) == (model, "/v1/images/generations")
    assert f"{model!r} exists" in str(exc) and "has no model" not in str(exc)


def test_chat_to_an_image_model_names_the_route_in_every_framework(rig: Rig) -> None:
    for call in (
        lambda: ChatLlamaSwap(model=IMAGE, dsn=rig.dsn).invoke("hi"),
        lambda: LlamaSwap(model=IMAGE, dsn=rig.dsn).chat([ChatMessage(role="user", content="x")]),
    ):
        exc = raised(call)
        assert isinstance(exc, NotFoundError), repr(exc)
        assert (exc.model, exc.route) == (IMAGE, "/v1/chat/completions")
        assert f"{IMAGE!r} exists" in str(exc) and "has no model" not in str(exc)


def test_embedding_request_to_an_image_model_names_the_route(rig: Rig) -> None:
    exc = raised(lambda: LlamaSwapEmbedding(model=IMAGE, dsn=rig.dsn).get_text_embedding("x"))
    assert isinstance(exc, NotFoundError), repr(exc)
    assert exc.route == "/v1/embeddings" and f"{IMAGE!r} exists" in str(exc)


def test_image_tool_on_a_chat_model_tells_the_agent_the_route(rig: Rig) -> None:
    exc = raised(lambda: LlamaSwapImageTool(model=FAST, dsn=rig.dsn).invoke({"prompt": "x"}))
    assert isinstance(exc, ToolException)
    assert "POST /v1/images/generations" in str(exc) and "has no model" not in str(exc)


def test_unknown_model_is_still_llama_swaps_404(provider: LlamaSwapProvider) -> None:
    exc = raised(lambda: provider.generate_image("a fox", model="no-such-model"))
    assert isinstance(exc, NotFoundError), repr(exc)
    assert exc.route is None and "llama-swap has no model 'no-such-model'" in str(exc)
    assert IMAGE in exc.available


# -- a missing key is reported as missing, from every class -----------------------------------


def test_missing_key_is_missing_in_every_class(keyed_rig: Rig) -> None:
    address = keyed_rig.base_url  # no key in it
    for name, call in {
        "provider": lambda: LlamaSwapProvider(address).list_models(),
        "openai_client": lambda: (
            LlamaSwapProvider(address)
            .openai_client()
            .chat.completions.create(model=FAST, messages=[{"role": "user", "content": "hi"}])
        ),
        "ChatLlamaSwap": lambda: ChatLlamaSwap(model=FAST, dsn=address).invoke("hi"),
        "LlamaSwapEmbeddings": lambda: LlamaSwapEmbeddings(model=EMBED, dsn=address).embed_query(
            "x"
        ),
        "LlamaSwap": lambda: LlamaSwap(model=FAST, dsn=address).chat(
            [ChatMessage(role="user", content="hi")]
        ),
        "LlamaSwapEmbedding": lambda: LlamaSwapEmbedding(
            model=EMBED, dsn=address
        ).get_text_embedding("x"),
    }.items():
        exc = raised(call)
        assert isinstance(exc, AuthenticationError), (name, repr(exc))
        assert "no key was sent" in str(exc), (name, str(exc))


# -- an unknown model lists what llama-swap serves, from every class ---------------------------


def test_unknown_model_lists_the_served_ids_in_every_class(rig: Rig) -> None:
    gone = "no-such-model"
    for name, call in {
        "openai_client": lambda: (
            LlamaSwapProvider(rig.dsn)
            .openai_client()
            .chat.completions.create(model=gone, messages=[{"role": "user", "content": "hi"}])
        ),
        "ChatLlamaSwap": lambda: ChatLlamaSwap(model=gone, dsn=rig.dsn).invoke("hi"),
        "ChatLlamaSwap stream": lambda: list(ChatLlamaSwap(model=gone, dsn=rig.dsn).stream("hi")),
        "LlamaSwapEmbeddings": lambda: LlamaSwapEmbeddings(model=gone, dsn=rig.dsn).embed_query(
            "x"
        ),
        "LlamaSwap": lambda: LlamaSwap(model=gone, dsn=rig.dsn).chat(
            [ChatMessage(role="user", content="hi")]
        ),
        "LlamaSwapEmbedding": lambda: LlamaSwapEmbedding(
            model=gone, dsn=rig.dsn
        ).get_text_embedding("x"),
    }.items():
        exc = raised(call)
        assert isinstance(exc, NotFoundError), (name, repr(exc))
        assert {FAST, IMAGE, EMBED} <= set(exc.available), (name, exc.available)
        assert f"{FAST}, " in str(exc) or f", {FAST}" in str(exc), (name, str(exc))


# -- llama-swap killed mid-call: reached, then dropped -----------------------------------------

SLOW_KINDS = ("provider", "openai_client", "ChatLlamaSwap", "LlamaSwap")


def _slow_call(kind: str, dsn: str) -> None:
    """One non-streaming call that takes far longer than the test waits before the kill."""
    if kind == "provider":
        LlamaSwapProvider(dsn).generate_image("a fox", model=IMAGE)
    elif kind == "openai_client":
        LlamaSwapProvider(dsn).openai_client().chat.completions.create(
            model=FAST, messages=[{"role": "user", "content": "hi"}]
        )
    elif kind == "ChatLlamaSwap":
        ChatLlamaSwap(model=FAST, dsn=dsn).invoke("hi")
    else:
        LlamaSwap(model=FAST, dsn=dsn).chat([ChatMessage(role="user", content="hi")])


def _wait_until_in_flight(provider: LlamaSwapProvider) -> None:
    events = provider.events()
    try:
        for event in events:
            if isinstance(event, InFlight) and event.operation == "upsert":
                return
            if isinstance(event, InFlight) and event.operation == "snapshot" and event.requests:
                return
    finally:
        events.close()  # type: ignore[attr-defined]
    raise AssertionError("the call never showed up in flight")


@pytest.mark.parametrize("kind", SLOW_KINDS)
def test_llama_swap_killed_mid_call_says_the_connection_dropped(kind: str) -> None:
    rig = Rig(
        name=f"killed-{kind}",
        models=(FAST, IMAGE),
        verbose=False,
        fast_tokens=100_000,
        fast_tps=20.0,
        image_delay=600.0,
    )
    rig.start()
    try:
        with LlamaSwapProvider(rig.dsn) as provider:
            provider.load(IMAGE if kind == "provider" else FAST)
            outcome: list[BaseException] = []

            def call() -> None:
                try:
                    _slow_call(kind, rig.dsn)
                except Exception as exc:
                    outcome.append(exc)

            worker = threading.Thread(target=call, daemon=True)
            worker.start()
            _wait_until_in_flight(provider)
            assert rig.proc is not None
            os.kill(rig.proc.pid, signal.SIGKILL)
            worker.join(timeout=120)
        assert not worker.is_alive(), "the call did not end when llama-swap died"
        assert len(outcome) == 1, outcome
        exc = outcome[0]
        assert isinstance(exc, LlamaSwapConnectionError), repr(exc)
        assert "dropped the connection" in str(exc), str(exc)
        assert "could not reach" not in str(exc)
    finally:
        rig.stop(check_leftovers=False)  # llama-swap's children outlive a SIGKILL: reap them


# -- closing a class's provider (the README's `with ... as p:`) never breaks the class ---------


def test_closing_the_shared_provider_keeps_every_class_working(rig: Rig) -> None:
    chat = ChatLlamaSwap(model=FAST, dsn=rig.dsn, max_tokens=4)
    llm = LlamaSwap(model=FAST, dsn=rig.dsn, max_tokens=4)
    lc_embed = LlamaSwapEmbeddings(model=EMBED, dsn=rig.dsn)
    li_embed = LlamaSwapEmbedding(model=EMBED, dsn=rig.dsn)
    user = [ChatMessage(role="user", content="hi")]
    for _ in range(2):
        assert chat.invoke("hi").content
        assert llm.chat(user).message.content
        assert lc_embed.embed_query("x") and li_embed.get_text_embedding("x")
        for owner in (chat, llm, lc_embed, li_embed):
            with owner.provider as p:
                assert p.list_models()


async def test_aclosing_the_shared_provider_keeps_async_calls_working(rig: Rig) -> None:
    chat = ChatLlamaSwap(model=FAST, dsn=rig.dsn, max_tokens=4)
    llm = LlamaSwap(model=FAST, dsn=rig.dsn, max_tokens=4)
    for _ in range(2):
        assert (await chat.ainvoke("hi")).content
        assert (await llm.achat([ChatMessage(role="user", content="hi")])).message.content
        async with chat.provider as p:
            assert await p.alist_models()


# -- the raised classes are the exported ones ---------------------------------------------------


def test_framework_errors_are_the_classes_their_package_exports(rig: Rig) -> None:
    import langchain_llamaswap
    import llama_index_llamaswap

    gone = "no-such-model"
    for home, call in (
        (langchain_llamaswap, lambda: ChatLlamaSwap(model=gone, dsn=rig.dsn).invoke("hi")),
        (
            langchain_llamaswap,
            lambda: LlamaSwapEmbeddings(model=gone, dsn=rig.dsn).embed_query("x"),
        ),
        (
            llama_index_llamaswap,
            lambda: LlamaSwap(model=gone, dsn=rig.dsn).chat(
                [ChatMessage(role="user", content="hi")]
            ),
        ),
    ):
        exc = raised(call)
        assert type(exc) is home.NotFoundError, (home.__name__, type(exc))
