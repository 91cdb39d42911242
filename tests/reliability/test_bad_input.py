"""Bad input: DSN typos, odd model ids, image sizes and counts, and broken server bodies.

Broken bodies come from the *misbehaving test upstream* (``upstreams/misbehaving.py``)
behind llama-swap, which passes them through untouched. Every case must end in a typed
error whose message says what was wrong: ``llamaswap.ResponseDecodeError`` for a 2xx body
that is not the API, a typed ``APIError`` for an error status, ``ToolException`` from the
LangChain image tool (its documented error). Never a bare ``KeyError``,
``JSONDecodeError``, ``TypeError``, ``IndexError``, ``AttributeError`` or
``UnicodeDecodeError``.

Decision on the OpenAI SDK's own exceptions for malformed bodies: the SDK would raise a
bare ``json.JSONDecodeError`` (invalid JSON), hand a ``str`` to the framework (non-JSON
content type), or yield an empty stream (a stream request answered with JSON). None of
that is acceptable, so the provider's transports check the body first
(``llamaswap.answer_checks``) and raise ``ResponseDecodeError`` before the SDK parses.
Error *statuses* with garbage bodies stay the SDK's status errors, mapped to llama-swap's
typed ones (which are also instances of the SDK classes); their message quotes the body.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import re
import socket
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from langchain_core.tools import ToolException
from llama_index.core.base.llms.types import ImageBlock
from PIL import Image

from langchain_llamaswap import ChatLlamaSwap, LlamaSwapEmbeddings, LlamaSwapImageTool
from llama_index_llamaswap import LlamaSwap, LlamaSwapEmbedding, LlamaSwapImageToolSpec
from llamaswap import (
    APIError,
    DSNError,
    LlamaSwapConnectionError,
    LlamaSwapError,
    LlamaSwapProvider,
    NotFoundError,
    ResponseDecodeError,
    parse_dsn,
)
from llamaswap_rig.pytest_plugin import _start, _stop
from llamaswap_rig.runner import Rig

BAD = "misbehaving"
IMAGE = "sd"
FAST = "fake-model"
BARE = (
    KeyError,
    json.JSONDecodeError,
    TypeError,
    IndexError,
    AttributeError,
    UnicodeDecodeError,
)
FAST_SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def bad_rig() -> Iterator[Rig]:
    """fake-model, the image test upstream and the misbehaving one, all kept resident."""
    rig = _start("bad-input", models=(FAST, BAD, IMAGE), groups=True, verbose=False)
    yield rig
    _stop("bad-input")


@pytest.fixture(scope="module")
def provider(bad_rig: Rig) -> Iterator[LlamaSwapProvider]:
    with LlamaSwapProvider(bad_rig.dsn) as p:
        p.load(BAD)
        yield p


def assert_typed(exc: BaseException, *fragments: str) -> None:
    """Typed, not a bare Python error, and the message says what was wrong."""
    assert not isinstance(exc, BARE) or isinstance(exc, LlamaSwapError), repr(exc)
    assert isinstance(exc, LlamaSwapError | ToolException | ValueError), repr(exc)
    text = str(exc)
    for fragment in fragments:
        assert fragment.lower() in text.lower(), f"{fragment!r} not in {text!r}"


def raised(fn: Callable[[], Any]) -> BaseException:
    try:
        fn()
    except Exception as exc:  # the assertion on the type comes after
        return exc
    raise AssertionError("no error raised")


def araised(coro: Any) -> BaseException:
    async def run() -> BaseException:
        try:
            await coro
        except Exception as exc:
            return exc
        raise AssertionError("no error raised")

    return asyncio.run(run())


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class CountingTransport(httpx.BaseTransport):
    """Counts requests, so a test can prove that validation happened before any was sent."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.count = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.count += 1
        return self.inner.handle_request(request)


# -- DSNs ---------------------------------------------------------------------------------

SCHEMES = ["llama-swap://", "llamaswap://", "LLAMA-SWAP://", "llama-swap+http://", "http://"]
KEY_CHARS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.~", max_size=20).map(
    lambda tail: f"sk-QZ{tail}"  # distinctive, so finding it in a repr is never a fluke
)


