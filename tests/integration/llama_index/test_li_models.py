"""LlamaSwap, LlamaSwapEmbedding and LlamaSwapImageToolSpec against the rig's llama-swap.

``qwen`` is the real Qwen2.5-Coder-0.5B on llama.cpp, ``embed`` real MiniLM, ``sd`` the PNG
test upstream and ``scripted`` the tool-calling test upstream (a 0.5B model does not call
tools reliably enough for a test that must pass every time). Tests are grouped by model so
the session swaps as little as possible; max_tokens stays small (two CPU cores).
"""

from __future__ import annotations

import asyncio
import io
import json
import math
from typing import Any

import openai
import pytest
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.base.llms.types import ChatMessage, ImageBlock, TextBlock, ThinkingBlock
from llama_index.core.tools import FunctionTool
from PIL import Image

from llama_index_llamaswap import (
    FALLBACK_CONTEXT_WINDOW,
    LlamaSwap,
    LlamaSwapEmbedding,
    LlamaSwapImageToolSpec,
)
from llamaswap import LlamaSwapProvider, shared_provider
from llamaswap_rig.runner import Rig

CHAT, EMBED, IMAGE, SCRIPTED = "qwen", "embed", "sd", "scripted"
PONG = [ChatMessage(role="user", content="Reply with exactly one word: pong")]


def running(provider: LlamaSwapProvider) -> list[str]:
    return [r.model for r in provider.running()]


def qwen(dsn: str, **kwargs: Any) -> LlamaSwap:
    kwargs.setdefault("max_tokens", 12)
    kwargs.setdefault("temperature", 0.0)
    return LlamaSwap(model=CHAT, dsn=dsn, **kwargs)


# -- context window: read from /v1/models, nothing loaded -----------------------------------


def test_context_window_is_read_from_llama_swap_without_loading(dsn: str) -> None:
    provider = shared_provider(dsn)
    provider.unload()
    llm = LlamaSwap(model=CHAT, dsn=dsn)
    assert llm.provider is provider
    assert llm.metadata.context_window == 2048  # the rig declares capabilities.context 2048
    assert LlamaSwap(model="coder", dsn=dsn).metadata.context_window == 2048  # alias
    assert LlamaSwap(model=EMBED, dsn=dsn).metadata.context_window == 512
    no_ctx = LlamaSwap(model="fake-model", dsn=dsn)  # its record has no context_length
    assert no_ctx.metadata.context_window == FALLBACK_CONTEXT_WINDOW
    assert running(provider) == []  # reading metadata loaded nothing


# -- the real chat model --------------------------------------------------------------------


def test_chat_real_model(dsn: str) -> None:
    llm = qwen(dsn)
    response = llm.chat(PONG)
    assert "pong" in (response.message.content or "").lower()
    assert response.raw.model  # an OpenAI ChatCompletion came back through llama-swap
    assert 0 < response.additional_kwargs["completion_tokens"] <= 12
    assert running(llm.provider) == [CHAT]


def test_max_tokens_caps_the_real_generation(dsn: str) -> None:
    llm = qwen(dsn, max_tokens=4)
    response = llm.complete("Count from one to one hundred in words, separated by commas:")
    assert response.additional_kwargs["completion_tokens"] <= 4
    assert response.raw.choices[0].finish_reason == "length"


def test_complete_real_model(dsn: str) -> None:
    text = qwen(dsn, max_tokens=8).complete("What is 2 + 2? Answer with a digit only.").text
    assert "4" in text


def test_stream_chat_real_model(dsn: str) -> None:
    chunks = list(qwen(dsn, max_tokens=16).stream_chat(PONG))
    deltas = [c.delta for c in chunks if c.delta]
    assert len(deltas) >= 1
    assert "".join(deltas) == chunks[-1].message.content
    assert "pong" in "".join(deltas).lower()
    usage = [c.additional_kwargs for c in chunks if c.additional_kwargs.get("completion_tokens")]
    assert usage, "llama-server sent no usage chunk although include_usage was asked"


def test_stream_complete_real_model(dsn: str) -> None:
    chunks = list(qwen(dsn, max_tokens=8).stream_complete("Say pong."))
    assert chunks and chunks[-1].text == "".join(c.delta or "" for c in chunks)


async def test_astream_and_async_real_model(dsn: str) -> None:
    llm = qwen(dsn, max_tokens=16)
    stream = await llm.astream_chat(PONG)
    deltas = [c.delta async for c in stream if c.delta]
    assert "pong" in "".join(deltas).lower()
    stream_c = await llm.astream_complete("Say pong.")
    assert [c async for c in stream_c]
    assert "pong" in ((await llm.achat(PONG)).message.content or "").lower()
    assert (await llm.acomplete("Say pong.")).text


def test_async_across_event_loops(dsn: str) -> None:
    """Two asyncio.run calls on one LLM: the pooled async client must survive a new loop."""
    llm = qwen(dsn, max_tokens=4)
    first = asyncio.run(llm.acomplete("Say pong."))
    second = asyncio.run(llm.acomplete("Say pong."))
    assert first.text and second.text


# -- tool calls and wire facts on the scripted upstream -------------------------------------


def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


