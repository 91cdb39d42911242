"""The provider's wire format and error mapping, pinned offline with httpx.MockTransport."""

from __future__ import annotations

import base64
import json
import struct
import zlib
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from llamaswap import (
    APIError,
    AuthenticationError,
    LlamaSwapConnectionError,
    LlamaSwapProvider,
    LlamaSwapTimeoutError,
    ModelLoadError,
    ModelStatus,
    NotFoundError,
    RateLimitError,
    ResponseDecodeError,
    UnsupportedFeatureError,
    UpstreamError,
)

KEY = "sk-unit-secret-42"
BASE = "http://127.0.0.1:18080"

MODELS_BODY = {
    "object": "list",
    "data": [
        {
            "id": "qwen",
            "object": "model",
            "created": 1,
            "owned_by": "llama-swap",
            "name": "Qwen",
            "description": "chat",
            "context_length": 4096,
            "meta": {"llamaswap": {"type": "model", "aliases": ["coder"]}, "n_ctx": 4096},
            "status": {"value": "loaded"},
            "brand_new_field": {"x": 1},
        },
        {
            "id": "peer1/llama",
            "object": "model",
            "created": 1,
            "owned_by": "llama-swap",
            "meta": {"llamaswap": {"type": "peer", "peerID": "peer1"}},
            "status": {"value": "unloaded"},
        },
    ],
}


