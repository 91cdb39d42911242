"""Profiles, props, metrics, hardware, cancel and capabilities on the wire (MockTransport).

Bodies under tests/data/llama_swap/ were captured from the real llama-swap v250 binary on
the rig (``performance`` on, the rig's two profiles, ``coding`` active for the listing).
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from llamaswap import (
    APIError,
    LlamaSwapProvider,
    NotFoundError,
    ResponseDecodeError,
    UnsupportedFeatureError,
    parse_prometheus,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "llama_swap"
KEY = "sk-mgmt-unit-key"
GO_404 = "404 page not found\n"


def data(name: str) -> Any:
    text = (DATA / name).read_text()
    return json.loads(text) if name.endswith(".json") else text


class Routes:
    """Answers by (method, raw path with query); records every request."""

    def __init__(self, routes: dict[tuple[str, str], httpx.Response]) -> None:
        self.routes = routes
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.routes.get((request.method, request.url.raw_path.decode()))
        if answer is None:
            return httpx.Response(404, text=GO_404)
        # a fresh copy each time: one response object cannot serve sync and async clients
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)


def provider(routes: Routes) -> LlamaSwapProvider:
    return LlamaSwapProvider(
        f"llama-swap://{KEY}@127.0.0.1:18080",
        http_client=httpx.Client(transport=httpx.MockTransport(routes)),
        async_http_client=httpx.AsyncClient(transport=httpx.MockTransport(routes)),
    )


def legacy(status: int, message: str) -> httpx.Response:
    return httpx.Response(status, json={"error": message, "src": "llama-swap"})


def envelope(status: int, message: str, code: str) -> httpx.Response:
    body = {"message": message, "type": "invalid_request_error", "param": None, "code": code}
    return httpx.Response(status, json={"src": "llama-swap", "error": body})


PROFILES_BODY = {
    "active": None,
    "profiles": [
        {"id": "coding", "description": "pins 'assistant' to qwen", "pins": {"assistant": "qwen"}},
        {"id": "quiet", "description": "", "pins": {"assistant": ""}},
    ],
}


# -- profiles ---------------------------------------------------------------------------


def test_profiles_parses_active_and_pins() -> None:
    routes = Routes({("GET", "/api/profiles"): httpx.Response(200, json=PROFILES_BODY)})
    got = provider(routes).profiles()
    assert got.active is None and got.names == ("coding", "quiet")
    coding = got.get("coding")
    assert coding is not None and dict(coding.pins) == {"assistant": "qwen"}
    assert got.get("quiet") is not None and got.get("nope") is None
    assert routes.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_set_profile_sends_name_and_returns_active() -> None:
    routes = Routes(
        {("PUT", "/api/profiles/active"): httpx.Response(200, json={"active": "coding"})}
    )
    assert provider(routes).set_profile("coding") == "coding"
    assert json.loads(routes.requests[0].content) == {"name": "coding"}


def test_set_profile_none_sends_json_null() -> None:
    routes = Routes({("PUT", "/api/profiles/active"): httpx.Response(200, json={"active": None})})
    assert provider(routes).set_profile(None) is None
    assert json.loads(routes.requests[0].content) == {"name": None}


@pytest.mark.parametrize(
    "answer",
    [
        legacy(404, 'profile "nope" not found'),
        envelope(404, 'profile "nope" not found', "not_found"),
    ],
)
def test_unknown_profile_lists_the_profiles(answer: httpx.Response) -> None:
    routes = Routes(
        {
            ("PUT", "/api/profiles/active"): answer,
            ("GET", "/api/profiles"): httpx.Response(200, json=PROFILES_BODY),
        }
    )
    with pytest.raises(NotFoundError, match=r"no profile 'nope'.*it has: coding, quiet") as caught:
        provider(routes).set_profile("nope")
    assert caught.value.available == ("coding", "quiet")


@pytest.mark.parametrize("bad", ["", 3])
def test_set_profile_refuses_bad_names_before_sending(bad: Any) -> None:
    routes = Routes({})
    with pytest.raises(ValueError, match=r"non-empty string.*or None"):
        provider(routes).set_profile(bad)
    assert routes.requests == []


def test_profiles_on_an_older_llama_swap_names_v241() -> None:
    with pytest.raises(UnsupportedFeatureError, match=r"GET /api/profiles.*v241") as caught:
        provider(Routes({})).profiles()
    assert caught.value.since == "v241"
    with pytest.raises(UnsupportedFeatureError, match=r"PUT /api/profiles/active.*v241"):
        provider(Routes({})).set_profile("coding")


# -- props ------------------------------------------------------------------------------


def test_props_asks_with_the_model_in_the_query_and_types_the_answer() -> None:
    routes = Routes(
        {
            ("GET", "/props?model=qwen%2Fcoder"): httpx.Response(
                200, json=data("props-v250-qwen.json")
            )
        }
    )
    props = provider(routes).props("qwen/coder")
    assert (props.model, props.context_size, props.total_slots) == ("qwen/coder", 2048, 2)
    assert props.chat_template.startswith("{%- if tools %}")
    assert props.chat_template_caps["supports_tool_calls"] is True
    assert dict(props.modalities) == {"vision": False, "audio": False}
    assert (props.build_info, props.eos_token) == ("b0-unknown", "<|im_end|>")
    assert props.raw["endpoint_props"] is True


def test_props_from_a_server_without_props_is_not_found_on_that_model() -> None:
    # llama-swap's own Go fake-model answers a path it lacks with Go's bare 404; the probe
    # without a model gets llama-swap's own answer, so the route exists in llama-swap.
    routes = Routes(
        {
            ("GET", "/props?model=fake-model"): httpx.Response(404, text=GO_404),
            ("GET", "/props"): legacy(404, "no model id could be identified"),
        }
    )
    with pytest.raises(NotFoundError, match="'fake-model' exists, but its server has no route"):
        provider(routes).props("fake-model")
    assert [str(r.url) for r in routes.requests] == [
        "http://127.0.0.1:18080/props?model=fake-model",
        "http://127.0.0.1:18080/props",
    ]


def test_props_on_llama_swap_before_v234_is_unsupported() -> None:
    with pytest.raises(UnsupportedFeatureError, match=r"GET /props.*v234"):
        provider(Routes({})).props("qwen")


# -- metrics ----------------------------------------------------------------------------


def test_metrics_parses_the_real_v250_scrape() -> None:
    text = data("metrics-v250.prom")
    routes = Routes({("GET", "/metrics"): httpx.Response(200, text=text)})
    metrics = provider(routes).metrics()
    assert metrics.types["llamaswap_network_bytes_total"] == "counter"
    assert metrics.help["llamaswap_memory_total_bytes"] == "Total memory in bytes"
    assert metrics.value("llamaswap_memory_total_bytes") == 25275924480
    assert metrics.value("llamaswap_load_average", interval="5m") == 2.27
    assert [s.labels["core"] for s in metrics.get("llamaswap_cpu_util_percent")] == ["0", "1"]
    eth = metrics.get("llamaswap_network_bytes_total", interface="eth0", direction="recv")
    assert [s.value for s in eth] == [3412256277]
    assert "llamaswap_swap_used_bytes" in metrics.names
    assert len(metrics.samples) == text.count("\nllamaswap_") + text.startswith("llamaswap_")


def test_metrics_value_refuses_to_guess_between_samples() -> None:
    metrics = parse_prometheus(data("metrics-v250.prom"))
    with pytest.raises(ValueError, match=r"2 samples of 'llamaswap_cpu_util_percent'.*core"):
        metrics.value("llamaswap_cpu_util_percent")
    assert metrics.value("llamaswap_gpu_util_percent") is None


def test_metrics_before_the_first_sample_is_empty() -> None:
    routes = Routes({("GET", "/metrics"): httpx.Response(200, text="")})
    assert provider(routes).metrics().samples == ()


def test_prometheus_gpu_labels_escapes_and_special_values() -> None:
    # The GPU lines as llama-swap's writeGpuMetrics formats them (sanitizeLabel escapes).
    text = (
        "# HELP llamaswap_gpu_util_percent GPU utilization percent (0-100)\n"
        "# TYPE llamaswap_gpu_util_percent gauge\n"
        'llamaswap_gpu_util_percent{id="0",name="RTX \\"4090\\" \\\\ A\\nB",uuid="GPU-1"} 42.5\n'
        "other_metric NaN\n"
        'other_inf{a="x"} +Inf 1700000000000\n'
    )
    metrics = parse_prometheus(text)
    gpu = metrics.get("llamaswap_gpu_util_percent", id="0")[0]
    assert dict(gpu.labels) == {"id": "0", "name": 'RTX "4090" \\ A\nB', "uuid": "GPU-1"}
    assert gpu.value == 42.5
    nan = metrics.value("other_metric")
    assert nan is not None and math.isnan(nan)
    inf = metrics.get("other_inf")[0]
    assert inf.value == math.inf and inf.timestamp_ms == 1700000000000


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("bad-name 1", "bad metric name"),
        ('m{a="x} 1', "unclosed"),
        ("m", "no value"),
        ("m 1 2 3", "value"),
    ],
)
def test_prometheus_bad_line_names_line_number(line: str, why: str) -> None:
    with pytest.raises(ValueError, match=f"line 2 .*{why}"):
        parse_prometheus(f"ok 1\n{line}\n")


def test_metrics_garbage_is_a_decode_error() -> None:
    routes = Routes({("GET", "/metrics"): httpx.Response(200, text="<html>oops</html>")})
    with pytest.raises(ResponseDecodeError, match="not return Prometheus text"):
        provider(routes).metrics()


def test_metrics_with_monitor_off_says_which_setting() -> None:
    off = httpx.Response(503, text="# performance monitor not available\n")
    with pytest.raises(APIError, match=re.escape("performance: {disabled: true}")) as caught:
        provider(Routes({("GET", "/metrics"): off})).metrics()
    assert caught.value.status_code == 503


def test_metrics_before_v212_is_unsupported() -> None:
    with pytest.raises(UnsupportedFeatureError, match=r"GET /metrics.*v212"):
        provider(Routes({})).metrics()


# -- hardware ---------------------------------------------------------------------------


def test_hardware_parses_the_real_v250_snapshot() -> None:
    routes = Routes(
        {("GET", "/api/hardware"): httpx.Response(200, json=data("hardware-v250.json"))}
    )
    hw = provider(routes).hardware()
    assert (hw.schema_version, hw.architecture, hw.os_family) == (1, "x86_64", "linux")
    assert (hw.environment, hw.logical_threads, hw.memory_bytes) == ("container", 2, 25769402368)
    assert hw.accelerators == () and hw.raw["capture"]["scope"] == "inference_host"


def test_hardware_accelerators_are_typed() -> None:
    body = dict(data("hardware-v250.json"))
    body["accelerators"] = [
        {
            "index": 0,
            "kind": "gpu",
            "vendor": "NVIDIA",
            "model": "RTX 4090",
            "architecture": "Ada Lovelace",
            "memory": {"kind": "dedicated", "capacity_bytes": 25757220864},
            "driver": {"name": "nvidia", "version": "550.54"},
            "power_limit_watts": 450.0,
        }
    ]
    hw = provider(Routes({("GET", "/api/hardware"): httpx.Response(200, json=body)})).hardware()
    (gpu,) = hw.accelerators
    assert (gpu.vendor, gpu.model, gpu.memory_bytes, gpu.driver_version) == (
        "NVIDIA",
        "RTX 4090",
        25757220864,
        "550.54",
    )


def test_hardware_unavailable_is_a_clear_503() -> None:
    routes = Routes({("GET", "/api/hardware"): legacy(503, "hardware detection unavailable")})
    with pytest.raises(APIError, match=r"could not detect.*hardware detection unavailable"):
        provider(routes).hardware()


def test_hardware_before_v247_is_unsupported() -> None:
    with pytest.raises(UnsupportedFeatureError, match=r"GET /api/hardware.*v247"):
        provider(Routes({})).hardware()


# -- cancel -----------------------------------------------------------------------------


def test_cancel_posts_to_the_id() -> None:
    routes = Routes({("POST", "/api/inflight/7/cancel"): httpx.Response(200, json={"msg": "ok"})})
    assert provider(routes).cancel(7) is None
    assert routes.requests[0].method == "POST"


@pytest.mark.parametrize(
    "answer",
    [
        legacy(404, "inflight request not found"),
        envelope(404, "inflight request not found", "not_found"),
    ],
)
def test_cancel_of_a_finished_request_is_not_found(answer: httpx.Response) -> None:
    routes = Routes({("POST", "/api/inflight/9/cancel"): answer})
    with pytest.raises(NotFoundError, match=r"no in-flight request '9'.*finished"):
        provider(routes).cancel("9")


@pytest.mark.parametrize(
    ("bad", "error"), [("", ValueError), (" ", ValueError), (True, TypeError), (1.5, TypeError)]
)
def test_cancel_refuses_bad_ids_before_sending(bad: Any, error: type[Exception]) -> None:
    routes = Routes({})
    with pytest.raises(error, match="inflight_id"):
        provider(routes).cancel(bad)
    assert routes.requests == []


def test_cancel_before_v235_is_unsupported() -> None:
    with pytest.raises(UnsupportedFeatureError, match=r"POST /api/inflight/\{id\}/cancel.*v235"):
        provider(Routes({})).cancel(1)


# -- capabilities -----------------------------------------------------------------------

RERANKER = {
    "id": "bge-rerank",
    "object": "model",
    "capabilities": {"reranker": True},
    "context_length": 512,
    "meta": {"llamaswap": {"type": "model"}, "n_ctx": 512},
    "status": {"value": "unloaded"},
}


def listing() -> dict[str, Any]:
    body = data("models-v250-profile-coding.json")
    body["data"].append(RERANKER)
    return dict(body)


def test_model_info_carries_architecture_capabilities_and_parameters() -> None:
    routes = Routes({("GET", "/v1/models"): httpx.Response(200, json=listing())})
    models = {m.id: m for m in provider(routes).list_models()}
    qwen, sd = models["qwen"], models["sd"]
    assert qwen.input_modalities == ("text",) and qwen.output_modalities == ("text",)
    assert qwen.architecture["modality"] == "text->text"
    assert qwen.supported_parameters == ("tools", "tool_choice")
    assert qwen.has("function_calling") and qwen.context_length == 2048
    assert sd.has("image_generation") and not sd.has("function_calling")
    assert sd.output_modalities == ("image",) and sd.supported_parameters == ()
    assert models["assistant"].type == "profile" and models["assistant"].capabilities == {}


def test_models_with_filters_by_capability_sync_and_async() -> None:
    routes = Routes({("GET", "/v1/models"): httpx.Response(200, json=listing())})
    p = provider(routes)
    assert [m.id for m in p.models_with("reranker")] == ["bge-rerank"]
    assert [m.id for m in p.models_with("function_calling")] == ["qwen"]
    assert p.models_with("audio_speech") == []
    assert [m.id for m in asyncio.run(p.amodels_with("image_generation"))] == ["sd"]


def test_models_with_a_typo_lists_the_capabilities() -> None:
    routes = Routes({("GET", "/v1/models"): httpx.Response(200, json=listing())})
    with pytest.raises(ValueError, match=r"no capability 'rerank'.*reranker"):
        provider(routes).models_with("rerank")


def test_async_twins_send_the_same_requests() -> None:
    routes = Routes(
        {
            ("GET", "/api/profiles"): httpx.Response(200, json=PROFILES_BODY),
            ("PUT", "/api/profiles/active"): httpx.Response(200, json={"active": "coding"}),
            ("GET", "/props?model=qwen"): httpx.Response(200, json=data("props-v250-qwen.json")),
            ("GET", "/metrics"): httpx.Response(200, text=data("metrics-v250.prom")),
            ("GET", "/api/hardware"): httpx.Response(200, json=data("hardware-v250.json")),
            ("POST", "/api/inflight/3/cancel"): httpx.Response(200, json={"msg": "ok"}),
        }
    )
    p = provider(routes)

    async def main() -> None:
        assert (await p.aprofiles()).names == ("coding", "quiet")
        assert await p.aset_profile("coding") == "coding"
        assert (await p.aprops("qwen")).context_size == 2048
        assert (await p.ametrics()).value("llamaswap_swap_total_bytes") == 0
        assert (await p.ahardware()).architecture == "x86_64"
        assert await p.acancel(3) is None

    asyncio.run(main())
    assert [(r.method, r.url.raw_path.decode()) for r in routes.requests] == [
        ("GET", "/api/profiles"),
        ("PUT", "/api/profiles/active"),
        ("GET", "/props?model=qwen"),
        ("GET", "/metrics"),
        ("GET", "/api/hardware"),
        ("POST", "/api/inflight/3/cancel"),
    ]


@pytest.mark.parametrize(
    ("route", "call", "what"),
    [
        (("GET", "/api/profiles"), lambda p: p.profiles(), "GET /api/profiles"),
        (("PUT", "/api/profiles/active"), lambda p: p.set_profile("x"), "profile API"),
        (("GET", "/api/hardware"), lambda p: p.hardware(), "GET /api/hardware"),
        (("GET", "/props?model=qwen"), lambda p: p.props("qwen"), "GET /props"),
    ],
)
def test_bodies_without_their_shape_are_decode_errors(
    route: tuple[str, str], call: Any, what: str
) -> None:
    routes = Routes({route: httpx.Response(200, json=["not", "an", "object"])})
    with pytest.raises(ResponseDecodeError, match=what):
        call(provider(routes))