@FAST_SETTINGS
@given(
    scheme=st.sampled_from(SCHEMES),
    key=st.none() | KEY_CHARS,
    user=st.booleans(),
    tail=st.sampled_from(["", "/", "//", "/v1", "/v1/"]),
)
def test_dsn_variants_reach_the_rig(
    bad_rig: Rig, scheme: str, key: str | None, user: bool, tail: str
) -> None:
    auth = "" if key is None else (f"someone:{key}@" if user else f"{key}@")
    dsn = f"{scheme}{auth}127.0.0.1:{bad_rig.port}{tail}"
    with LlamaSwapProvider(dsn) as p:
        assert p.base_url == f"http://127.0.0.1:{bad_rig.port}"
        assert p.api_key == key
        assert FAST in [m.id for m in p.list_models()]  # keyless llama-swap ignores a key
        if key:
            assert key not in repr(p) and key not in str(p.dsn)


def _typo(dsn: str, data: st.DataObject) -> str:
    kind: str = data.draw(st.sampled_from(["insert", "delete", "replace", "swap"]))
    i: int = data.draw(st.integers(0, len(dsn) - 1))
    ch: str = data.draw(st.sampled_from([*":/@.%[]x0 ", "", "\t", "ü"]))
    if kind == "insert":
        return dsn[:i] + ch + dsn[i:]
    if kind == "delete":
        return dsn[:i] + dsn[i + 1 :]
    if kind == "replace":
        return dsn[:i] + ch + dsn[i + 1 :]
    j = min(i + 1, len(dsn) - 1)
    chars = list(dsn)
    chars[i], chars[j] = chars[j], chars[i]
    return "".join(chars)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_dsn_typos_give_dsnerror_or_a_typed_error_on_first_call(
    bad_rig: Rig, data: st.DataObject
) -> None:
    """A typo'd DSN fails at construction with DSNError, or works, or fails typed.

    Calls only go out when the typo still names a loopback IP literal (no DNS lookups and
    no traffic off this machine).
    """
    dsn = f"llama-swap://127.0.0.1:{bad_rig.port}"
    typo = _typo(dsn, data)
    try:
        parsed = parse_dsn(typo)
    except DSNError as exc:
        assert "DSN" in str(exc)
        return
    if not re.fullmatch(r"127\.\d{1,3}\.\d{1,3}\.\d{1,3}", parsed.host):
        return
    with LlamaSwapProvider(parsed) as p:
        try:
            p.list_models(timeout=5)
        except LlamaSwapError as exc:
            assert str(exc)
        except Exception as exc:  # pragma: no cover - the assertion is the point
            raise AssertionError(f"untyped error for DSN {typo!r}: {exc!r}") from exc


def test_dsn_to_a_closed_port_names_the_address() -> None:
    port = closed_port()
    with LlamaSwapProvider(f"llama-swap://127.0.0.1:{port}") as p:
        exc = raised(p.list_models)
    assert isinstance(exc, LlamaSwapConnectionError)
    assert f"127.0.0.1:{port}" in str(exc)


@pytest.mark.parametrize(
    "dsn",
    ["llama-swap://", "ftp://127.0.0.1:1", "llama-swap://127.0.0.1:99999", "llama-swap://@h:1"],
)
def test_framework_classes_refuse_a_malformed_dsn(dsn: str) -> None:
    for build in (
        lambda: ChatLlamaSwap(model=FAST, dsn=dsn),
        lambda: LlamaSwapEmbeddings(model=FAST, dsn=dsn),
        lambda: LlamaSwapImageTool(model=IMAGE, dsn=dsn),
        lambda: LlamaSwap(model=FAST, dsn=dsn),
        lambda: LlamaSwapEmbedding(model=FAST, dsn=dsn),
        lambda: LlamaSwapImageToolSpec(model=IMAGE, dsn=dsn),
    ):
        exc = raised(build)
        assert isinstance(exc, ValueError), repr(exc)  # DSNError, or pydantic's wrapping it
        assert "DSN" in str(exc)


# -- model ids ----------------------------------------------------------------------------

