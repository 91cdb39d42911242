"""LlamaSwapImageTool and LlamaSwapEmbeddings offline: standard unit suites plus behaviour."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from langchain_core.load import dumps
from langchain_core.messages import ToolMessage
from langchain_core.tools import ToolException
from langchain_tests.unit_tests import EmbeddingsUnitTests, ToolsUnitTests

from langchain_llamaswap import (
    LlamaSwapEmbeddings,
    LlamaSwapImageTool,
    artifact_images,
    image_content_block,
    image_message,
)
from llamaswap import APIError, GeneratedImage, ImageResult, shared_provider

DSN = "llama-swap://127.0.0.1:18081"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


class TestImageToolStandardUnit(ToolsUnitTests):
    @property
    def tool_constructor(self) -> type[LlamaSwapImageTool]:
        return LlamaSwapImageTool

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return {"model": "sd", "dsn": DSN}

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"prompt": "a red square", "size": "64x64", "n": 1, "seed": 7}

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        return ({"LLAMASWAP_DSN": DSN}, {"model": "sd"}, {"dsn": DSN})


class TestEmbeddingsStandardUnit(EmbeddingsUnitTests):
    @property
    def embeddings_class(self) -> type[LlamaSwapEmbeddings]:
        return LlamaSwapEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"model": "embed", "dsn": DSN}

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        return (
            {"LLAMASWAP_DSN": DSN, "LLAMASWAP_API_KEY": "k"},
            {"model": "embed"},
            {"dsn": DSN, "api_key": "k"},
        )


# -- image tool ------------------------------------------------------------------------------


class FakeRender:
    def __init__(self, fail: Exception | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.fail = fail

    def __call__(self, prompt: str, **kwargs: Any) -> ImageResult:
        self.calls.append({"prompt": prompt, **kwargs})
        if self.fail is not None:
            raise self.fail
        n = kwargs.get("n", 1)
        images = tuple(GeneratedImage(data=PNG, mime_type="image/png") for _ in range(n))
        return ImageResult(images=images, model=kwargs["model"])


@pytest.fixture
def render(monkeypatch: pytest.MonkeyPatch) -> FakeRender:
    fake = FakeRender()
    provider = shared_provider(DSN)
    monkeypatch.setattr(provider, "generate_image", fake)

    async def agenerate(prompt: str, **kwargs: Any) -> ImageResult:
        return fake(prompt, **kwargs)

    monkeypatch.setattr(provider, "agenerate_image", agenerate)
    return fake


def call(args: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_call", "id": "call-1", "name": "generate_image", "args": args}


def test_tool_call_gives_short_text_and_image_artifact(render: FakeRender, tmp_path: Path) -> None:
    tool = LlamaSwapImageTool(model="sd", dsn=DSN, output_dir=tmp_path)
    msg = tool.invoke(call({"prompt": "a red square", "size": "64X64", "n": 2, "seed": 3}))
    assert isinstance(msg, ToolMessage)
    assert isinstance(msg.content, str)
    assert "Generated 2 images" in msg.content
    assert "base64" not in msg.content and len(msg.content) < 400
    artifact = msg.artifact
    assert artifact["model"] == "sd"
    assert [i["mime_type"] for i in artifact["images"]] == ["image/png", "image/png"]
    paths = [Path(i["path"]) for i in artifact["images"]]
    assert all(p.parent == tmp_path and p.read_bytes() == PNG for p in paths)
    assert str(paths[0]) in msg.content
    assert render.calls[0]["size"] == "64x64"
    assert render.calls[0]["seed"] == 3
    assert artifact_images(artifact)[0].data == PNG


async def test_async_tool_call(render: FakeRender) -> None:
    tool = LlamaSwapImageTool(model="sd", dsn=DSN)
    msg = await tool.ainvoke(call({"prompt": "a cat"}))
    assert msg.artifact["images"][0]["data"] == PNG
    assert msg.artifact["images"][0]["path"] is None


def test_image_blocks_only_when_asked(render: FakeRender) -> None:
    tool = LlamaSwapImageTool(model="sd", dsn=DSN, image_blocks=True)
    msg = tool.invoke(call({"prompt": "a cat"}))
    assert isinstance(msg.content, list)
    assert msg.content[0]["type"] == "text"
    assert msg.content[1] == {
        "type": "image",
        "base64": GeneratedImage(data=PNG, mime_type="image/png").to_base64(),
        "mime_type": "image/png",
        "id": msg.content[1]["id"],
    }


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"prompt": "   "}, "prompt: prompt must describe the image"),
        ({"prompt": "cat", "size": "big"}, "size: size must look like '512x512'"),
        ({"prompt": "cat", "n": 9}, "n: Input should be less than or equal to 4"),
        ({}, "prompt: Field required"),
    ],
)
def test_bad_arguments_give_the_agent_clear_text(
    render: FakeRender, args: dict[str, Any], expected: str
) -> None:
    tool = LlamaSwapImageTool(model="sd", dsn=DSN)
    msg = tool.invoke(call(args))
    assert msg.status == "error"
    assert expected in msg.content
    assert "Fix the arguments" in msg.content
    assert render.calls == []


def test_allowed_sizes_are_in_the_schema_and_enforced(render: FakeRender) -> None:
    tool = LlamaSwapImageTool(model="sd", dsn=DSN, sizes=["256x256", "512X512"])
    schema = tool.args
    assert "512x512" in json.dumps(schema)
    msg = tool.invoke(call({"prompt": "cat", "size": "1024x1024"}))
    assert msg.status == "error"
    assert "256x256" in msg.content
    tool.invoke(call({"prompt": "cat", "size": "512x512"}))
    assert render.calls[-1]["size"] == "512x512"


def test_failed_render_raises_tool_exception_with_server_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    failing = FakeRender(fail=APIError("render failed: out of memory", status_code=500))
    monkeypatch.setattr(shared_provider(DSN), "generate_image", failing)
    tool = LlamaSwapImageTool(model="sd", dsn=DSN)
    with pytest.raises(ToolException, match="out of memory"):
        tool.invoke(call({"prompt": "cat"}))
    handled = LlamaSwapImageTool(model="sd", dsn=DSN, handle_tool_error=True)
    msg = handled.invoke(call({"prompt": "cat"}))
    assert msg.status == "error" and "out of memory" in msg.content


def test_tool_provider_is_shared_and_key_hidden() -> None:
    tool = LlamaSwapImageTool(model="sd", dsn=DSN)
    assert tool.provider is shared_provider(DSN)
    assert tool.response_format == "content_and_artifact"
    keyed = LlamaSwapImageTool(model="sd", dsn="llama-swap://sk-tool-secret@127.0.0.1:18081")
    assert keyed.provider.api_key == "sk-tool-secret"
    for view in (repr(keyed), str(keyed), dumps(keyed), repr(keyed.args)):
        assert "sk-tool-secret" not in view


def test_image_block_helpers() -> None:
    image = GeneratedImage(data=PNG, mime_type="image/png")
    block = image_content_block(image)
    assert block["type"] == "image"
    assert block["mime_type"] == "image/png"
    assert block["base64"] == image.to_base64()
    assert image_content_block({"data": PNG})["base64"] == image.to_base64()
    message = image_message([image, image], "compare")
    assert [b["type"] for b in message.content] == ["text", "image", "image"]  # type: ignore[index]


# -- embeddings ----------------------------------------------------------------------------------


class EmbedServer:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[httpx.Headers] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.bodies.append(body)
        self.headers.append(request.headers)
        data = [
            {"object": "embedding", "index": i, "embedding": [float(len(t)), 1.0, 0.0]}
            for i, t in enumerate(body["input"])
        ]
        data.reverse()  # the order must come from "index", not from position
        return httpx.Response(
            200,
            json={"object": "list", "model": body["model"], "data": data, "usage": {}},
        )


def embeddings_with(server: EmbedServer, **kwargs: Any) -> LlamaSwapEmbeddings:
    transport = httpx.MockTransport(server)
    return LlamaSwapEmbeddings(
        model="embed",
        dsn="llama-swap://sk-emb@127.0.0.1:18081",
        http_client=httpx.Client(transport=transport),
        http_async_client=httpx.AsyncClient(transport=transport),
        **kwargs,
    )


def test_embeddings_send_plain_strings_in_batches() -> None:
    server = EmbedServer()
    model = embeddings_with(server, chunk_size=2)
    vectors = model.embed_documents(["a", "bb", "ccc", "dddd", "eeeee"])
    assert [v[0] for v in vectors] == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert [b["input"] for b in server.bodies] == [["a", "bb"], ["ccc", "dddd"], ["eeeee"]]
    assert all(b["encoding_format"] == "float" and b["model"] == "embed" for b in server.bodies)
    assert all(h["authorization"] == "Bearer sk-emb" for h in server.headers)
    assert model.embed_query("xy") == [2.0, 1.0, 0.0]
    assert model.embed_documents([]) == []


async def test_embeddings_async() -> None:
    server = EmbedServer()
    model = embeddings_with(server, dimensions=3)
    assert await model.aembed_query("abc") == [3.0, 1.0, 0.0]
    assert len(await model.aembed_documents(["a", "b"])) == 2
    assert server.bodies[0]["dimensions"] == 3


def test_embeddings_secret_and_provider() -> None:
    model = LlamaSwapEmbeddings(model="embed", dsn="llama-swap://sk-emb-secret@127.0.0.1:18081")
    assert "sk-emb-secret" not in repr(model) + str(model) + repr(model.model_dump()) + dumps(model)
    assert model.provider is shared_provider("llama-swap://sk-emb-secret@127.0.0.1:18081")
