"""``LlamaSwap.metadata`` from llama-swap's ``/v1/models`` capabilities (issue 13), offline."""

from __future__ import annotations

import httpx
from li_fakes import fake_swap, models_body

from llama_index_llamaswap import LlamaSwap

TOOLS = {
    "architecture": {"input_modalities": ["text"], "output_modalities": ["text"]},
    "capabilities": {"function_calling": True},
    "supported_parameters": ["tools", "tool_choice"],
    "context_length": 4096,
}
NO_TOOLS = {
    "architecture": {"input_modalities": ["text"], "output_modalities": ["text"]},
    "context_length": 1024,
}


def test_declared_tools_make_a_function_calling_model_with_its_context() -> None:
    swap = fake_swap()
    swap.models = models_body(**TOOLS)
    meta = LlamaSwap(model="qwen", dsn=swap.dsn).metadata
    assert (meta.is_function_calling_model, meta.context_window) == (True, 4096)
    assert swap.paths() == ["/v1/models"]  # one lookup for both, nothing loaded


def test_capabilities_without_tools_is_not_a_function_calling_model() -> None:
    swap = fake_swap()
    swap.models = models_body(**NO_TOOLS)
    llm = LlamaSwap(model="coder", dsn=swap.dsn)
    assert (llm.metadata.is_function_calling_model, llm.metadata.context_window) == (False, 1024)
    assert swap.paths() == ["/v1/models"]


def test_no_capabilities_config_keeps_function_calling_on() -> None:
    swap = fake_swap()
    swap.models = models_body(context_length=2048)
    assert LlamaSwap(model="qwen", dsn=swap.dsn).metadata.is_function_calling_model is True


def test_the_callers_choice_wins_over_the_capabilities() -> None:
    swap = fake_swap()
    swap.models = models_body(**NO_TOOLS)
    llm = LlamaSwap(model="qwen", dsn=swap.dsn, is_function_calling_model=True)
    assert llm.metadata.is_function_calling_model is True
    swap.models = models_body(**TOOLS)
    off = LlamaSwap(model="qwen", dsn=swap.dsn, is_function_calling_model=False)
    assert off.metadata.is_function_calling_model is False


def test_failed_lookup_keeps_function_calling_on() -> None:
    swap = fake_swap()
    swap.replies["/v1/models"] = lambda request, body: httpx.Response(500, text="boom")
    assert LlamaSwap(model="qwen", dsn=swap.dsn).metadata.is_function_calling_model is True