ODD_IDS = st.text(
    alphabet=st.characters(exclude_categories=["Cs"]) | st.sampled_from(list("/ .%?#")),
    min_size=1,
    max_size=30,
)


def _check_not_found(exc: BaseException, model: str) -> None:
    assert isinstance(exc, NotFoundError), repr(exc)
    assert FAST in exc.available, exc.available
    assert repr(model) in str(exc) or model in str(exc)


@FAST_SETTINGS
@given(model=ODD_IDS)
@example(model="..")
@example(model=".")
@example(model="fake-model/")
@example(model="/fake-model")
@example(model="fake-model/../fake-model")
@example(model="a/b")
@example(model="ünïcode id")
@example(model="sd%2Fx")
def test_unknown_ids_are_not_found_listing_the_known_ones(
    provider: LlamaSwapProvider, model: str
) -> None:
    known = {m.id for m in provider.list_models()} | {"coder"}
    if model in known:
        return
    _check_not_found(raised(lambda: provider.get_model(model)), model)
    _check_not_found(raised(lambda: provider.load(model)), model)
    _check_not_found(raised(lambda: provider.unload(model)), model)


def test_unload_dot_does_not_unload_everything(provider: LlamaSwapProvider) -> None:
    """An id of ``.`` or ``..`` is refused as unknown: it must never reach llama-swap as a
    path segment, where URL normalisation could turn it into ``/api/models/unload/``."""
    provider.load(FAST)
    for model in (".", ".."):
        _check_not_found(raised(lambda: provider.unload(model)), model)  # noqa: B023
    assert FAST in [r.model for r in provider.running()]


def test_a_prefix_of_a_listed_id_loads_nothing(provider: LlamaSwapProvider) -> None:
    """Ids that only look like a listed id are refused as unknown before any request could
    route them to ``fake-model`` (llama-swap's /upstream route splits on ``/``)."""
    provider.unload(FAST)
    for model in ("fake-model/x", "fake-model/", "/fake-model"):
        _check_not_found(raised(lambda: provider.load(model)), model)  # noqa: B023
    assert FAST not in [r.model for r in provider.running()]


async def test_odd_ids_async(provider: LlamaSwapProvider) -> None:
    for model in ("a b/ü", "..", "fake-model/"):
        exc: BaseException | None = None
        try:
            await provider.aload(model)
        except Exception as caught:
            exc = caught
        assert exc is not None
        _check_not_found(exc, model)


@pytest.mark.parametrize("model", ["no such/model", "ünï", "a b"])
def test_frameworks_name_an_unknown_model(bad_rig: Rig, model: str) -> None:
    chat = raised(lambda: ChatLlamaSwap(model=model, dsn=bad_rig.dsn).invoke("hi"))
    assert isinstance(chat, NotFoundError) and model in str(chat), repr(chat)
    emb = raised(lambda: LlamaSwapEmbedding(model=model, dsn=bad_rig.dsn).get_text_embedding("x"))
    assert isinstance(emb, NotFoundError) and model in str(emb), repr(emb)
    image = raised(lambda: LlamaSwapImageTool(model=model, dsn=bad_rig.dsn).invoke({"prompt": "x"}))
    assert isinstance(image, ToolException) and model in str(image), repr(image)


# -- image sizes and counts ----------------------------------------------------------------

BAD_SIZES = (
    st.sampled_from(["", "512", "512x", "x512", "0x512", "512x0", "-1x5", "1.5x2", "9000x8"])
    | st.builds(lambda w, h: f"{w}x{h}", st.integers(8193, 10**6), st.integers(1, 10))
    | st.text(max_size=12).filter(
        lambda s: not re.fullmatch(r"\s*[1-9]\d{0,4}[xX][1-9]\d{0,4}\s*", s)
    )
)
BAD_COUNTS = st.sampled_from([0, -1, 17, 100, True, 1.0, "2", None])


@FAST_SETTINGS
@given(size=BAD_SIZES, n=st.integers(1, 2))
def test_invalid_sizes_fail_before_any_request(bad_rig: Rig, size: str, n: int) -> None:
    counter = CountingTransport()
    with (
        httpx.Client(transport=counter) as client,
        LlamaSwapProvider(bad_rig.dsn, http_client=client) as p,
    ):
        exc = raised(lambda: p.generate_image("a cat", model=IMAGE, size=size, n=n))
    assert type(exc) is ValueError and "size" in str(exc), repr(exc)
    assert counter.count == 0


