"""Who answered a 404 decides what it means, pinned offline with httpx.MockTransport.

The bodies are what the real llama-swap (v250 and main-0bdb372) and the servers behind it
send: llama-swap marks its own errors (``"src": "llama-swap"``), llama.cpp answers an
unknown route with ``File Not Found``, Go servers with a bare ``404 page not found``.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from llamaswap import LlamaSwapProvider, NotFoundError

BASE = "http://127.0.0.1:18080"
MODELS = {
    "object": "list",
    "data": [
        {"id": "qwen", "object": "model", "status": {"value": "unloaded"}},
        {"id": "sd", "object": "model", "status": {"value": "unloaded"}},
    ],
}
LLAMACPP_404 = {"error": {"code": 404, "message": "File Not Found", "type": "not_found_error"}}
V250_NO_MODEL = {"error": "no router for requested model", "src": "llama-swap"}
MAIN_NO_MODEL = {
    "src": "llama-swap",
    "error": {
        "message": "no router for requested model",
        "type": "invalid_request_error",
        "param": None,
        "code": "not_found",
    },
}


def provider_answering(answer: Callable[[httpx.Request], httpx.Response]) -> LlamaSwapProvider:
    def route(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/models":
            return httpx.Response(200, json=MODELS)
        return answer(request)

    return LlamaSwapProvider(
        BASE,
        http_client=httpx.Client(transport=httpx.MockTransport(route)),
        async_http_client=httpx.AsyncClient(transport=httpx.MockTransport(route)),
    )


def raised(call: Callable[[], object]) -> BaseException:
    try:
        call()
    except Exception as exc:
        return exc
    raise AssertionError("no error raised")


UPSTREAM_404S = {
    "llama.cpp": lambda r: httpx.Response(404, json=LLAMACPP_404),
    "go upstream": lambda r: httpx.Response(404, text="404 page not found\n"),
    "python upstream": lambda r: httpx.Response(
        404, json={"error": {"message": f"no route {r.url.path}", "type": "x"}}
    ),
}


@pytest.mark.parametrize("answer", UPSTREAM_404S.values(), ids=UPSTREAM_404S.keys())
def test_image_request_to_a_chat_model_says_its_server_lacks_the_route(
    answer: Callable[[httpx.Request], httpx.Response],
) -> None:
    exc = raised(lambda: provider_answering(answer).generate_image("a fox", model="qwen"))
    assert isinstance(exc, NotFoundError)
    assert exc.model == "qwen" and exc.route == "/v1/images/generations"
    assert "has no model" not in str(exc)
    assert "'qwen' exists" in str(exc) and "POST /v1/images/generations" in str(exc)
    assert exc.available == ()


@pytest.mark.parametrize("answer", UPSTREAM_404S.values(), ids=UPSTREAM_404S.keys())
def test_chat_to_an_image_model_through_the_sdk_says_its_server_lacks_the_route(
    answer: Callable[[httpx.Request], httpx.Response],
) -> None:
    client = provider_answering(answer).openai_client()
    exc = raised(
        lambda: client.chat.completions.create(
            model="sd", messages=[{"role": "user", "content": "hi"}]
        )
    )
    assert isinstance(exc, NotFoundError)
    assert exc.model == "sd" and exc.route == "/v1/chat/completions"
    assert "'sd' exists" in str(exc) and "has no model" not in str(exc)


@pytest.mark.parametrize("body", [V250_NO_MODEL, MAIN_NO_MODEL], ids=["v250", "main"])
def test_llama_swaps_own_404_means_the_model_is_unknown(body: dict[str, object]) -> None:
    provider = provider_answering(lambda r: httpx.Response(404, json=body))
    exc = raised(lambda: provider.generate_image("a fox", model="nope"))
    assert isinstance(exc, NotFoundError)
    assert exc.model == "nope" and exc.route is None
    assert "llama-swap has no model 'nope'" in str(exc)
    assert exc.available == ("qwen", "sd")


def test_llama_swaps_plain_text_and_html_404s_are_its_own() -> None:
    for answer in (
        httpx.Response(404, text="llama-swap: no router for requested model"),
        httpx.Response(
            404,
            text="<html><body><h1>llama-swap</h1><p>no router for requested model</p></body>"
            "</html>",
        ),
    ):
        provider = provider_answering(lambda r, a=answer: a)  # type: ignore[misc]
        exc = raised(lambda p=provider: p.generate_image("x", model="nope"))  # type: ignore[misc]
        assert isinstance(exc, NotFoundError) and exc.route is None, repr(exc)
        assert "llama-swap has no model 'nope' (404: no router for requested model)" in str(exc)


def test_go_404_on_a_path_llama_swap_does_not_route_is_llama_swaps() -> None:
    provider = provider_answering(lambda r: httpx.Response(404, text="404 page not found\n"))
    exc = raised(lambda: provider.http_client.get(f"{BASE}/v1/nosuch").raise_for_status())
    assert isinstance(exc, httpx.HTTPStatusError)  # the raw client is untouched
    client = provider.openai_client()
    exc = raised(lambda: client.get("/nosuch", cast_to=object))
    assert isinstance(exc, NotFoundError)
    assert exc.route == "/v1/nosuch"
    assert "llama-swap has no route GET /v1/nosuch" in str(exc)


def test_upstream_path_404_names_the_models_server() -> None:
    provider = provider_answering(lambda r: httpx.Response(404, json=LLAMACPP_404))
    client = provider.openai_client().with_options(base_url=BASE)
    exc = raised(lambda: client.get("/upstream/qwen/nosuch", cast_to=object))
    assert isinstance(exc, NotFoundError)
    assert exc.route == "/upstream/qwen/nosuch"
    assert "model server has no route" in str(exc)


async def test_async_image_request_to_a_chat_model_says_the_same() -> None:
    provider = provider_answering(UPSTREAM_404S["llama.cpp"])
    with pytest.raises(NotFoundError) as info:
        await provider.agenerate_image("a fox", model="qwen")
    assert info.value.route == "/v1/images/generations"
    assert "'qwen' exists" in str(info.value)
