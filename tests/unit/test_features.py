"""The one rule for "this llama-swap is too old for that endpoint" (llamaswap.features)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from llamaswap import ENDPOINT_SINCE, UnsupportedFeatureError, check_endpoint, endpoint_since
from llamaswap.features import require_endpoint, route_missing, unsupported_endpoint

KEY = "sk-feature-secret"
GO_404 = "404 page not found\n"


def answer(status: int, text: str, path: str = "/api/profiles") -> httpx.Response:
    request = httpx.Request("GET", f"http://127.0.0.1:1/{path.lstrip('/')}")
    return httpx.Response(status, text=text, request=request)


def test_go_404_names_endpoint_and_release_that_added_it() -> None:
    with pytest.raises(UnsupportedFeatureError) as caught:
        check_endpoint("GET /api/profiles", answer(404, "404 page not found\n"))
    err = caught.value
    assert (err.endpoint, err.since, err.status_code) == ("GET /api/profiles", "v241", 404)
    assert "GET /api/profiles" in err.message and "v241" in err.message
    assert "upgrade llama-swap to v241 or newer" in err.message
    assert err.url == "http://127.0.0.1:1/api/profiles"


def test_go_405_on_a_path_with_another_method_is_a_missing_endpoint() -> None:
    response = answer(405, "Method Not Allowed\n", "/v1/audio/voices")
    with pytest.raises(UnsupportedFeatureError, match="v188"):
        check_endpoint("GET /v1/audio/voices", response)


@pytest.mark.parametrize(
    ("status", "text"),
    [
        (200, "{}"),
        (404, '{"error":{"code":404,"message":"File Not Found","type":"not_found_error"}}'),
        (404, '{"error":"model not found"}'),
        (405, '{"error":"method not allowed by the model server"}'),
        (500, "404 page not found"),
    ],
)
def test_other_answers_are_left_to_the_caller(status: int, text: str) -> None:
    response = answer(status, text)
    assert route_missing(response) is False
    check_endpoint("GET /api/profiles", response)  # does not raise


def test_unknown_endpoint_still_raises_without_a_release() -> None:
    with pytest.raises(UnsupportedFeatureError) as caught:
        check_endpoint("GET /api/something-new", answer(404, "404 page not found"))
    assert caught.value.since is None
    assert "GET /api/something-new" in caught.value.message
    assert "upgrade llama-swap" in caught.value.message


def test_key_is_scrubbed_from_the_kept_body() -> None:
    err = unsupported_endpoint("GET /metrics", answer(404, f"404 page not found {KEY}"), secret=KEY)
    assert KEY not in err.body and KEY not in err.message


def test_table_pins_the_releases_read_from_llama_swap_history() -> None:
    # First tag containing the commit that registered each route (llama-swap git history).
    assert {
        e: endpoint_since(e)
        for e in (
            "POST /v1/rerank",
            "POST /v1/images/edits",
            "POST /v1/audio/transcriptions",
            "POST /v1/audio/speech",
            "GET /v1/audio/voices",
            "GET /props",
            "GET /metrics",
            "GET /api/hardware",
            "POST /api/inflight/{id}/cancel",
            "PUT /api/profiles/active",
        )
    } == {
        "POST /v1/rerank": "v78",
        "POST /v1/images/edits": "v181",
        "POST /v1/audio/transcriptions": "v94",
        "POST /v1/audio/speech": "v81",
        "GET /v1/audio/voices": "v188",
        "GET /props": "v234",
        "GET /metrics": "v212",
        "GET /api/hardware": "v247",
        "POST /api/inflight/{id}/cancel": "v235",
        "PUT /api/profiles/active": "v241",
    }
    with pytest.raises(TypeError):
        ENDPOINT_SINCE["GET /new"] = "v1"  # type: ignore[index]


def drive(op: Any, answers: list[httpx.Response]) -> list[httpx.Request]:
    """Run a require_endpoint generator, answering each probe in turn; return the probes."""
    sent: list[httpx.Request] = []
    try:
        call = next(op)
        while True:
            sent.append(httpx.Request(call.method, call.url))
            reply = answers.pop(0)
            reply.request = sent[-1]
            call = op.send(reply)
    except StopIteration:
        return sent


def post(status: int, text: str, path: str = "/v1/rerank") -> httpx.Response:
    request = httpx.Request("POST", f"http://127.0.0.1:1{path}?x=1")
    return httpx.Response(status, text=text, request=request)


def test_require_endpoint_on_own_route_raises_without_probing() -> None:
    with pytest.raises(UnsupportedFeatureError, match="v241"):
        drive(require_endpoint("GET /api/profiles", answer(404, GO_404)), [])


def test_require_endpoint_probes_a_model_route_and_raises_when_llama_swap_lacks_it() -> None:
    op = require_endpoint("POST /v1/rerank", post(404, GO_404))
    with pytest.raises(UnsupportedFeatureError, match="v78") as caught:
        drive(op, [httpx.Response(404, text=GO_404)])
    assert caught.value.endpoint == "POST /v1/rerank"


def test_require_endpoint_probe_sends_same_method_and_path_without_model_or_body() -> None:
    op = require_endpoint("POST /v1/rerank", post(404, GO_404, "/prefix/v1/rerank"))
    no_model = '{"error":"no model id could be identified","src":"llama-swap"}'
    probes = drive(op, [httpx.Response(404, text=no_model)])  # route exists: no raise
    assert [(p.method, str(p.url), p.content) for p in probes] == [
        ("POST", "http://127.0.0.1:1/prefix/v1/rerank", b"")
    ]


def test_require_endpoint_leaves_other_answers_alone() -> None:
    assert drive(require_endpoint("POST /v1/rerank", post(200, "{}")), []) == []
    upstream_404 = post(404, '{"error":{"code":404,"message":"File Not Found"}}')
    assert drive(require_endpoint("POST /v1/rerank", upstream_404), []) == []
