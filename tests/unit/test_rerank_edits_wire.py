"""Reranking and image edits on the wire (issue 13), pinned offline with httpx.MockTransport.

Each rerank answer shape llama-server has sent is replayed here: the first builds' results in
document order, the current sorted and ``top_n``-cut list, and TEI's bare list with
``score``. Whatever the shape, callers get results sorted best first and cut to ``top_n``.
"""

from __future__ import annotations

import base64
import json
import struct
import zlib
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import Any

import httpx
import pytest

from llamaswap import (
    GeneratedImage,
    LlamaSwapProvider,
    NotFoundError,
    RerankResult,
    ResponseDecodeError,
)

BASE = "http://127.0.0.1:18080"
DOCS = ["cats purr", "dogs bark", "birds sing"]


def tiny_png(red: int = 255) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        return struct.pack(">I", len(data)) + kind + data + crc

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(bytes([0, red, 0, 0])))
        + chunk(b"IEND", b"")
    )


class Recorder:
    """Answers every request with one response and keeps the requests."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        given = self.response  # a fresh copy each time: a sync and an async client may both read
        return httpx.Response(given.status_code, headers=given.headers, content=given.content)


def provider_for(recorder: Recorder) -> LlamaSwapProvider:
    return LlamaSwapProvider(
        "llama-swap://sk-unit@127.0.0.1:18080",
        http_client=httpx.Client(transport=httpx.MockTransport(recorder)),
        async_http_client=httpx.AsyncClient(transport=httpx.MockTransport(recorder)),
    )


# -- rerank -------------------------------------------------------------------------------

CURRENT = {
    "model": "rr",
    "object": "list",
    "usage": {"prompt_tokens": 9, "total_tokens": 9},
    "results": [{"index": 2, "relevance_score": 3.5}, {"index": 0, "relevance_score": -1.25}],
}
LEGACY = {  # first llama-server builds: every document, in the order sent, no top_n cut
    "model": "rr",
    "object": "list",
    "usage": {"prompt_tokens": 0, "total_tokens": 0},
    "results": [
        {"index": 0, "relevance_score": -1.25},
        {"index": 1, "relevance_score": -4.0},
        {"index": 2, "relevance_score": 3.5},
    ],
}
TEI = [{"index": 2, "score": 3.5, "text": "birds sing"}, {"index": 0, "score": -1.25}]


def test_rerank_sends_llama_server_body_to_v1_rerank() -> None:
    rec = Recorder(httpx.Response(200, json=CURRENT))
    provider_for(rec).rerank("which sing?", DOCS, model="rr", top_n=2)
    (request,) = rec.requests
    assert (request.method, request.url.path) == ("POST", "/v1/rerank")
    assert json.loads(request.content) == {
        "model": "rr",
        "query": "which sing?",
        "documents": DOCS,
        "top_n": 2,
    }
    assert request.headers["authorization"] == "Bearer sk-unit"


def test_rerank_leaves_top_n_out_when_not_given() -> None:
    rec = Recorder(httpx.Response(200, json=LEGACY))
    provider_for(rec).rerank("q", DOCS, model="rr")
    assert "top_n" not in json.loads(rec.requests[0].content)


@pytest.mark.parametrize("answer", [CURRENT, LEGACY, TEI], ids=["current", "legacy", "tei"])
def test_rerank_reads_every_llama_server_shape_best_first(answer: Any) -> None:
    results = provider_for(Recorder(httpx.Response(200, json=answer))).rerank(
        "which sing?", DOCS, model="rr", top_n=2
    )
    assert results == [
        RerankResult(index=2, relevance_score=3.5, document="birds sing"),
        RerankResult(index=0, relevance_score=-1.25, document="cats purr"),
    ]


def test_rerank_without_top_n_returns_every_document_sorted() -> None:
    results = provider_for(Recorder(httpx.Response(200, json=LEGACY))).rerank("q", DOCS, model="rr")
    assert [(r.index, r.document) for r in results] == [
        (2, "birds sing"),
        (0, "cats purr"),
        (1, "dogs bark"),
    ]


async def test_arerank_matches_rerank() -> None:
    provider = provider_for(Recorder(httpx.Response(200, json=LEGACY)))
    assert await provider.arerank("q", DOCS, model="rr", top_n=1) == provider.rerank(
        "q", DOCS, model="rr", top_n=1
    )
    await provider.aclose()


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"documents": []}, "documents is empty"),
        ({"documents": "one text"}, "wrap one document in a list"),
        ({"documents": ["ok", 3]}, "documents[1] is a int"),
        ({"query": "  "}, "query must be a non-empty string"),
        ({"top_n": 0}, "top_n must be a positive integer"),
        ({"top_n": True}, "top_n must be a positive integer"),
        ({"model": ""}, "model must name a reranker"),
    ],
)
def test_rerank_bad_input_says_what_to_fix_before_sending(
    kwargs: dict[str, Any], says: str
) -> None:
    rec = Recorder(httpx.Response(200, json=CURRENT))
    args: dict[str, Any] = {"query": "q", "documents": DOCS, "model": "rr", **kwargs}
    with pytest.raises(ValueError, match=says.replace("[", r"\[").replace("]", r"\]")):
        provider_for(rec).rerank(args.pop("query"), args.pop("documents"), **args)
    assert rec.requests == []


@pytest.mark.parametrize(
    ("answer", "says"),
    [
        ({"data": []}, "did not return a 'results' list"),
        ({"results": [{"relevance_score": 1.0}]}, "no integer 'index'"),
        ({"results": [{"index": 7, "relevance_score": 1.0}]}, "names document 7, but 3"),
        (
            {"results": [{"index": 1, "score": 1.0}, {"index": 1, "score": 2.0}]},
            "already ranked",
        ),
        ({"results": [{"index": 0, "relevance_score": "high"}]}, "no finite 'relevance_score'"),
    ],
)
def test_rerank_unreadable_answers_raise_response_decode_error(answer: Any, says: str) -> None:
    with pytest.raises(ResponseDecodeError, match=says):
        provider_for(Recorder(httpx.Response(200, json=answer))).rerank("q", DOCS, model="rr")


def test_rerank_unknown_model_raises_not_found() -> None:
    answer = httpx.Response(404, json={"error": "could not find real modelID for nope"})
    with pytest.raises(NotFoundError):
        provider_for(Recorder(answer)).rerank("q", DOCS, model="nope")


# -- image edits --------------------------------------------------------------------------


def form_parts(request: httpx.Request) -> dict[str, tuple[str | None, bytes]]:
    """name -> (filename, bytes) of each part of a multipart request."""
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + request.content)
    parts = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        assert isinstance(name, str) and isinstance(payload, bytes)
        parts[name] = (part.get_filename(), payload)
    return parts


def edit_answer(png: bytes) -> httpx.Response:
    return httpx.Response(
        200, json={"created": 5, "data": [{"b64_json": base64.b64encode(png).decode()}]}
    )


def test_edit_image_posts_multipart_form_with_image_and_mask() -> None:
    source, mask, out = tiny_png(1), tiny_png(2), tiny_png(3)
    rec = Recorder(edit_answer(out))
    result = provider_for(rec).edit_image(
        source, "make it blue", model="sd", mask=mask, size="64x32", n=1, seed=9
    )
    (request,) = rec.requests
    assert (request.method, request.url.path) == ("POST", "/v1/images/edits")
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert request.headers["authorization"] == "Bearer sk-unit"
    parts = form_parts(request)
    assert parts["image"] == ("image.png", source)
    assert parts["mask"] == ("mask.png", mask)
    assert {k: v[1].decode() for k, v in parts.items() if v[0] is None} == {
        "model": "sd",
        "prompt": "make it blue",
        "n": "1",
        "size": "64x32",
        "seed": "9",
        "response_format": "b64_json",
    }
    assert (result.model, result.created, result[0].data) == ("sd", 5, out)
    assert result[0].mime_type == "image/png"


def test_edit_image_takes_a_path_or_a_generated_image(tmp_path: Path) -> None:
    source = tiny_png(7)
    path = tmp_path / "in.png"
    path.write_bytes(source)
    for given in (path, str(path), GeneratedImage(data=source, mime_type="image/png")):
        rec = Recorder(edit_answer(tiny_png()))
        provider_for(rec).edit_image(given, "x", model="sd")
        parts = form_parts(rec.requests[0])
        assert parts["image"][1] == source
        assert "mask" not in parts and "size" not in parts and "seed" not in parts


async def test_aedit_image_sends_the_same_form() -> None:
    rec = Recorder(edit_answer(tiny_png(3)))
    provider = provider_for(rec)
    result = await provider.aedit_image(tiny_png(1), "blue", model="sd", n=2)
    assert result[0].data == tiny_png(3)
    parts = form_parts(rec.requests[0])
    assert (parts["image"][1], parts["n"][1]) == (tiny_png(1), b"2")
    await provider.aclose()


@pytest.mark.parametrize(
    ("image", "kwargs", "says"),
    [
        (b"", {}, "image is empty"),
        ("/no/such/file.png", {}, "is not a file"),
        (12, {}, "image must be bytes, a path or a GeneratedImage"),
        (b"png", {"mask": b""}, "mask is empty"),
        (b"png", {"prompt": " "}, "prompt must be a non-empty string"),
        (b"png", {"n": 0}, "n must be an integer from 1 to 16"),
        (b"png", {"size": "big"}, "size must look like '512x512'"),
    ],
)
def test_edit_image_bad_input_says_what_to_fix_before_sending(
    image: Any, kwargs: dict[str, Any], says: str
) -> None:
    rec = Recorder(edit_answer(tiny_png()))
    prompt = kwargs.pop("prompt", "edit")
    with pytest.raises(ValueError, match=says):
        provider_for(rec).edit_image(image, prompt, model="sd", **kwargs)
    assert rec.requests == []
