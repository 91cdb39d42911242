"""LlamaSwapRerank and LlamaSwapImageEditTool offline (issue 13): behaviour and standard suite.

langchain-tests has no standard suite for document compressors; the edit tool gets the
tools suite. The provider's rerank/edit calls are replaced by fakes that record what the
adapters asked for; the wire format itself is pinned in tests/unit/test_rerank_edits_wire.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from langchain_core.documents import BaseDocumentCompressor, Document
from langchain_core.load import dumps
from langchain_core.messages import ToolMessage
from langchain_core.tools import ToolException
from langchain_tests.unit_tests import ToolsUnitTests

from langchain_llamaswap import LlamaSwapImageEditTool, LlamaSwapRerank, artifact_images
from llamaswap import GeneratedImage, ImageResult, RerankResult, shared_provider

DSN = "llama-swap://127.0.0.1:18082"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x01" * 16


class TestImageEditToolStandardUnit(ToolsUnitTests):
    @property
    def tool_constructor(self) -> type[LlamaSwapImageEditTool]:
        return LlamaSwapImageEditTool

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return {"model": "sd", "dsn": DSN, "output_dir": "renders"}

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"image": "renders/fox.png", "prompt": "make it blue", "size": "64x64"}

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        return ({"LLAMASWAP_DSN": DSN}, {"model": "sd", "output_dir": "renders"}, {"dsn": DSN})


# -- rerank ------------------------------------------------------------------------------


class FakeRerank:
    """Scores each document by its length (longest first) and records the calls."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, query: str, documents: Sequence[str], **kwargs: Any) -> list[RerankResult]:
        self.calls.append({"query": query, "documents": list(documents), **kwargs})
        ranked = sorted(enumerate(documents), key=lambda pair: -len(pair[1]))
        results = [RerankResult(i, float(len(doc)), doc) for i, doc in ranked]
        top_n = kwargs.get("top_n")
        return results[:top_n] if top_n else results


@pytest.fixture
def fake_rerank(monkeypatch: pytest.MonkeyPatch) -> FakeRerank:
    fake = FakeRerank()
    provider = shared_provider(DSN)
    monkeypatch.setattr(provider, "rerank", fake)

    async def arerank(query: str, documents: Sequence[str], **kwargs: Any) -> list[RerankResult]:
        return fake(query, documents, **kwargs)

    monkeypatch.setattr(provider, "arerank", arerank)
    return fake


DOCS = [
    Document(page_content="short", metadata={"source": "a"}),
    Document(page_content="the longest text", metadata={"source": "b"}),
    Document(page_content="medium one", metadata={"source": "c"}),
]


def test_rerank_is_a_document_compressor_sharing_the_provider() -> None:
    reranker = LlamaSwapRerank(model="rr", dsn=DSN)
    assert isinstance(reranker, BaseDocumentCompressor)
    assert reranker.provider is shared_provider(DSN)
    assert reranker.top_n == 3


def test_compress_documents_orders_best_first_with_scores(fake_rerank: FakeRerank) -> None:
    reranker = LlamaSwapRerank(model="rr", dsn=DSN, top_n=2)
    out = reranker.compress_documents(DOCS, "which?")
    assert [d.metadata["source"] for d in out] == ["b", "c"]
    assert [d.metadata["relevance_score"] for d in out] == [16.0, 10.0]
    assert fake_rerank.calls == [
        {
            "query": "which?",
            "documents": ["short", "the longest text", "medium one"],
            "model": "rr",
            "top_n": 2,
        }
    ]
    assert "relevance_score" not in DOCS[1].metadata  # the caller's documents are untouched


async def test_acompress_documents_matches_sync(fake_rerank: FakeRerank) -> None:
    reranker = LlamaSwapRerank(model="rr", dsn=DSN, top_n=None, timeout=5)
    out = await reranker.acompress_documents(DOCS, "q")
    assert out == reranker.compress_documents(DOCS, "q")
    assert [d.page_content for d in out] == ["the longest text", "medium one", "short"]
    assert fake_rerank.calls[0]["top_n"] is None and fake_rerank.calls[0]["timeout"] == 5


def test_compress_no_documents_sends_nothing(fake_rerank: FakeRerank) -> None:
    assert LlamaSwapRerank(model="rr", dsn=DSN).compress_documents([], "q") == []
    assert fake_rerank.calls == []


