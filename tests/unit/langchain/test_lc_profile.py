"""``ChatLlamaSwap.profile`` from llama-swap's ``/v1/models`` capabilities, offline.

The listing is the real v250 answer captured on the rig (tests/data/llama_swap/).
"""

from __future__ import annotations

import itertools
import json
import warnings
from pathlib import Path
from typing import Any

import httpx
import pytest

from langchain_llamaswap import ChatLlamaSwap
from llamaswap import shared_provider

LISTING = json.loads(
    (
        Path(__file__).resolve().parents[2]
        / "data"
        / "llama_swap"
        / "models-v250-profile-coding.json"
    ).read_text()
)
_HOSTS = itertools.count()


class Swap:
    """A shared provider for a fresh host whose pool answers from a MockTransport."""

    def __init__(self, answer: Any = LISTING) -> None:
        self.dsn = f"llama-swap://lc-profile-{next(_HOSTS)}.invalid:8080"
        self.paths: list[str] = []
        self.answer = answer
        provider = shared_provider(self.dsn)
        provider._client = httpx.Client(transport=httpx.MockTransport(self.handle))

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        if isinstance(self.answer, Exception):
            raise self.answer
        return httpx.Response(200, json=self.answer)


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLAMASWAP_DSN", raising=False)
    monkeypatch.delenv("LLAMASWAP_API_KEY", raising=False)


def test_profile_of_a_tool_model_comes_from_its_listing_without_loading() -> None:
    swap = Swap()
    profile = ChatLlamaSwap(model="qwen", dsn=swap.dsn).profile
    assert profile is not None
    assert profile["max_input_tokens"] == 2048
    assert (profile["tool_calling"], profile["tool_choice"]) == (True, True)
    assert (profile["text_inputs"], profile["image_inputs"], profile["audio_inputs"]) == (
        True,
        False,
        False,
    )
    assert profile["text_outputs"] and profile["structured_output"]
    assert profile["name"] == "Qwen2.5 Coder 0.5B"
    assert swap.paths == ["/v1/models"]  # one listing, no /upstream load, no chat


def test_profile_by_alias_finds_the_same_record() -> None:
    profile = ChatLlamaSwap(model="coder", dsn=Swap().dsn).profile
    assert profile is not None and profile["max_input_tokens"] == 2048


def test_profile_of_an_image_model_says_it_writes_images_not_text() -> None:
    profile = ChatLlamaSwap(model="sd", dsn=Swap().dsn).profile
    assert profile is not None
    assert (profile["image_outputs"], profile["text_outputs"]) == (True, False)
    assert (profile["structured_output"], profile["tool_calling"]) == (False, False)


def test_vision_capability_sets_image_inputs() -> None:
    listing = {
        "data": [
            {
                "id": "vlm",
                "architecture": {
                    "input_modalities": ["text", "image"],
                    "output_modalities": ["text"],
                },
                "capabilities": {"vision": True},
                "context_length": 8192,
                "status": {"value": "unloaded"},
            }
        ]
    }
    profile = ChatLlamaSwap(model="vlm", dsn=Swap(listing).dsn).profile
    assert profile is not None
    assert (profile["image_inputs"], profile["tool_calling"], profile["max_input_tokens"]) == (
        True,
        False,
        8192,
    )


def test_model_without_capabilities_config_gets_what_the_class_knows() -> None:
    # fake-model has no capabilities block: nothing is known of its tools or context.
    profile = ChatLlamaSwap(model="fake-model", dsn=Swap().dsn).profile
    assert profile == {
        "name": "llama-swap fake-model",
        "text_inputs": True,
        "text_outputs": True,
        "structured_output": True,
        "temperature": True,
    }


def test_unlisted_model_gets_what_the_class_knows() -> None:
    profile = ChatLlamaSwap(model="not-listed", dsn=Swap().dsn).profile
    assert profile == {
        "text_inputs": True,
        "text_outputs": True,
        "structured_output": True,
        "temperature": True,
    }


def test_unreachable_llama_swap_still_builds_with_what_the_class_knows() -> None:
    swap = Swap(httpx.ConnectError("connection refused"))
    profile = ChatLlamaSwap(model="qwen", dsn=swap.dsn).profile
    assert profile is not None and "max_input_tokens" not in profile
    assert profile["structured_output"] is True


def test_a_given_profile_is_kept_and_nothing_is_asked() -> None:
    swap = Swap()
    model = ChatLlamaSwap(model="qwen", dsn=swap.dsn, profile={"max_input_tokens": 99})
    assert model.profile == {"max_input_tokens": 99}
    assert swap.paths == []


def test_profile_keys_are_all_known_to_langchain_core() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # langchain-core warns on unrecognised profile keys
        for model in ("qwen", "sd", "fake-model"):
            ChatLlamaSwap(model=model, dsn=Swap().dsn)


def test_a_model_built_per_request_lists_once_per_interval() -> None:
    swap = Swap()
    for _ in range(20):  # a service building one chat model per request
        assert ChatLlamaSwap(model="qwen", dsn=swap.dsn).profile is not None
    assert swap.paths == ["/v1/models"]


def test_an_unreachable_llama_swap_is_asked_again_only_after_the_interval(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import llamaswap.provider as provider_module

    now = [1000.0]
    monkeypatch.setattr(provider_module.time, "monotonic", lambda: now[0])
    swap = Swap(httpx.ConnectError("connection refused"))
    for _ in range(3):
        ChatLlamaSwap(model="qwen", dsn=swap.dsn)
    assert swap.paths == ["/v1/models"]  # the failure is remembered, not retried per build
    swap.answer = LISTING
    now[0] += provider_module.LISTING_MAX_AGE
    profile = ChatLlamaSwap(model="qwen", dsn=swap.dsn).profile
    assert profile is not None and profile["max_input_tokens"] == 2048
    assert swap.paths == ["/v1/models", "/v1/models"]