@FAST_SETTINGS
@given(n=BAD_COUNTS)
def test_invalid_counts_fail_before_any_request(bad_rig: Rig, n: Any) -> None:
    counter = CountingTransport()
    with (
        httpx.Client(transport=counter) as client,
        LlamaSwapProvider(bad_rig.dsn, http_client=client) as p,
    ):
        exc = raised(lambda: p.generate_image("a cat", model=IMAGE, n=n))
    assert type(exc) is ValueError and "n must be" in str(exc), repr(exc)
    assert counter.count == 0


@settings(max_examples=12, deadline=None)
@given(width=st.integers(8, 200), height=st.integers(8, 200), n=st.integers(1, 3))
def test_valid_sizes_give_pngs_of_that_size(
    provider: LlamaSwapProvider, width: int, height: int, n: int
) -> None:
    result = provider.generate_image("a cat", model=IMAGE, size=f"{width}x{height}", n=n)
    assert len(result) == n
    for image in result:
        assert image.mime_type == "image/png"
        assert Image.open(io.BytesIO(image.data)).size == (width, height)


def test_framework_image_tools_check_sizes_and_counts(bad_rig: Rig) -> None:
    tool = LlamaSwapImageTool(model=IMAGE, dsn=bad_rig.dsn)
    text = tool.invoke({"prompt": "a cat", "size": "huge"})
    assert isinstance(text, str) and "size" in text  # handed back to the calling model
    text = tool.invoke({"prompt": "a cat", "n": 99})
    assert isinstance(text, str) and "n" in text
    msg = tool.invoke(
        {
            "type": "tool_call",
            "id": "1",
            "name": tool.name,
            "args": {"prompt": "x", "size": "40x24"},
        }
    )
    sizes = [Image.open(io.BytesIO(i["data"])).size for i in msg.artifact["images"]]
    assert sizes == [(40, 24)]

    spec = LlamaSwapImageToolSpec(model=IMAGE, dsn=bad_rig.dsn, max_images=2)
    for kwargs in ({"size": "12"}, {"size": "0x0"}, {"n": 3}, {"n": 0}):
        exc = raised(lambda: spec.generate_image("a cat", **kwargs))  # noqa: B023
        assert type(exc) is ValueError, repr(exc)
    blocks = spec.generate_image("a cat", size="24x40", n=2)
    images = [b for b in blocks if isinstance(b, ImageBlock)]
    assert len(images) == 2
    for block in images:
        data = block.image
        assert isinstance(data, bytes)
        raw = data if data.startswith(b"\x89PNG") else base64.b64decode(data)
        assert Image.open(io.BytesIO(raw)).size == (24, 40)


# -- broken bodies: images and management through the provider -----------------------------

IMAGE_MODES = {
    "not_json": "not return JSON",
    "html": "text/html",
    "truncated": "not return JSON",
    "empty": "not return JSON",
    "null": "'data' list",
    "array": "'data' list",
    "invalid_utf8": "UnicodeDecodeError",
    "wrong_types": "neither 'b64_json' nor a 'url'",
    "bad_base64": "not valid base64",
    "empty_base64": "empty",
    "item_not_object": "not an object",
    "no_image_field": "neither 'b64_json' nor a 'url'",
    "data_not_list": "'data' list",
    "no_data": "'data' list",
    "empty_data": "no images",
    "error_garbage": "upstream fell ov",
    "error_html": "Bad Request",
}


@pytest.mark.parametrize(("mode", "says"), sorted(IMAGE_MODES.items()))
def test_provider_images_broken_bodies(provider: LlamaSwapProvider, mode: str, says: str) -> None:
    exc = raised(lambda: provider.generate_image(f"a cat __{mode}__", model=BAD))
    expected = APIError if mode.startswith("error_") else ResponseDecodeError
    assert isinstance(exc, expected), repr(exc)
    assert_typed(exc, says)


