"""ChatLlamaSwap against the rig: llama-swap in front of real llama.cpp (Qwen2.5-Coder-0.5B).

The langchain-tests integration suite runs against the model ``qwen``. Its xfails carry the
reason measured on this 0.5B model. Wire facts (what llama-swap forwards) are proven with the
``scripted`` test upstream's ``__echo_request__``, which answers with the request it received.
"""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessageChunk
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_tests.integration_tests import ChatModelIntegrationTests

from langchain_llamaswap import ChatLlamaSwap

ECHO = "__echo_request__"


class TestChatLlamaSwapStandardIntegration(ChatModelIntegrationTests):
    _dsn: str = ""

    @pytest.fixture(autouse=True)
    def _use_rig(self, dsn: str) -> None:
        self._dsn = dsn

    @property
    def chat_model_class(self) -> type[ChatLlamaSwap]:
        return ChatLlamaSwap

    @property
    def chat_model_params(self) -> dict[str, Any]:
        # Greedy decoding keeps the 0.5B model's answers repeatable from run to run.
        return {"model": "qwen", "dsn": self._dsn, "max_tokens": 160, "temperature": 0, "seed": 0}

    @property
    def model_override_value(self) -> str:
        return "qwen-b"  # same weights, another llama-swap id: the override forces a swap

    @property
    def supports_json_mode(self) -> bool:
        return True  # llama-server turns response_format json_object into a JSON grammar

    @property
    def supports_image_inputs(self) -> bool:
        return False  # Qwen2.5-Coder-0.5B is text-only (no mmproj)

    @property
    def supports_image_urls(self) -> bool:
        return False

    @property
    def supports_image_tool_message(self) -> bool:
        return False

    @property
    def supports_pdf_inputs(self) -> bool:
        return False

    @property
    def supports_audio_inputs(self) -> bool:
        return False

    @property
    def supports_anthropic_inputs(self) -> bool:
        return False

    @property
    def returns_usage_metadata(self) -> bool:
        return True

    @property
    def has_tool_choice(self) -> bool:
        return True

    @property
    def structured_output_kwargs(self) -> dict[str, Any]:
        return {}  # the class default, method="json_schema"

    # xfails measured on the rig: Qwen2.5-Coder-0.5B-Instruct Q4_K_M on llama-server
    # (xllamacpp 2026.4.8929) behind llama-swap, greedy decoding (temperature 0), max_tokens
    # 160. Forced tool calls (tool_choice "required" with one tool, what ChatLlamaSwap sends
    # for a named or "any" choice) pass: test_tool_calling, test_tool_choice,
    # test_tool_calling_with_no_arguments, test_bind_runnables_as_tools,
    # test_unicode_tool_call_integration, and every structured-output case but the one below.
    # Sampled (temperature > 0) runs were flaky; greedy runs gave the same result 3 of 3.

    @pytest.mark.xfail(
        reason="with tool_choice left to the model ('auto'), Qwen2.5-Coder-0.5B answers the "
        "weather question in text: the first reply has no tool_call block (measured in "
        "every rig run), so the loop never reaches the tool step",
        raises=AssertionError,  # langchain-tests' check that the first reply calls the tool
        strict=True,
    )
    def test_agent_loop(self, model: BaseChatModel) -> None:
        super().test_agent_loop(model)

    @pytest.mark.xfail(
        reason="the json_schema grammar keeps the answer valid JSON, but with the optional "
        "'rating' field the 0.5B model keeps writing inside a string until max_tokens "
        "(measured: finish_reason 'length' at 160 tokens, openai LengthFinishReasonError, "
        "3 of 3 greedy runs)",
        raises=openai.LengthFinishReasonError,
        strict=True,
    )
    def test_structured_output_optional_param(self, model: BaseChatModel) -> None:
        super().test_structured_output_optional_param(model)


# -- wire-level proofs through llama-swap ----------------------------------------------------------


def echo(message: Any) -> dict[str, Any]:
    """The request the scripted upstream received behind llama-swap."""
    content = message.content if hasattr(message, "content") else message
    data: dict[str, Any] = json.loads(content)
    return data


def test_wire_keyed_request_carries_max_tokens_bearer_and_nothing_that_leaks(
    keyed_rig: Any, keyed_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "OPENAI_API_KEY": "sk-openai-leak",
        "OPENAI_ORG_ID": "org-leak",
        "OPENAI_PROJECT_ID": "proj-leak",
    }.items():
        monkeypatch.setenv(name, value)
    assert keyed_rig.api_key and keyed_rig.api_key in keyed_dsn
    model = ChatLlamaSwap(dsn=keyed_dsn, model="scripted", max_tokens=11)
    seen = echo(model.invoke(ECHO))
    assert seen["path"] == "/v1/chat/completions"
    assert seen["body"]["max_tokens"] == 11
    assert "max_completion_tokens" not in seen["body"]
    assert seen["body"]["model"] == "scripted"
    assert seen["headers"]["authorization"] == f"Bearer {keyed_rig.api_key}"
    wire = json.dumps(seen)
    assert "leak" not in wire
    assert "openai-organization" not in seen["headers"]
    # The key goes out only as the bearer: not in the body, not in any other header.
    others = {k: v for k, v in seen["headers"].items() if k != "authorization"}
    assert keyed_rig.api_key not in json.dumps(others) + json.dumps(seen["body"])