def tiny_png() -> bytes:
    raw = b"\x00\xff\x00\x00"

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A MockTransport handler that routes by (method, path) and records requests."""

    def __init__(self, routes: dict[tuple[str, str], Handler | httpx.Response]) -> None:
        self.routes = routes
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        route = self.routes.get((request.method, request.url.raw_path.decode()))
        if route is None:
            return httpx.Response(404, text="404 page not found")
        return route(request) if callable(route) else route


def provider_for(recorder: Recorder, key: str | None = KEY) -> LlamaSwapProvider:
    auth = f"{key}@" if key else ""
    return LlamaSwapProvider(
        f"llama-swap://{auth}127.0.0.1:18080",
        http_client=httpx.Client(transport=httpx.MockTransport(recorder)),
        async_http_client=httpx.AsyncClient(transport=httpx.MockTransport(recorder)),
    )


def legacy_error(status: int, message: str) -> httpx.Response:
    return httpx.Response(status, json={"src": "llama-swap", "error": message})


def envelope_error(status: int, message: str, code: str = "x") -> httpx.Response:
    return httpx.Response(
        status,
        json={
            "src": "llama-swap",
            "error": {"message": message, "type": "t", "param": None, "code": code},
        },
    )


def test_list_models_parses_extras_and_sends_bearer() -> None:
    rec = Recorder({("GET", "/v1/models"): httpx.Response(200, json=MODELS_BODY)})
    models = provider_for(rec).list_models()
    qwen, peer = models
    assert (qwen.id, qwen.name, qwen.type, qwen.aliases) == ("qwen", "Qwen", "model", ("coder",))
    assert qwen.loaded and qwen.context_length == 4096
    assert qwen.raw["brand_new_field"] == {"x": 1}
    assert (peer.type, peer.peer_id, peer.loaded) == ("peer", "peer1", False)
    request = rec.requests[0]
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["user-agent"].startswith("llamaswap-python/")


def test_no_key_means_no_authorization_header() -> None:
    rec = Recorder({("GET", "/v1/models"): httpx.Response(200, json={"data": []})})
    assert provider_for(rec, key=None).list_models() == []
    assert "authorization" not in rec.requests[0].headers


def test_context_length_falls_back_to_meta_n_ctx() -> None:
    body = {"data": [{"id": "m", "meta": {"n_ctx": 8192}, "status": {"value": "unloaded"}}]}
    rec = Recorder({("GET", "/v1/models"): httpx.Response(200, json=body)})
    assert provider_for(rec).list_models()[0].context_length == 8192


def test_get_model_by_alias_and_unknown() -> None:
    rec = Recorder({("GET", "/v1/models"): httpx.Response(200, json=MODELS_BODY)})
    provider = provider_for(rec)
    assert provider.get_model("coder").id == "qwen"
    with pytest.raises(NotFoundError, match="qwen, peer1/llama") as info:
        provider.get_model("nope")
    assert info.value.available == ("qwen", "peer1/llama")


def test_running_parses_records() -> None:
    body = {
        "running": [
            {
                "model": "qwen",
                "state": "ready",
                "ttl": 0,
                "cmd": "x",
                "proxy": "p",
                "name": "",
                "description": "",
            }
        ]
    }
    rec = Recorder({("GET", "/running"): httpx.Response(200, json=body)})
    (run,) = provider_for(rec).running()
    assert (run.model, run.state, run.ttl, run.proxy) == ("qwen", "ready", 0, "p")


@pytest.mark.parametrize(
    ("model", "path"),
    [
        ("qwen", "/upstream/qwen/health"),
        ("peer1/llama", "/upstream/peer1%2Fllama/health"),
        ("my model ü", "/upstream/my%20model%20%C3%BC/health"),
    ],
)
def test_load_hits_upstream_health_with_quoted_id(model: str, path: str) -> None:
    rec = Recorder({("GET", path): httpx.Response(200, json={"status": "ok"})})
    provider_for(rec).load(model)
    # an id with a '/' first asks GET /v1/models whether llama-swap would misread it
    sent = [r.url.raw_path.decode() for r in rec.requests if r.url.path != "/v1/models"]
    assert sent[0] == path


def test_load_treats_upstream_404_as_loaded() -> None:
    rec = Recorder({("GET", "/upstream/sd/health"): httpx.Response(404, text="Not Found")})
    assert provider_for(rec).load("sd") is None  # no /health on the image server: it answered
    assert [r.url.path for r in rec.requests] == ["/upstream/sd/health"]  # no retry, no probe


@pytest.mark.parametrize("shape", [legacy_error, envelope_error])
def test_load_unknown_model_lists_available_ids(shape: Callable[..., httpx.Response]) -> None:
    rec = Recorder(
        {
            ("GET", "/upstream/nope/health"): shape(404, "model not found"),
            ("GET", "/v1/models"): httpx.Response(200, json=MODELS_BODY),
        }
    )
    with pytest.raises(NotFoundError) as info:
        provider_for(rec).load("nope")
    assert info.value.model == "nope"
    assert info.value.available == ("qwen", "peer1/llama")
    assert "qwen, peer1/llama" in str(info.value)


@pytest.mark.parametrize("shape", [legacy_error, envelope_error])
def test_load_failure_is_model_load_error_with_reason(shape: Callable[..., httpx.Response]) -> None:
    rec = Recorder(
        {
            ("GET", "/upstream/broken/health"): shape(
                500, "unspecific error: upstream command exited prematurely"
            )
        }
    )
    with pytest.raises(ModelLoadError) as info:
        provider_for(rec).load("broken")
    assert info.value.reason == "upstream command exited prematurely"
    assert info.value.model == "broken"
    assert "broken" in str(info.value) and "exited prematurely" in str(info.value)


def test_plain_text_llama_swap_error_is_parsed() -> None:
    rec = Recorder(
        {
            ("GET", "/upstream/b/health"): httpx.Response(
                500, text="llama-swap: unspecific error: health check timed out after 15s"
            )
        }
    )
    with pytest.raises(ModelLoadError, match="health check timed out"):
        provider_for(rec).load("b")


def test_unload_one_and_all() -> None:
    rec = Recorder(
        {
            ("POST", "/api/models/unload/peer1%2Fllama"): httpx.Response(200, text="OK"),
            ("POST", "/api/models/unload"): httpx.Response(200, json={"msg": "ok"}),
        }
    )
    provider = provider_for(rec)
    provider.unload("peer1/llama")
    provider.unload()
    assert [(r.method, r.url.raw_path.decode()) for r in rec.requests if r.method == "POST"] == [
        ("POST", "/api/models/unload/peer1%2Fllama"),
        ("POST", "/api/models/unload"),
    ]


def test_unload_all_falls_back_to_get_unload_on_old_llama_swap() -> None:
    rec = Recorder({("GET", "/unload"): httpx.Response(200, text="OK")})
    provider_for(rec).unload()
    assert [(r.method, r.url.path) for r in rec.requests] == [
        ("POST", "/api/models/unload"),
        ("GET", "/unload"),
    ]


def test_unload_one_on_old_llama_swap_says_so() -> None:
    rec = Recorder({})
    with pytest.raises(UnsupportedFeatureError, match="no per-model unload"):
        provider_for(rec).unload("qwen")


def test_unload_unknown_model_is_not_found() -> None:
    rec = Recorder(
        {
            ("POST", "/api/models/unload/zzz"): legacy_error(404, "model not found"),
            ("GET", "/v1/models"): httpx.Response(200, json=MODELS_BODY),
        }
    )
    with pytest.raises(NotFoundError, match="zzz"):
        provider_for(rec).unload("zzz")


@pytest.mark.parametrize("key", [KEY, None])
def test_401_says_whether_a_key_was_sent(key: str | None) -> None:
    rec = Recorder(
        {
            ("GET", "/running"): envelope_error(
                401, "unauthorized: invalid or missing API key", "unauthorized"
            )
        }
    )
    with pytest.raises(AuthenticationError) as info:
        provider_for(rec, key=key).running()
    text = str(info.value)
    assert info.value.status_code == 401
    assert ("rejected" in text) if key else ("no key was sent" in text)
    assert KEY not in text


def test_429_is_rate_limit_with_retry_after() -> None:
    rec = Recorder(
        {
            ("GET", "/running"): httpx.Response(
                429, headers={"Retry-After": "1"}, json={"error": "Too many requests"}
            )
        }
    )
    with pytest.raises(RateLimitError) as info:
        provider_for(rec).running()
    assert info.value.retry_after == 1.0
    assert "Too many requests" in str(info.value)


def test_502_with_empty_body_says_the_model_server_died() -> None:
    rec = Recorder({("GET", "/upstream/qwen/health"): httpx.Response(502, content=b"")})
    with pytest.raises(UpstreamError, match="closed the connection before answering") as info:
        provider_for(rec).load("qwen")
    assert info.value.status_code == 502


def test_other_statuses_are_api_errors_with_the_reason() -> None:
    rec = Recorder({("GET", "/running"): legacy_error(409, "model x is not loaded")})
    with pytest.raises(APIError, match="model x is not loaded") as info:
        provider_for(rec).running()
    assert info.value.status_code == 409


def test_key_echoed_by_a_server_is_scrubbed_from_errors() -> None:
    rec = Recorder(
        {
            ("GET", "/running"): httpx.Response(
                400, json={"error": {"message": f"bad header Bearer {KEY}"}}
            )
        }
    )
    with pytest.raises(APIError) as info:
        provider_for(rec).running()
    assert KEY not in str(info.value)
    assert KEY not in info.value.body
    assert KEY not in repr(info.value)


@pytest.mark.parametrize(
    "body",
    [b"<html>oops</html>", b'{"data": [', b'{"data": {"id": 1}}', b'{"data": [{"id": 5}]}', b"[]"],
)
def test_bad_model_list_bodies_are_decode_errors(body: bytes) -> None:
    rec = Recorder({("GET", "/v1/models"): httpx.Response(200, content=body)})
    with pytest.raises(ResponseDecodeError) as info:
        provider_for(rec).list_models()
    assert "/v1/models" in str(info.value)


def test_connection_refused_names_the_url_without_the_key() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    provider = LlamaSwapProvider(
        f"llama-swap://{KEY}@127.0.0.1:18080",
        http_client=httpx.Client(transport=httpx.MockTransport(refuse)),
    )
    with pytest.raises(LlamaSwapConnectionError) as info:
        provider.running()
    text = str(info.value)
    assert "http://127.0.0.1:18080" in text and "curl http://127.0.0.1:18080/health" in text
    assert KEY not in text
    assert provider.health() is False


def test_read_timeout_is_a_timeout_error_that_explains_cold_loads() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    provider = LlamaSwapProvider(
        BASE, http_client=httpx.Client(transport=httpx.MockTransport(slow))
    )
    with pytest.raises(LlamaSwapTimeoutError, match="cold model load"):
        provider.load("qwen", timeout=1)


def test_default_client_never_times_out_reads() -> None:
    provider = LlamaSwapProvider(BASE)
    timeout = provider.http_client.timeout
    assert timeout.read is None and timeout.write is None
    assert timeout.connect == 10.0
    provider.close()


def test_injected_client_is_not_closed() -> None:
    client = httpx.Client(transport=httpx.MockTransport(Recorder({})))
    with LlamaSwapProvider(BASE, http_client=client):
        pass
    assert not client.is_closed


def test_health_and_version() -> None:
    rec = Recorder(
        {
            ("GET", "/health"): httpx.Response(200, text="OK"),
            ("GET", "/api/version"): httpx.Response(
                200, json={"version": "v250", "commit": "60226b6", "build_date": "d"}
            ),
        }
    )
    provider = provider_for(rec)
    assert provider.health() is True
    assert "authorization" not in rec.requests[0].headers  # /health is exempt from auth
    info = provider.version()
    assert (info.version, info.commit) == ("v250", "60226b6")


def test_version_missing_on_old_llama_swap() -> None:
    with pytest.raises(UnsupportedFeatureError, match="/api/version"):
        provider_for(Recorder({})).version()


def image_answer(*items: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json={"created": 5, "data": list(items)})


def test_generate_image_asks_for_b64_and_returns_bytes(tmp_path: Any) -> None:
    png = tiny_png()
    rec = Recorder(
        {
            ("POST", "/v1/images/generations"): image_answer(
                {"b64_json": base64.b64encode(png).decode()}
            )
        }
    )
    result = provider_for(rec).generate_image(
        "a red fox",
        model="sd",
        size="256x256",
        n=1,
        seed=3,
        negative_prompt="blur",
        extra={"steps": 4},
    )
    body = json.loads(rec.requests[0].content)
    assert body == {
        "model": "sd",
        "prompt": "a red fox",
        "n": 1,
        "size": "256x256",
        "response_format": "b64_json",
        "seed": 3,
        "negative_prompt": "blur",
        "steps": 4,
    }
    (image,) = result
    assert image.data == png and image.mime_type == "image/png"
    assert image.to_data_url().startswith("data:image/png;base64,")
    assert base64.b64decode(image.to_data_url().split(",", 1)[1]) == png
    assert image.save(tmp_path / "fox.png").read_bytes() == png
    assert image._repr_png_() == png
    assert result.save(tmp_path / "out")[0].name == "image-0.png"


def test_generate_image_reads_data_urls_and_fetches_same_origin_urls() -> None:
    png = tiny_png()
    data_url = "data:image/png;base64," + base64.b64encode(png).decode()
    rec = Recorder(
        {
            ("POST", "/v1/images/generations"): image_answer(
                {"url": data_url},
                {"url": f"{BASE}/files/1.png"},
                {"url": "http://other.host/2.png"},
            ),
            ("GET", "/files/1.png"): httpx.Response(200, content=png),
            ("GET", "/2.png"): httpx.Response(200, content=png),
        }
    )
    result = provider_for(rec).generate_image("x", model="sd")
    assert [img.data for img in result] == [png, png, png]
    same, other = rec.requests[1], rec.requests[2]
    assert same.headers["authorization"] == f"Bearer {KEY}"
    assert "authorization" not in other.headers  # the key never goes to another host


@pytest.mark.parametrize(
    ("items", "says"),
    [
        ([{"b64_json": "!!!not-base64!!!"}], "not valid base64"),
        ([{"b64_json": ""}], "empty"),
        ([{"revised_prompt": "x"}], "neither 'b64_json' nor a 'url'"),
        ([], "no images"),
        (["x"], "not an object"),
    ],
)
def test_bad_image_answers_are_decode_errors(items: list[Any], says: str) -> None:
    rec = Recorder({("POST", "/v1/images/generations"): image_answer(*items)})
    with pytest.raises(ResponseDecodeError, match=says):
        provider_for(rec).generate_image("x", model="sd")


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"prompt": ""}, "prompt must be a non-empty"),
        ({"prompt": "   "}, "prompt must be a non-empty"),
        ({"model": ""}, "model must name"),
        ({"size": "big"}, "512x512"),
        ({"size": "0x10"}, "512x512"),
        ({"size": "99999x10"}, "too large"),
        ({"size": "9000x10"}, "too large"),
        ({"n": 0}, "n must be an integer from 1"),
        ({"n": 17}, "n must be an integer from 1"),
        ({"n": True}, "n must be an integer"),
        ({"seed": "1"}, "seed must be an integer"),
        ({"extra": {"prompt": "x"}}, "may not override 'prompt'"),
    ],
)
def test_bad_image_arguments_say_what_to_fix(kwargs: dict[str, Any], says: str) -> None:
    rec = Recorder({})
    args: dict[str, Any] = {"prompt": "fox", "model": "sd", **kwargs}
    with pytest.raises(ValueError, match=says):
        provider_for(rec).generate_image(**args)
    assert rec.requests == []  # nothing was sent


def test_image_server_400_is_an_api_error_with_its_reason() -> None:
    rec = Recorder(
        {
            ("POST", "/v1/images/generations"): httpx.Response(
                400,
                json={
                    "error": {"message": "unsupported size 7x7", "type": "invalid_request_error"}
                },
            )
        }
    )
    with pytest.raises(APIError, match="unsupported size 7x7"):
        provider_for(rec).generate_image("x", model="sd")


SSE = (
    'event:message\ndata:{"type":"modelStatus","data":"[{\\"id\\":\\"qwen\\",\\"state\\":'
    '\\"ready\\"}]"}\n\n'
    'event:message\ndata:{"type":"logData","data":"{\\"source\\":\\"proxy\\",\\"data\\":'
    '\\"hi\\"}"}\n\n'
)


def test_events_stream_typed_events_with_the_key() -> None:
    rec = Recorder(
        {
            ("GET", "/api/events"): httpx.Response(
                200, headers={"content-type": "text/event-stream"}, content=SSE.encode()
            )
        }
    )
    events = list(provider_for(rec).events())
    assert isinstance(events[0], ModelStatus) and events[0].state_of("qwen") == "ready"
    assert rec.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_events_401_raises_authentication_error() -> None:
    rec = Recorder({("GET", "/api/events"): envelope_error(401, "unauthorized")})
    with pytest.raises(AuthenticationError):
        list(provider_for(rec).events())


async def test_async_twins_share_the_same_logic() -> None:
    png = tiny_png()
    rec = Recorder(
        {
            ("GET", "/v1/models"): httpx.Response(200, json=MODELS_BODY),
            ("GET", "/running"): httpx.Response(200, json={"running": []}),
            ("GET", "/upstream/qwen/health"): httpx.Response(200, json={"status": "ok"}),
            ("GET", "/upstream/broken/health"): legacy_error(
                500, "unspecific error: upstream command exited prematurely"
            ),
            ("POST", "/api/models/unload/qwen"): httpx.Response(200, text="OK"),
            ("GET", "/unload"): httpx.Response(200, text="OK"),
            ("GET", "/health"): httpx.Response(200, text="OK"),
            ("GET", "/api/version"): httpx.Response(200, json={"version": "v250"}),
            ("POST", "/v1/images/generations"): image_answer(
                {"b64_json": base64.b64encode(png).decode()}
            ),
            ("GET", "/api/events"): httpx.Response(200, content=SSE.encode()),
        }
    )
    provider = provider_for(rec)
    assert [m.id for m in await provider.alist_models()] == ["qwen", "peer1/llama"]
    assert await provider.arunning() == []
    await provider.aload("qwen")
    with pytest.raises(ModelLoadError):
        await provider.aload("broken")
    await provider.aunload("qwen")
    await provider.aunload()
    assert await provider.ahealth() is True
    assert (await provider.aversion()).version == "v250"
    assert (await provider.agenerate_image("fox", model="sd"))[0].data == png
    events = [e async for e in provider.aevents()]
    assert isinstance(events[0], ModelStatus)
    assert (await provider.aget_model("coder")).id == "qwen"
    await provider.aclose()


def test_no_attribute_of_a_provider_shows_its_key_in_a_repr() -> None:
    provider = LlamaSwapProvider(f"llama-swap://{KEY}@127.0.0.1:1")
    shown = {name: repr(value) for name, value in vars(provider).items()}
    assert shown  # the provider holds state a debugger would list
    assert [name for name, text in shown.items() if KEY in text] == []
    assert KEY not in repr(provider)