async def test_provider_images_broken_bodies_async(provider: LlamaSwapProvider) -> None:
    for mode in ("truncated", "bad_base64", "html"):
        try:
            await provider.agenerate_image(f"a cat __{mode}__", model=BAD)
        except ResponseDecodeError as exc:
            assert_typed(exc, IMAGE_MODES[mode])
        else:
            raise AssertionError(mode)


MANAGEMENT_MODES = {
    "not_json": "did not return JSON",
    "html": "text/html",
    "truncated": "did not return JSON",
    "empty": "did not return JSON",
    "null": "did not return an object",
    "array": "did not return an object",
    "invalid_utf8": "UnicodeDecodeError",
    "wrong_types": "did not return an object",
    "record_no_id": "without a string",
    "data_not_list": "did not return an object",
}


@pytest.mark.parametrize(("mode", "says"), sorted(MANAGEMENT_MODES.items()))
def test_list_and_running_broken_bodies(bad_rig: Rig, mode: str, says: str) -> None:
    """llama-swap itself is fine; the server behind ``/upstream/misbehaving/<mode>`` is not."""
    with LlamaSwapProvider(f"{bad_rig.dsn}/upstream/{BAD}/{mode}") as p:
        for call in (p.list_models, p.running):
            exc = raised(call)
            assert isinstance(exc, ResponseDecodeError), repr(exc)
            assert_typed(exc, says)
        if mode not in ("record_no_id", "data_not_list"):
            assert_typed(raised(p.version), says)


# -- broken bodies: framework classes ------------------------------------------------------

CHAT_MODES = {
    "not_json": "not valid JSON",
    "html": "Content-Type text/html",
    "truncated": "not valid JSON",
    "empty": "not valid JSON",
    "null": "not an object",
    "array": "not an object",
    "invalid_utf8": "UnicodeDecodeError",
    "wrong_types": "no 'choices' list",
    "empty_choices": "empty 'choices'",
    "message_not_object": "'message' is not an object",
    "error_garbage": "upstream fell ov",
    "error_html": "Bad Request",
}
STREAM_MODES = {
    "sse_garbage": "is not JSON",
    "sse_wrong_types": "'choices' that is not a list",
    "sse_json_answer": "instead of text/event-stream",
    "html": "Content-Type text/html instead of text/event-stream",
    "truncated": "instead of text/event-stream",
    "error_garbage": "upstream fell ov",
}
EMBED_MODES = {
    "not_json": "not valid JSON",
    "html": "Content-Type text/html",
    "truncated": "not valid JSON",
    "empty": "not valid JSON",
    "null": "not an object",
    "array": "not an object",
    "invalid_utf8": "UnicodeDecodeError",
    "wrong_types": "1 embeddings for 2 inputs",
    "too_few": "1 embeddings for 2 inputs",
    "too_many": "3 embeddings for 2 inputs",
    "ragged": "different sizes",
    "not_numbers": "not a list of numbers",
    "data_not_list": "no 'data' list",
    "no_embedding": "not a list of numbers",
    "error_garbage": "upstream fell ov",
}


def _expected(mode: str) -> type[Exception]:
    return APIError if mode.startswith("error_") else ResponseDecodeError


@pytest.fixture(scope="module")
def lc_chat(bad_rig: Rig) -> ChatLlamaSwap:
    return ChatLlamaSwap(model=BAD, dsn=bad_rig.dsn)


@pytest.fixture(scope="module")
def li_llm(bad_rig: Rig) -> LlamaSwap:
    return LlamaSwap(model=BAD, dsn=bad_rig.dsn, context_window=2048)


@pytest.mark.parametrize(("mode", "says"), sorted(CHAT_MODES.items()))
def test_chat_broken_bodies(
    lc_chat: ChatLlamaSwap, li_llm: LlamaSwap, mode: str, says: str
) -> None:
    from llama_index.core.llms import ChatMessage

    prompt = f"__{mode}__"
    calls: list[Callable[[], Any]] = [
        lambda: lc_chat.invoke(prompt),
        lambda: li_llm.chat([ChatMessage(role="user", content=prompt)]),
        lambda: li_llm.complete(prompt),
    ]
    for call in calls:
        exc = raised(call)
        assert isinstance(exc, _expected(mode)), repr(exc)
        assert_typed(exc, says)
    for coro in (
        lc_chat.ainvoke(prompt),
        li_llm.achat([ChatMessage(role="user", content=prompt)]),
    ):
        exc = araised(coro)
        assert isinstance(exc, _expected(mode)), repr(exc)
        assert_typed(exc, says)


