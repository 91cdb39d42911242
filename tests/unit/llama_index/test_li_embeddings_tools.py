"""LlamaSwapEmbedding and LlamaSwapImageToolSpec offline, plus the llama_index.* import paths."""

from __future__ import annotations

import base64
import importlib
import json
from typing import Any

import httpx
import pytest
from li_fakes import KEY, FakeSwap, fake_swap, tiny_png
from llama_index.core import Settings
from llama_index.core.base.llms.types import ChatMessage, ImageBlock, TextBlock
from llama_index.core.tools import FunctionTool, ToolOutput
from llama_index.llms.openai.utils import to_openai_message_dicts

from llama_index_llamaswap import (
    LlamaSwap,
    LlamaSwapEmbedding,
    LlamaSwapImageToolSpec,
    to_image_block,
    to_image_blocks,
)
from llamaswap import GeneratedImage, ImageResult, ResponseDecodeError
from llamaswap.images import image_from_bytes


@pytest.fixture
def swap() -> FakeSwap:
    return fake_swap(KEY)


# -- embeddings --------------------------------------------------------------------------


def test_embedding_request_is_pinned(swap: FakeSwap) -> None:
    embed = LlamaSwapEmbedding(model="embed", dsn=swap.dsn)
    assert embed.get_query_embedding("where?") == [0.0, 0.5, -1.0]
    request, body = swap.last("/v1/embeddings")
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert body == {"model": "embed", "input": ["where?"], "encoding_format": "float"}


def test_embedding_batches_by_embed_batch_size(swap: FakeSwap) -> None:
    embed = LlamaSwapEmbedding(model="embed", dsn=swap.dsn, embed_batch_size=2)
    vectors = embed.get_text_embedding_batch(["a", "b", "c", "d", "e"])
    assert len(vectors) == 5
    sent = [r for r in swap.requests if r.url.path == "/v1/embeddings"]
    assert [len(json.loads(r.content)["input"]) for r in sent] == [2, 2, 1]


def test_embedding_order_follows_index_not_position(swap: FakeSwap) -> None:
    def reply(request: httpx.Request, body: dict[str, Any]) -> httpx.Response:
        data = [{"object": "embedding", "index": i, "embedding": [float(i)]} for i in (1, 0)]
        return httpx.Response(200, json={"object": "list", "model": "embed", "data": data})

    swap.replies["/v1/embeddings"] = reply
    embed = LlamaSwapEmbedding(model="embed", dsn=swap.dsn)
    assert embed.get_text_embedding_batch(["x", "y"]) == [[0.0], [1.0]]


def test_embedding_count_mismatch_is_an_error(swap: FakeSwap) -> None:
    swap.replies["/v1/embeddings"] = lambda r, b: httpx.Response(
        200,
        json={"object": "list", "model": "embed", "data": [{"index": 0, "embedding": [1.0]}]},
    )
    embed = LlamaSwapEmbedding(model="embed", dsn=swap.dsn)
    with pytest.raises(ResponseDecodeError, match="1 embeddings for 2 inputs"):
        embed.get_text_embedding_batch(["x", "y"])


async def test_embedding_async_and_instructions(swap: FakeSwap) -> None:
    embed = LlamaSwapEmbedding(
        model_name="embed",
        dsn=swap.dsn,
        query_instruction="query: ",
        text_instruction="passage: ",
        dimensions=3,
        embed_batch_size=3,
    )
    assert await embed.aget_query_embedding("q") == [0.0, 0.5, -1.0]
    assert swap.last("/v1/embeddings")[1]["input"] == ["query: q"]
    assert swap.last("/v1/embeddings")[1]["dimensions"] == 3
    assert len(await embed.aget_text_embedding_batch(["a", "b", "c", "d"])) == 4
    assert swap.last("/v1/embeddings")[1]["input"] == ["passage: d"]
    assert await embed.aget_text_embedding("t") == [0.0, 0.5, -1.0]


