"""Reranking and image edits through real llama-swap (issue 13), sync and async.

``rerank`` is the rerank test upstream (llama-server's /v1/rerank API, BM25 word scores),
``sd`` the image test upstream, whose edited PNG names the sha256 of the image and mask it
received, so these tests see the bytes cross llama-swap's multipart handling intact.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from llamaswap import LlamaSwapProvider, NotFoundError, RerankResult
from llamaswap_rig.runner import Rig

RERANK, IMAGE = "rerank", "sd"
DOCS = [
    "Dogs bark at the mail carrier every morning.",
    "The Quill 9 printer takes the K-77 toner cartridge.",
    "Printers need paper, toner and regular cleaning.",
]


@pytest.fixture
def provider(rig: Rig) -> Iterator[LlamaSwapProvider]:
    with LlamaSwapProvider(rig.dsn) as p:
        yield p


def comment(png: bytes) -> str:
    with Image.open(io.BytesIO(png)) as picture:
        return str(picture.info["Comment"])


def test_rerank_puts_the_matching_document_first(provider: LlamaSwapProvider) -> None:
    results = provider.rerank("Which toner does the Quill 9 printer take?", DOCS, model=RERANK)
    assert [r.index for r in results] == [1, 2, 0]
    assert all(isinstance(r, RerankResult) for r in results)
    assert results[0].document == DOCS[1]
    scores = [r.relevance_score for r in results]
    assert scores == sorted(scores, reverse=True) and scores[0] > scores[1]


async def test_arerank_with_top_n_keeps_the_best(provider: LlamaSwapProvider) -> None:
    results = await provider.arerank("printer toner", DOCS, model=RERANK, top_n=2)
    assert {r.index for r in results} == {1, 2}
    assert results == provider.rerank("printer toner", DOCS, model=RERANK, top_n=2)


def test_rerank_unknown_model_lists_the_models(provider: LlamaSwapProvider) -> None:
    with pytest.raises(NotFoundError) as caught:
        provider.rerank("q", DOCS, model="no-such-reranker")
    assert RERANK in caught.value.available


def test_edit_image_sends_image_and_mask_through_llama_swap(
    provider: LlamaSwapProvider, tmp_path: Path
) -> None:
    source = provider.generate_image("a red fox", model=IMAGE, size="48x32", seed=1)[0]
    mask = provider.generate_image("a mask", model=IMAGE, size="48x32", seed=2)[0]
    path = source.save(tmp_path / "fox.png")
    edited = provider.edit_image(path, "make the fox blue", model=IMAGE, mask=mask, seed=3)
    (image,) = edited
    assert image.mime_type == "image/png" and edited.model == IMAGE
    note = comment(image.data)
    assert f"edit-of={hashlib.sha256(source.data).hexdigest()}" in note
    assert f"mask={hashlib.sha256(mask.data).hexdigest()}" in note
    assert "prompt=make the fox blue" in note
    with Image.open(io.BytesIO(image.data)) as picture:
        assert picture.size == (48, 32)  # no size given: the input's own


async def test_aedit_image_edits_a_generated_image_with_n_and_size(
    provider: LlamaSwapProvider,
) -> None:
    source = (await provider.agenerate_image("a cat", model=IMAGE, size="16x16"))[0]
    edited = await provider.aedit_image(source, "a hat", model=IMAGE, n=2, size="24x24")
    assert len(edited) == 2 and edited[0].data != edited[1].data
    for image in edited:
        assert f"edit-of={hashlib.sha256(source.data).hexdigest()}" in comment(image.data)
        with Image.open(io.BytesIO(image.data)) as picture:
            assert picture.size == (24, 24)
