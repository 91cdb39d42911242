"""logs() / stream_logs() and their async twins, pinned offline with httpx.MockTransport.

The routes and answers are llama-swap v250's (internal/server/log.go): ``GET /logs`` is the
combined history as text; ``GET /logs/stream[/<id>]`` sends the history, then live lines,
never ending; ``?no-history`` skips the history; an unknown id is a 400 ``invalid logger``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest

from llamaswap import AuthenticationError, LlamaSwapProvider, NotFoundError

KEY = "sk-logs-secret-7"
MODELS = {"data": [{"id": "qwen"}, {"id": "sd"}]}
INVALID = {"error": "invalid logger. Use 'proxy', 'upstream' or a model's ID", "src": "llama-swap"}


class HistoryThenSilence(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A stream that sends its history and then waits, as llama-swap's log stream does.

    The wait is the read timeout the client set, raised as httpx raises it.
    """

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = chunks
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        yield from self.chunks
        raise httpx.ReadTimeout("no data within the read timeout")

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk
        raise httpx.ReadTimeout("no data within the read timeout")

    def close(self) -> None:
        self.closed = True

    async def aclose(self) -> None:
        self.closed = True


Handler = Callable[[httpx.Request], httpx.Response]


def provider_with(handler: Handler, key: str | None = KEY) -> LlamaSwapProvider:
    auth = f"{key}@" if key else ""
    return LlamaSwapProvider(
        f"llama-swap://{auth}127.0.0.1:18080",
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
        async_http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
    )


def server(seen: list[httpx.Request]) -> Handler:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        path = request.url.raw_path.decode()
        if path == "/v1/models":
            return httpx.Response(200, json=MODELS)
        if path == "/logs":
            return httpx.Response(200, text="[INFO] one\n[INFO] two\n")
        if path in ("/logs/stream/qwen", "/logs/stream/proxy"):
            return httpx.Response(200, stream=HistoryThenSilence(b"line a\n", b"line b\n"))
        if path in ("/logs/stream/qwen?no-history", "/logs/stream?no-history"):
            return httpx.Response(200, content=b"new 1\nnew 2\n")
        if path.startswith("/logs/stream/"):
            return httpx.Response(400, json=INVALID)
        return httpx.Response(404, text="404 page not found")

    return handle


def test_logs_without_source_is_get_logs_with_the_key() -> None:
    seen: list[httpx.Request] = []
    assert provider_with(server(seen)).logs() == "[INFO] one\n[INFO] two\n"
    assert [r.url.path for r in seen] == ["/logs"]
    assert seen[0].headers["authorization"] == f"Bearer {KEY}"


def test_logs_of_one_source_reads_its_stream_history_until_quiet() -> None:
    seen: list[httpx.Request] = []
    provider = provider_with(server(seen))
    assert provider.logs("qwen", quiet=0.05) == "line a\nline b\n"
    request = seen[-1]
    assert request.url.raw_path == b"/logs/stream/qwen"
    # The read timeout is the quiet gap; connecting keeps its usual bound.
    timeouts = request.extensions["timeout"]
    assert timeouts["read"] == 0.05 and timeouts["connect"] == 10.0


def test_logs_of_a_quiet_source_with_no_history_is_empty() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("no headers: llama-swap writes nothing until a line comes")

    assert provider_with(handle).logs("proxy", quiet=0.05) == ""


@pytest.mark.parametrize("quiet", [0, -1.0, True])
def test_logs_quiet_must_be_positive(quiet: float) -> None:
    with pytest.raises(ValueError, match="quiet must be a positive number of seconds"):
        provider_with(server([])).logs("qwen", quiet=quiet)


def test_stream_logs_yields_lines_and_no_history_asks_for_new_lines_only() -> None:
    seen: list[httpx.Request] = []
    provider = provider_with(server(seen))
    assert list(provider.stream_logs("qwen", history=False)) == ["new 1", "new 2"]
    assert seen[-1].url.raw_path == b"/logs/stream/qwen?no-history"
    assert list(provider.stream_logs(history=False)) == ["new 1", "new 2"]
    assert seen[-1].url.raw_path == b"/logs/stream?no-history"


@pytest.mark.parametrize("call", ["logs", "stream_logs"])
def test_unknown_log_source_is_not_found_listing_the_valid_ones(call: str) -> None:
    provider = provider_with(server([]))
    with pytest.raises(NotFoundError) as info:
        if call == "logs":
            provider.logs("nope", quiet=0.05)
        else:
            list(provider.stream_logs("nope"))
    err = info.value
    assert err.available == ("proxy", "upstream", "qwen", "sd")
    assert err.model == "nope" and err.status_code == 400
    assert "invalid logger" in str(err) and "proxy, upstream, qwen, sd" in str(err)


def test_a_model_id_the_log_route_would_misread_is_refused_before_sending() -> None:
    seen: list[httpx.Request] = []
    with pytest.raises(NotFoundError, match="route it to 'qwen'"):
        list(provider_with(server(seen)).stream_logs("qwen/x"))
    assert not any(r.url.path.startswith("/logs") for r in seen)


def test_log_stream_401_is_an_authentication_error() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": "unauthorized", "src": "llama-swap"})

    with pytest.raises(AuthenticationError, match="no key was sent"):
        list(provider_with(handle, key=None).stream_logs("proxy"))


async def test_async_twins_match_the_sync_methods() -> None:
    seen: list[httpx.Request] = []
    provider = provider_with(server(seen))
    assert await provider.alogs() == "[INFO] one\n[INFO] two\n"
    assert await provider.alogs("qwen", quiet=0.05) == "line a\nline b\n"
    assert [line async for line in provider.astream_logs("qwen", history=False)] == [
        "new 1",
        "new 2",
    ]
    with pytest.raises(NotFoundError):
        await provider.alogs("nope")
    with pytest.raises(NotFoundError):
        [line async for line in provider.astream_logs("nope")]
    await provider.aclose()