def test_embedding_settings_secrets_and_provider(swap: FakeSwap) -> None:
    embed = LlamaSwapEmbedding(model="embed", dsn=swap.dsn)
    Settings.embed_model = embed
    try:
        assert Settings.embed_model is embed
    finally:
        Settings._embed_model = None
    for text in (repr(embed), str(embed), embed.to_json(), json.dumps(embed.to_payload())):
        assert KEY not in text
    assert embed.to_dict()["dsn"] == swap.provider.base_url
    assert embed.provider is swap.provider
    assert embed._get_client()._client is swap.provider.sdk_http_client()  # rides the pool
    again = LlamaSwapEmbedding.from_dict(embed.to_dict(), api_key=KEY)
    assert again.provider is swap.provider and again.model_name == "embed"


def test_embedding_bad_arguments() -> None:
    with pytest.raises(ValueError, match="embedding model id"):
        LlamaSwapEmbedding()
    with pytest.raises(ValueError, match="not two different"):
        LlamaSwapEmbedding(model="a", model_name="b")


# -- image blocks ------------------------------------------------------------------------


def test_to_image_block_from_image_and_result() -> None:
    png = tiny_png()
    image = image_from_bytes(png)
    block = to_image_block(image)
    assert block.image_mimetype == "image/png"
    assert block.resolve_image().read() == png
    result = ImageResult(images=(image,), model="sd")
    assert to_image_block(result, detail="low").detail == "low"
    two = ImageResult(images=(image, image), model="sd")
    with pytest.raises(ValueError, match="holds 2 images"):
        to_image_block(two)
    assert len(to_image_blocks(two)) == 2
    with pytest.raises(TypeError, match="GeneratedImage"):
        to_image_block(b"raw")  # type: ignore[arg-type]


def test_image_block_goes_straight_into_a_vision_chat_message() -> None:
    png = tiny_png()
    message = ChatMessage(
        role="user",
        blocks=[to_image_block(GeneratedImage(png, "image/png")), TextBlock(text="What is it?")],
    )
    wire: Any = to_openai_message_dicts([message])
    parts = wire[0]["content"]
    assert isinstance(parts, list)
    url = parts[0]["image_url"]["url"]
    assert url == "data:image/png;base64," + base64.b64encode(png).decode()


# -- image tool spec ---------------------------------------------------------------------


def test_tool_returns_summary_and_png_blocks(swap: FakeSwap) -> None:
    spec = LlamaSwapImageToolSpec(model="sd", dsn=swap.dsn, size="64x32", extra={"steps": 2})
    blocks = spec.generate_image("a red square", n=2, seed=5, negative_prompt="blue")
    assert isinstance(blocks[0], TextBlock) and "Generated 2 images" in blocks[0].text
    images = [b for b in blocks if isinstance(b, ImageBlock)]
    assert len(images) == 2
    assert all(b.image_mimetype == "image/png" for b in images)
    assert images[0].resolve_image().read() == tiny_png()
    request, body = swap.last("/v1/images/generations")
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert body == {
        "model": "sd",
        "prompt": "a red square",
        "n": 2,
        "response_format": "b64_json",
        "size": "64x32",
        "negative_prompt": "blue",
        "seed": 5,
        "steps": 2,
    }
    assert KEY not in repr(spec) and spec.provider is swap.provider


def test_tool_list_schema_and_tool_output(swap: FakeSwap) -> None:
    (tool,) = LlamaSwapImageToolSpec(model="sd", dsn=swap.dsn).to_tool_list()
    assert isinstance(tool, FunctionTool)
    assert tool.metadata.name == "generate_image"
    params = tool.metadata.get_parameters_dict()
    assert params["required"] == ["prompt"]
    assert set(params["properties"]) == {"prompt", "size", "n", "negative_prompt", "seed"}
    assert "WIDTHxHEIGHT" in params["properties"]["size"]["description"]
    assert tool.metadata.description.startswith("Generate images from a text description")
    output = tool.call(prompt="a cat")
    assert isinstance(output, ToolOutput) and not output.is_error
    assert output.content.startswith("Generated 1 image with 'sd'")
    assert [type(b) for b in output.blocks] == [TextBlock, ImageBlock]
    assert "size" not in swap.last("/v1/images/generations")[1]  # the server's default


