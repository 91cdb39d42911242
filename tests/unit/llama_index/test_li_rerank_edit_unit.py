"""LlamaSwapRerank (node postprocessor) and the tool spec's edits offline (issue 13).

The provider's rerank and edit calls are replaced by fakes that record what the adapter
asked for; the wire format is pinned in tests/unit/test_rerank_edits_wire.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from llama_index.postprocessor.llamaswap import LlamaSwapRerank as ShimRerank
from llama_index_llamaswap import LlamaSwapImageToolSpec, LlamaSwapRerank
from llamaswap import GeneratedImage, ImageResult, RerankResult, shared_provider

DSN = "llama-swap://127.0.0.1:18083"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x02" * 16


class FakeRerank:
    """Ranks the documents in reverse order, scores 10, 9, ...; records the calls."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, query: str, documents: Sequence[str], **kwargs: Any) -> list[RerankResult]:
        self.calls.append({"query": query, "documents": list(documents), **kwargs})
        order = list(reversed(range(len(documents))))
        results = [RerankResult(i, 10.0 - k, documents[i]) for k, i in enumerate(order)]
        return results[: kwargs["top_n"]] if kwargs.get("top_n") else results


@pytest.fixture
def fake_rerank(monkeypatch: pytest.MonkeyPatch) -> FakeRerank:
    fake = FakeRerank()
    provider = shared_provider(DSN)
    monkeypatch.setattr(provider, "rerank", fake)

    async def arerank(query: str, documents: Sequence[str], **kwargs: Any) -> list[RerankResult]:
        return fake(query, documents, **kwargs)

    monkeypatch.setattr(provider, "arerank", arerank)
    return fake


def nodes() -> list[NodeWithScore]:
    return [
        NodeWithScore(node=TextNode(text=f"text {i}", id_=f"n{i}", metadata={"k": i}), score=0.5)
        for i in range(3)
    ]


def test_rerank_is_a_node_postprocessor_under_both_import_paths() -> None:
    reranker = LlamaSwapRerank(model="rr", dsn=DSN)
    assert ShimRerank is LlamaSwapRerank
    assert isinstance(reranker, BaseNodePostprocessor)
    assert reranker.provider is shared_provider(DSN)
    assert (reranker.top_n, LlamaSwapRerank.class_name()) == (3, "LlamaSwapRerank")


def test_postprocess_orders_nodes_with_reranker_scores(fake_rerank: FakeRerank) -> None:
    reranker = LlamaSwapRerank(model="rr", dsn=DSN, top_n=2, timeout=7)
    given = nodes()
    ranked = reranker.postprocess_nodes(given, query_str="which?")
    assert [(n.node.node_id, n.score) for n in ranked] == [("n2", 10.0), ("n1", 9.0)]
    (call,) = fake_rerank.calls
    assert call["query"] == "which?" and call["top_n"] == 2 and call["timeout"] == 7
    assert call["documents"][0] == "k: 0\n\ntext 0"  # text with the metadata embeddings see
    assert [n.score for n in given] == [0.5, 0.5, 0.5]  # the caller's nodes are untouched


async def test_apostprocess_matches_sync(fake_rerank: FakeRerank) -> None:
    reranker = LlamaSwapRerank(model="rr", dsn=DSN, top_n=None)
    ranked = await reranker.apostprocess_nodes(nodes(), query_bundle=QueryBundle("q"))
    assert [n.node.node_id for n in ranked] == ["n2", "n1", "n0"]
    assert fake_rerank.calls[0]["top_n"] is None


def test_postprocess_without_nodes_sends_nothing(fake_rerank: FakeRerank) -> None:
    assert LlamaSwapRerank(model="rr", dsn=DSN).postprocess_nodes([], query_str="q") == []
    assert fake_rerank.calls == []


def test_postprocess_without_a_query_says_to_pass_one(fake_rerank: FakeRerank) -> None:
    with pytest.raises(ValueError, match="pass query_bundle="):
        LlamaSwapRerank(model="rr", dsn=DSN).postprocess_nodes(nodes())


def test_rerank_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="model must name a reranker"):
        LlamaSwapRerank(model=" ", dsn=DSN)
    with pytest.raises(ValueError, match="top_n"):
        LlamaSwapRerank(model="rr", dsn=DSN, top_n=0)


def test_rerank_key_never_shows() -> None:
    keyed = LlamaSwapRerank(model="rr", dsn="llama-swap://sk-li-rerank@127.0.0.1:18083")
    assert keyed.provider.api_key == "sk-li-rerank"
    for view in (repr(keyed), str(keyed), keyed.to_json(), str(keyed.to_dict())):
        assert "sk-li-rerank" not in view


# -- tool spec edits ---------------------------------------------------------------------


class FakeImages:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, *args: Any, **kwargs: Any) -> ImageResult:
        self.calls.append(kwargs)
        images = tuple(GeneratedImage(data=PNG, mime_type="image/png") for _ in range(kwargs["n"]))
        return ImageResult(images=images, model=kwargs["model"])


@pytest.fixture
def fake_images(monkeypatch: pytest.MonkeyPatch) -> FakeImages:
    fake = FakeImages()
    provider = shared_provider(DSN)
    monkeypatch.setattr(provider, "generate_image", fake)
    monkeypatch.setattr(provider, "edit_image", fake)
    return fake


def test_edits_are_opt_in() -> None:
    assert [
        t.metadata.name for t in LlamaSwapImageToolSpec(model="sd", dsn=DSN).to_tool_list()
    ] == ["generate_image"]
    with_edits = LlamaSwapImageToolSpec(model="sd", dsn=DSN, edits=True).to_tool_list()
    assert [t.metadata.name for t in with_edits] == ["generate_image", "edit_image"]
    schema = with_edits[1].metadata.get_parameters_dict()
    assert schema["required"] == ["image", "prompt"]


def test_edit_reads_files_only_inside_input_dirs(fake_images: FakeImages, tmp_path: Path) -> None:
    allowed = tmp_path / "in"
    allowed.mkdir()
    (allowed / "fox.png").write_bytes(b"fox")
    (tmp_path / "secret.txt").write_text("no")
    spec = LlamaSwapImageToolSpec(model="sd", dsn=DSN, edits=True, input_dirs=[allowed])
    blocks = spec.edit_image("fox.png", "blue", seed=4)
    assert blocks[0].text.startswith("Edited 1 image")  # type: ignore[union-attr]
    (call,) = fake_images.calls
    assert (call["image"], call["mask"], call["prompt"], call["seed"]) == (b"fox", None, "blue", 4)
    for outside in (str(tmp_path / "secret.txt"), "../secret.txt"):
        with pytest.raises(ValueError, match="nor an image file in the folders"):
            spec.edit_image(outside, "x")
    assert len(fake_images.calls) == 1


def test_edit_by_id_sends_the_remembered_image(fake_images: FakeImages) -> None:
    spec = LlamaSwapImageToolSpec(model="sd", dsn=DSN, edits=True)
    spec.generate_image("fox", n=2)
    spec.edit_image("image-2", "hat", mask="image-1")
    edit = fake_images.calls[-1]
    assert edit["image"] is spec.image("image-2") and edit["mask"] is spec.image("image-1")
    with pytest.raises(ValueError, match="edit_image needs a non-empty text prompt"):
        spec.edit_image("image-1", " ")