def test_wire_keyed_rig_rejects_a_missing_key(keyed_dsn: str) -> None:
    from openai import AuthenticationError

    bare = keyed_dsn.split("@", 1)[1]
    with pytest.raises(AuthenticationError):
        ChatLlamaSwap(dsn=f"llama-swap://{bare}", model="scripted").invoke("hi")


def test_wire_keyless_rig_gets_placeholder_bearer(dsn: str) -> None:
    seen = echo(ChatLlamaSwap(dsn=dsn, model="scripted").invoke(ECHO))
    assert seen["headers"]["authorization"].startswith("Bearer ")


def test_wire_stream_options_and_tool_choice_mapping(dsn: str) -> None:
    def get_weather(city: str) -> str:
        """Get the weather in a city."""
        return "sunny"

    def get_time(city: str) -> str:
        """Get the time in a city."""
        return "noon"

    model = ChatLlamaSwap(dsn=dsn, model="scripted", max_tokens=5)
    parts = list(model.stream(ECHO))
    full = parts[0]
    for part in parts[1:]:
        full += part
    seen = echo(full)
    assert seen["body"]["stream_options"] == {"include_usage": True}
    assert seen["body"]["max_tokens"] == 5
    bound = model.bind_tools([get_weather, get_time], tool_choice="get_time")
    seen = echo(bound.bind(tool_choice="none").invoke(ECHO))  # echo ignores tools on "none"
    assert seen["body"]["tool_choice"] == "none"
    ai = bound.invoke("what time is it in Paris?")
    assert ai.tool_calls and ai.tool_calls[0]["name"] == "get_time"


def test_reasoning_and_timings_survive_llama_swap(dsn: str) -> None:
    model = ChatLlamaSwap(dsn=dsn, model="scripted")
    message = model.invoke("__reason__")
    assert message.additional_kwargs["reasoning_content"] == "Let me think."
    assert "timings" in message.response_metadata
    assert message.response_metadata["model_name"] == "scripted"
    parts = list(model.stream("__reason__"))
    full = parts[0]
    for part in parts[1:]:
        full += part
    assert isinstance(full, AIMessageChunk)
    assert full.additional_kwargs["reasoning_content"].strip() == "Let me think."
    assert full.response_metadata["timings"]["predicted_n"] >= 1
    assert full.usage_metadata is not None


# -- the real model ---------------------------------------------------------------------


def test_max_tokens_bounds_real_generation(dsn: str) -> None:
    model = ChatLlamaSwap(dsn=dsn, model="qwen", max_tokens=4, temperature=0)
    message = model.invoke("Count from 1 to 100, separated by commas.")
    assert message.usage_metadata is not None
    assert message.usage_metadata["output_tokens"] <= 4
    assert message.response_metadata["finish_reason"] == "length"
    meta = message.response_metadata
    assert meta["model_name"] == "qwen"
    assert meta["timings"]["predicted_n"] <= 4
    assert meta["timings"]["prompt_n"] >= 1


def test_quickstart_chain_invoke_and_stream(dsn: str) -> None:
    model = ChatLlamaSwap(dsn=dsn, model="qwen", max_tokens=12, temperature=0)
    prompt = ChatPromptTemplate.from_messages([("human", "Name one {thing}. One word.")])
    chain = prompt | model | StrOutputParser()
    text = chain.invoke({"thing": "colour"})
    assert isinstance(text, str) and text.strip()
    pieces = list(chain.stream({"thing": "fruit"}))
    assert len(pieces) > 1 and "".join(pieces).strip()


def test_alias_answers_with_the_alias_name(dsn: str) -> None:
    message = ChatLlamaSwap(dsn=dsn, model="coder", max_tokens=3).invoke("hi")
    assert message.response_metadata["model_name"] == "coder"
    assert message.response_metadata["upstream_model_name"].endswith(".gguf")


def test_provider_manages_what_the_chat_model_uses(dsn: str) -> None:
    model: BaseChatModel = ChatLlamaSwap(dsn=dsn, model="qwen", max_tokens=2)
    assert isinstance(model, ChatLlamaSwap)
    model.invoke("hi")
    assert "qwen" in [m.model for m in model.provider.running()]
    assert "qwen" in [m.id for m in model.provider.list_models()]