def test_predict_and_call_runs_the_tool(dsn: str) -> None:
    llm = LlamaSwap(model=SCRIPTED, dsn=dsn, max_tokens=32)
    output = llm.predict_and_call([FunctionTool.from_defaults(fn=multiply)], "Multiply 1 by 1")
    assert output.response == "1"  # the scripted upstream fills integers with 1
    assert output.sources[0].tool_name == "multiply"


def test_request_as_seen_behind_llama_swap(dsn: str) -> None:
    llm = LlamaSwap(model=SCRIPTED, dsn=dsn, max_tokens=7)
    echo = json.loads(llm.complete("__echo_request__").text)
    assert echo["path"] == "/v1/chat/completions"
    assert echo["body"]["model"] == SCRIPTED
    assert echo["body"]["max_tokens"] == 7
    assert "max_completion_tokens" not in echo["body"]


def test_reasoning_content_survives_the_proxy(dsn: str) -> None:
    llm = LlamaSwap(model=SCRIPTED, dsn=dsn)
    message = llm.chat([ChatMessage(role="user", content="__reason__")]).message
    assert [b.content for b in message.blocks if isinstance(b, ThinkingBlock)] == ["Let me think."]
    last = list(llm.stream_chat([ChatMessage(role="user", content="__reason__")]))[-1]
    thinking = [b.content for b in last.message.blocks if isinstance(b, ThinkingBlock)]
    assert thinking and "Let me think." in (thinking[0] or "")


def test_keyed_llama_swap_gets_the_bearer(keyed_rig: Rig) -> None:
    key = keyed_rig.api_key
    assert key
    llm = LlamaSwap(model=SCRIPTED, dsn=keyed_rig.dsn, max_tokens=5)
    assert key not in repr(llm) and key not in llm.to_json()
    echo = json.loads(llm.complete("__echo_request__").text)
    assert echo["body"]["max_tokens"] == 5
    assert llm.metadata.context_window == FALLBACK_CONTEXT_WINDOW  # scripted declares none
    bare = LlamaSwap(model=SCRIPTED, dsn=keyed_rig.dsn.replace(f"{key}@", ""))
    with pytest.raises(openai.AuthenticationError):
        bare.complete("hi")


@pytest.mark.filterwarnings("ignore::DeprecationWarning:inspect")
async def test_agent_uses_the_image_tool(dsn: str) -> None:
    tools: list[Any] = LlamaSwapImageToolSpec(model=IMAGE, dsn=dsn, size="64x64").to_tool_list()
    agent = FunctionAgent(tools=tools, llm=LlamaSwap(model=SCRIPTED, dsn=dsn, max_tokens=64))
    result: Any = await agent.run("a lighthouse at night")
    (call,) = result.tool_calls
    assert call.tool_name == "generate_image"
    assert call.tool_kwargs["prompt"] == "a lighthouse at night"
    images = [b for b in call.tool_output.blocks if isinstance(b, ImageBlock)]
    assert len(images) == 1 and images[0].image_mimetype == "image/png"
    assert "Tool result: Generated 1 image" in str(result)  # the summary reached the model


# -- images ---------------------------------------------------------------------------------


def test_image_tool_returns_png_blocks(dsn: str) -> None:
    spec = LlamaSwapImageToolSpec(model=IMAGE, dsn=dsn)
    blocks = spec.generate_image("a red square", size="96x64", n=2, seed=3)
    assert isinstance(blocks[0], TextBlock)
    images = [b for b in blocks if isinstance(b, ImageBlock)]
    assert len(images) == 2
    for block in images:
        assert block.image_mimetype == "image/png"
        data = block.resolve_image().read()
        assert data.startswith(b"\x89PNG")
        assert Image.open(io.BytesIO(data)).size == (96, 64)


async def test_image_tool_async_and_bad_arguments(dsn: str) -> None:
    (tool,) = LlamaSwapImageToolSpec(model=IMAGE, dsn=dsn).to_tool_list()
    output = await tool.acall(prompt="a blue circle", size="32x32")
    assert [type(b) for b in output.blocks] == [TextBlock, ImageBlock]
    with pytest.raises(ValueError, match="size must look like"):
        await tool.acall(prompt="x", size="big")


# -- embeddings -----------------------------------------------------------------------------


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def test_embeddings_real_model(dsn: str) -> None:
    embed = LlamaSwapEmbedding(model=EMBED, dsn=dsn, embed_batch_size=2)
    texts = ["A cat sleeps on the sofa.", "A kitten naps on the couch.", "Stock prices fell."]
    vectors = embed.get_text_embedding_batch(texts)
    assert [len(v) for v in vectors] == [384, 384, 384]
    query = embed.get_query_embedding("Where is the cat sleeping?")
    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2])
    assert cosine(query, vectors[0]) > cosine(query, vectors[2])
    assert running(embed.provider) == [EMBED]


async def test_embeddings_async_real_model(dsn: str) -> None:
    embed = LlamaSwapEmbedding(model=EMBED, dsn=dsn)
    single = await embed.aget_text_embedding("A cat sleeps on the sofa.")
    batch = await embed.aget_text_embedding_batch(["A cat sleeps on the sofa.", "Rain."])
    assert len(single) == 384 and len(batch) == 2
    assert cosine(single, batch[0]) > 0.999