async def test_tool_async_path(swap: FakeSwap) -> None:
    (tool,) = LlamaSwapImageToolSpec(model="sd", dsn=swap.dsn).to_tool_list()
    output = await tool.acall(prompt="a dog", size="16x16")
    assert [type(b) for b in output.blocks] == [TextBlock, ImageBlock]
    assert swap.last("/v1/images/generations")[1]["size"] == "16x16"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"prompt": ""}, "non-empty text prompt"),
        ({"prompt": "x", "n": 0}, "n must be an integer from 1 to 4"),
        ({"prompt": "x", "n": 5}, "n must be an integer from 1 to 4"),
        ({"prompt": "x", "n": True}, "n must be an integer"),
        ({"prompt": "x", "size": "huge"}, "size must look like '512x512'"),
        ({"prompt": "x", "size": "99999x2"}, "size must look like|too large"),
        ({"prompt": "x", "seed": "7"}, "seed must be an integer"),
        ({"prompt": "x", "negative_prompt": 3}, "negative_prompt must be text"),
    ],
)
def test_tool_bad_arguments_fail_before_any_request(
    swap: FakeSwap, kwargs: dict[str, Any], message: str
) -> None:
    spec = LlamaSwapImageToolSpec(model="sd", dsn=swap.dsn)
    with pytest.raises(ValueError, match=message):
        spec.generate_image(**kwargs)
    assert swap.requests == []


def test_tool_bad_arguments_through_function_tool_are_error_outputs(swap: FakeSwap) -> None:
    (tool,) = LlamaSwapImageToolSpec(model="sd", dsn=swap.dsn).to_tool_list()
    try:
        output = tool.call(prompt="x", n=9)
    except ValueError as exc:  # some versions raise, agents turn it into an error message
        assert "n must be an integer from 1 to 4" in str(exc)
    else:
        assert output.is_error and "n must be an integer from 1 to 4" in output.content
    assert swap.requests == []


def test_tool_spec_bad_construction() -> None:
    with pytest.raises(ValueError, match="image model"):
        LlamaSwapImageToolSpec(model="")
    with pytest.raises(ValueError, match="size must look like"):
        LlamaSwapImageToolSpec(model="sd", size="wide")
    with pytest.raises(ValueError, match="max_images"):
        LlamaSwapImageToolSpec(model="sd", max_images=0)


def test_server_error_reaches_the_caller(swap: FakeSwap) -> None:
    swap.replies["/v1/images/generations"] = lambda r, b: httpx.Response(
        404, json={"error": {"message": "could not find suitable handler for model nope"}}
    )
    spec = LlamaSwapImageToolSpec(model="nope", dsn=swap.dsn)
    with pytest.raises(Exception, match="nope"):
        spec.generate_image("x")


# -- import paths ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "names"),
    [
        ("llama_index.llms.llamaswap", ["LlamaSwap"]),
        ("llama_index.embeddings.llamaswap", ["LlamaSwapEmbedding"]),
        ("llama_index.tools.llamaswap", ["LlamaSwapImageToolSpec", "to_image_block"]),
    ],
)
def test_llama_index_namespace_paths(module: str, names: list[str]) -> None:
    shim = importlib.import_module(module)
    home = importlib.import_module("llama_index_llamaswap")
    for name in names:
        assert getattr(shim, name) is getattr(home, name)
    # the shim joins the namespace package and does not shadow the installed llama_index
    llama_index = importlib.import_module("llama_index")
    assert getattr(llama_index, "__file__", None) is None
    assert importlib.import_module("llama_index.core").__file__ is not None
    assert importlib.import_module("llama_index.llms.openai_like").__name__
    assert LlamaSwap.__module__ == "llama_index_llamaswap.llms"