def test_rerank_top_n_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="top_n"):
        LlamaSwapRerank(model="rr", dsn=DSN, top_n=0)


def test_rerank_key_never_shows() -> None:
    keyed = LlamaSwapRerank(model="rr", dsn="llama-swap://sk-rerank-secret@127.0.0.1:18082")
    assert keyed.provider.api_key == "sk-rerank-secret"
    for view in (repr(keyed), str(keyed), dumps(keyed)):
        assert "sk-rerank-secret" not in view


# -- edit tool ---------------------------------------------------------------------------


class FakeEdit:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, image: Any, prompt: str, **kwargs: Any) -> ImageResult:
        self.calls.append({"image": image, "prompt": prompt, **kwargs})
        images = tuple(GeneratedImage(data=PNG, mime_type="image/png") for _ in range(kwargs["n"]))
        return ImageResult(images=images, model=kwargs["model"])


@pytest.fixture
def fake_edit(monkeypatch: pytest.MonkeyPatch) -> FakeEdit:
    fake = FakeEdit()
    provider = shared_provider(DSN)
    monkeypatch.setattr(provider, "edit_image", fake)

    async def aedit(image: Any, prompt: str, **kwargs: Any) -> ImageResult:
        return fake(image, prompt, **kwargs)

    monkeypatch.setattr(provider, "aedit_image", aedit)
    return fake


def edit_call(args: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_call", "id": "call-2", "name": "edit_image", "args": args}


def test_edit_tool_sends_the_named_file_and_mask(fake_edit: FakeEdit, tmp_path: Path) -> None:
    (tmp_path / "fox.png").write_bytes(b"fox-bytes")
    (tmp_path / "mask.png").write_bytes(b"mask-bytes")
    tool = LlamaSwapImageEditTool(model="sd", dsn=DSN, output_dir=tmp_path)
    msg = tool.invoke(
        edit_call({"image": str(tmp_path / "fox.png"), "prompt": "blue", "mask": "mask.png"})
    )
    assert isinstance(msg, ToolMessage)
    assert msg.content.startswith("Edited 1 image (image/png) with model 'sd'; saved to ")
    (saved,) = artifact_images(msg.artifact)
    assert saved.data == PNG
    (sent,) = fake_edit.calls
    assert (sent["image"], sent["mask"], sent["prompt"], sent["n"]) == (
        b"fox-bytes",
        b"mask-bytes",
        "blue",
        1,
    )


async def test_edit_tool_async(fake_edit: FakeEdit, tmp_path: Path) -> None:
    (tmp_path / "in.png").write_bytes(b"in")
    tool = LlamaSwapImageEditTool(model="sd", dsn=DSN, input_dirs=[tmp_path])
    msg = await tool.ainvoke(edit_call({"image": "in.png", "prompt": "hat", "n": 2}))
    assert msg.content.startswith("Edited 2 images")
    assert fake_edit.calls[0]["image"] == b"in" and fake_edit.calls[0]["mask"] is None


def test_edit_tool_refuses_files_outside_its_folders(fake_edit: FakeEdit, tmp_path: Path) -> None:
    allowed = tmp_path / "renders"
    allowed.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("do not send")
    tool = LlamaSwapImageEditTool(model="sd", dsn=DSN, output_dir=allowed)
    for path in (str(secret), "../secret.txt", "missing.png"):
        with pytest.raises(ToolException, match="not an image file in the folders"):
            tool.invoke(edit_call({"image": path, "prompt": "x"}))
    assert fake_edit.calls == []


def test_edit_tool_needs_a_folder_to_read() -> None:
    with pytest.raises(ValueError, match="set output_dir"):
        LlamaSwapImageEditTool(model="sd", dsn=DSN)


def test_edit_tool_bad_arguments_come_back_as_text(fake_edit: FakeEdit, tmp_path: Path) -> None:
    tool = LlamaSwapImageEditTool(model="sd", dsn=DSN, output_dir=tmp_path)
    msg = tool.invoke(edit_call({"image": "a.png", "prompt": " "}))
    assert msg.status == "error"
    assert msg.content.startswith("edit_image was called with invalid arguments: prompt:")
    assert fake_edit.calls == []