@pytest.mark.parametrize(("mode", "says"), sorted(STREAM_MODES.items()))
def test_stream_broken_bodies(
    lc_chat: ChatLlamaSwap, li_llm: LlamaSwap, mode: str, says: str
) -> None:
    from llama_index.core.llms import ChatMessage

    prompt = f"__{mode}__"
    messages = [ChatMessage(role="user", content=prompt)]
    for call in (
        lambda: list(lc_chat.stream(prompt)),
        lambda: list(li_llm.stream_chat(messages)),
    ):
        exc = raised(call)
        assert isinstance(exc, _expected(mode)), repr(exc)
        assert_typed(exc, says)

    async def lc_astream() -> None:
        async for _ in lc_chat.astream(prompt):
            pass

    async def li_astream() -> None:
        async for _ in await li_llm.astream_chat(messages):
            pass

    for coro in (lc_astream(), li_astream()):
        exc = araised(coro)
        assert isinstance(exc, _expected(mode)), repr(exc)
        assert_typed(exc, says)


def test_misbehaving_upstream_answers_validly_without_a_mode(
    lc_chat: ChatLlamaSwap, li_llm: LlamaSwap, bad_rig: Rig
) -> None:
    """The checks reject only broken answers: the same routes answer fine otherwise."""
    assert lc_chat.invoke("hello").content == "all good"
    assert "".join(str(c.content) for c in lc_chat.stream("hello")) == "all good"
    assert li_llm.complete("hello").text == "all good"
    assert len(LlamaSwapEmbeddings(model=BAD, dsn=bad_rig.dsn).embed_query("x")) == 8
    assert len(LlamaSwapEmbedding(model=BAD, dsn=bad_rig.dsn).get_text_embedding("x")) == 8


@pytest.mark.parametrize(("mode", "says"), sorted(EMBED_MODES.items()))
def test_embeddings_broken_bodies(bad_rig: Rig, mode: str, says: str) -> None:
    texts = [f"__{mode}__", "second"]
    lc = LlamaSwapEmbeddings(model=BAD, dsn=bad_rig.dsn)
    li = LlamaSwapEmbedding(model=BAD, dsn=bad_rig.dsn)
    for call in (
        lambda: lc.embed_documents(texts),
        lambda: li.get_text_embedding_batch(texts),
    ):
        exc = raised(call)
        assert isinstance(exc, _expected(mode)), repr(exc)
        assert_typed(exc, says)
    for coro in (lc.aembed_documents(texts), li.aget_text_embedding_batch(texts)):
        exc = araised(coro)
        assert isinstance(exc, _expected(mode)), repr(exc)
        assert_typed(exc, says)


@pytest.mark.parametrize("mode", ["truncated", "bad_base64", "no_data", "html", "error_garbage"])
def test_image_tools_broken_bodies(bad_rig: Rig, mode: str) -> None:
    says = IMAGE_MODES[mode]
    tool = LlamaSwapImageTool(model=BAD, dsn=bad_rig.dsn)
    exc = raised(lambda: tool.invoke({"prompt": f"a cat __{mode}__"}))
    assert isinstance(exc, ToolException), repr(exc)  # the tool's documented error
    assert_typed(exc, says, BAD)
    exc = araised(tool.ainvoke({"prompt": f"a cat __{mode}__"}))
    assert isinstance(exc, ToolException), repr(exc)

    spec = LlamaSwapImageToolSpec(model=BAD, dsn=bad_rig.dsn)
    exc = raised(lambda: spec.generate_image(f"a cat __{mode}__"))
    assert isinstance(exc, _expected(mode)), repr(exc)
    assert_typed(exc, says)
    exc = araised(spec.agenerate_image(f"a cat __{mode}__"))
    assert isinstance(exc, _expected(mode)), repr(exc)
