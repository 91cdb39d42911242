"""A completion stream that ends early is an error, not a short answer."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from llamaswap import (
    IncompleteResponseError,
    LlamaSwapProvider,
    ModelLoadError,
    ResponseDecodeError,
    UpstreamError,
)
from llamaswap.stream_guard import AsyncGuardedTransport, GuardedTransport, StreamScanner


def chunk(content: str | None = None, finish: str | None = None) -> bytes:
    delta = {"content": content} if content is not None else {}
    body = {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return f"data: {json.dumps(body)}\n\n".encode()


COMPLETE = [chunk("Hel"), chunk("lo"), chunk(finish="stop"), b"data: [DONE]\n\n"]
CUT = [chunk("Hel"), chunk("lo")]
LOAD_FAILED = [
    b'data: {"choices":[{"delta":{"reasoning_content":"llama-swap loading model: qwen"}}]}\n\n',
    b'{"error":"unspecific error: upstream command exited prematurely","src":"llama-swap"}',
]


def scan(chunks: list[bytes], model: str | None = "qwen") -> StreamScanner:
    scanner = StreamScanner(model)
    for c in chunks:
        scanner.feed(c)
    scanner.close()
    return scanner


def test_complete_stream_passes() -> None:
    assert scan(COMPLETE).complete


def test_done_alone_or_finish_reason_alone_is_complete() -> None:
    assert scan([chunk("x"), b"data: [DONE]\n\n"]).done
    assert scan([chunk("x"), chunk(finish="length")]).finished


def test_lines_split_across_chunks_are_reassembled() -> None:
    whole = b"".join(COMPLETE)
    assert scan([whole[i : i + 7] for i in range(0, len(whole), 7)]).complete


def test_cut_stream_raises_incomplete_with_the_model() -> None:
    with pytest.raises(IncompleteResponseError, match="model 'qwen' ended before it was complete"):
        scan(CUT)


def test_null_finish_reason_does_not_count_as_complete() -> None:
    with pytest.raises(IncompleteResponseError):
        scan([chunk("a", finish=None)])


def test_appended_load_error_raises_model_load_error() -> None:
    with pytest.raises(ModelLoadError) as info:
        scan(LOAD_FAILED)
    assert info.value.reason == "upstream command exited prematurely"
    assert info.value.model == "qwen"


def test_appended_other_error_raises_upstream_error() -> None:
    with pytest.raises(UpstreamError, match="group is shutting down"):
        scan([b'{"error":{"message":"group is shutting down","type":"server_error"}}'])


def sse(chunks: list[bytes], path: str = "/v1/chat/completions") -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, headers={"content-type": "text/event-stream"}, content=iter(chunks)
        )

    return httpx.MockTransport(handler)


def read(transport: httpx.BaseTransport, path: str = "/v1/chat/completions") -> bytes:
    with (
        httpx.Client(transport=transport) as client,
        client.stream(
            "POST", f"http://swap{path}", json={"model": "qwen", "stream": True}
        ) as response,
    ):
        return b"".join(response.iter_bytes())


def test_guarded_transport_passes_complete_and_raises_on_cut() -> None:
    assert read(GuardedTransport(sse(COMPLETE))) == b"".join(COMPLETE)
    with pytest.raises(IncompleteResponseError, match="'qwen'"):
        read(GuardedTransport(sse(CUT)))


def test_only_completion_routes_are_guarded() -> None:
    assert read(GuardedTransport(sse(CUT)), "/api/events") == b"".join(CUT)


def test_transport_failure_mid_stream_is_incomplete() -> None:
    def broken() -> Iterator[bytes]:
        yield chunk("Hel")
        raise httpx.RemoteProtocolError("peer closed connection")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=broken())

    with pytest.raises(IncompleteResponseError, match="cut off after 1 stream events"):
        read(GuardedTransport(httpx.MockTransport(handler)))


async def test_async_guarded_transport() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        async def body() -> AsyncIterator[bytes]:
            for c in CUT:
                yield c

        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body())

    transport = AsyncGuardedTransport(httpx.MockTransport(handler))
    url = "http://swap/v1/chat/completions"
    async with (
        httpx.AsyncClient(transport=transport) as client,
        client.stream("POST", url, json={}) as response,
    ):
        with pytest.raises(IncompleteResponseError):
            async for _ in response.aiter_bytes():
                pass


def test_provider_clients_are_guarded() -> None:
    provider = LlamaSwapProvider("llama-swap://127.0.0.1:1")
    assert isinstance(provider.http_client._transport, GuardedTransport)
    provider.close()


def json_chat(request: httpx.Request) -> httpx.Response:
    message = {"role": "assistant", "content": "hi"}
    body = json.dumps({"choices": [{"index": 0, "message": message}]}).encode()
    return httpx.Response(  # streamed, as a real connection delivers it
        200, headers={"content-type": "application/json"}, content=iter([body])
    )


@pytest.mark.parametrize(
    ("body", "stream_error"),
    [
        ({"model": "qwen", "stream": True}, True),
        ({"model": "qwen", "stream": True, "n": 1}, True),
        ({"model": "qwen", "stream": False, "chat_template_kwargs": {"stream": True}}, False),
        ({"model": "qwen", "messages": [{"role": "user", "content": '"stream": true'}]}, False),
    ],
)
def test_only_a_top_level_stream_true_makes_a_json_answer_a_stream_error(
    body: dict[str, object], stream_error: bool
) -> None:
    transport = GuardedTransport(httpx.MockTransport(json_chat))
    with httpx.Client(transport=transport) as client:
        if stream_error:
            with pytest.raises(ResponseDecodeError, match="for model 'qwen' was asked to stream"):
                client.post("http://swap/v1/chat/completions", json=body)
        else:
            response = client.post("http://swap/v1/chat/completions", json=body)
            assert response.json()["choices"][0]["message"]["content"] == "hi"


def test_a_bad_json_answer_names_the_model_of_the_request() -> None:
    transport = GuardedTransport(
        httpx.MockTransport(lambda r: httpx.Response(200, content=iter([b"{}"])))
    )
    with httpx.Client(transport=transport) as client:
        response = client.post("http://swap/v1/chat/completions", json={"model": "qwen"})
        with pytest.raises(ResponseDecodeError, match="for model 'qwen' has no 'choices' list"):
            response.json()


class _OwnResponse(httpx.Response):
    """A Response subclass a caller's own transport might return."""

    __slots__ = ()


@pytest.mark.parametrize("response_class", [httpx.Response, _OwnResponse])
def test_an_html_answer_is_a_decode_error_naming_its_content_type(
    response_class: type[httpx.Response],
) -> None:
    def html(request: httpx.Request) -> httpx.Response:
        return response_class(200, headers={"content-type": "text/html"}, content=b"<h1>hi</h1>")

    transport = GuardedTransport(httpx.MockTransport(html))
    with httpx.Client(transport=transport) as client:
        response = client.post("http://swap/v1/chat/completions", json={"model": "qwen"})
        assert response.headers["content-type"] == "application/json"  # so the SDK parses it
        with pytest.raises(ResponseDecodeError, match="with Content-Type text/html instead"):
            response.json()
