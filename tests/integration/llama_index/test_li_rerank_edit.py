"""LlamaSwapRerank in a LlamaIndex query engine, and the tool spec's edits, through the rig.

Retrieval is MiniLM (``embed``) on llama.cpp over a VectorStoreIndex; the reranker is the
rig's rerank test upstream (``rerank``: llama-server's /v1/rerank API, BM25 word scores,
not a reranker model); answers come from Qwen2.5-Coder-0.5B (``qwen``). The notes are the
LangChain rerank test's: the fact sits in a long note about something else, and MiniLM
ranks a short on-topic distractor above it.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from llama_index.core import Settings, VectorStoreIndex
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.base.llms.types import ImageBlock, TextBlock
from llama_index.core.schema import QueryBundle, TextNode
from PIL import Image

from llama_index.postprocessor.llamaswap import LlamaSwapRerank
from llama_index_llamaswap import LlamaSwap, LlamaSwapEmbedding, LlamaSwapImageToolSpec

CHAT, EMBED, RERANK, IMAGE = "qwen", "embed", "rerank", "sd"
NOTES = {
    "wifi-general": "Guest Wi-Fi passwords are printed on a card at every reception desk.",
    "tromso": "Tromso office notes: opened in 2019, it hosts the support team and a small "
    "gym. Parking is free, lunch is served at noon, the Wi-Fi password is polarbear42, and "
    "the train station is a ten minute walk away.",
    "toner": "Printer toner is ordered by the facilities team when a printer reports low toner.",
    "lisbon": "Lisbon office notes: the desks were renumbered, the blinds were fixed, and the "
    "printer on floor three takes the K-77 toner, which Rui orders every month.",
}
QUESTION = "What is the Wi-Fi password at the Tromso office?"


@pytest.fixture
def index(dsn: str) -> Iterator[VectorStoreIndex]:
    nodes = [TextNode(text=text, id_=key) for key, text in NOTES.items()]
    yield VectorStoreIndex(nodes, embed_model=LlamaSwapEmbedding(model=EMBED, dsn=dsn))
    Settings._llm = None


def test_postprocessor_puts_the_answer_first_where_retrieval_does_not(
    dsn: str, index: VectorStoreIndex
) -> None:
    retrieved = index.as_retriever(similarity_top_k=3).retrieve(QUESTION)
    assert retrieved[0].node.node_id == "wifi-general"
    assert "tromso" in [n.node.node_id for n in retrieved]
    reranker = LlamaSwapRerank(model=RERANK, dsn=dsn, top_n=2)
    ranked = reranker.postprocess_nodes(retrieved, query_bundle=QueryBundle(QUESTION))
    assert [n.node.node_id for n in ranked] == ["tromso", "wifi-general"]
    assert ranked[0].score is not None and ranked[1].score is not None
    assert ranked[0].score > ranked[1].score


def test_query_engine_answers_from_the_reranked_node(dsn: str, index: VectorStoreIndex) -> None:
    engine = index.as_query_engine(
        llm=LlamaSwap(model=CHAT, dsn=dsn, max_tokens=24, temperature=0.0),
        similarity_top_k=3,
        node_postprocessors=[LlamaSwapRerank(model=RERANK, dsn=dsn, top_n=1)],
    )
    response = engine.query(QUESTION)
    (source,) = response.source_nodes
    assert source.node.node_id == "tromso"
    assert "polarbear42" in str(response).lower().replace(" ", ""), str(response)


async def test_async_query_engine_reranks_too(dsn: str, index: VectorStoreIndex) -> None:
    engine = index.as_query_engine(
        llm=LlamaSwap(model=CHAT, dsn=dsn, max_tokens=8, temperature=0.0),
        similarity_top_k=4,
        node_postprocessors=[LlamaSwapRerank(model=RERANK, dsn=dsn, top_n=1)],
    )
    response = await engine.aquery("Which toner does the Lisbon printer take?")
    assert [n.node.node_id for n in response.source_nodes] == ["lisbon"]


# -- tool spec edits -------------------------------------------------------------------------


def test_tool_spec_edits_an_image_it_generated_by_id(dsn: str) -> None:
    spec = LlamaSwapImageToolSpec(model=IMAGE, dsn=dsn, size="40x24", edits=True)
    assert [t.metadata.name for t in spec.to_tool_list()] == ["generate_image", "edit_image"]
    drawn = spec.generate_image("a fox")
    assert isinstance(drawn[0], TextBlock) and drawn[0].text.endswith("Ids: image-1.")
    source = spec.image("image-1").data
    edit_tool = spec.to_tool_list()[1]
    output = edit_tool.call(image="image-1", prompt="give it a hat", n=2)
    assert output.content.startswith("Edited 2 images with 'sd' for 'give it a hat'")
    assert output.content.endswith("Ids: image-2, image-3.")
    images = [b for b in output.blocks if isinstance(b, ImageBlock)]
    assert len(images) == 2
    for block in images:
        with Image.open(io.BytesIO(block.resolve_image().read())) as picture:
            assert picture.size == (40, 24)
            assert f"edit-of={hashlib.sha256(source).hexdigest()}" in picture.info["Comment"]


async def test_tool_spec_async_edit_and_unknown_image(dsn: str) -> None:
    spec = LlamaSwapImageToolSpec(model=IMAGE, dsn=dsn, size="16x16", edits=True)
    await spec.agenerate_image("a cat")
    blocks = await spec.aedit_image("image-1", "a blue cat", mask="image-1")
    assert isinstance(blocks[0], TextBlock) and blocks[0].text.startswith("Edited 1 image")
    with pytest.raises(ValueError, match="neither an image id \\(known: image-1, image-2\\)"):
        await spec.aedit_image("image-9", "x")


async def test_agent_edits_the_image_an_earlier_render_gave(dsn: str) -> None:
    """A FunctionAgent (LlamaSwap as its LLM) edits an image by the id a render reported.

    The LLM is the rig's scripted tool-calling test upstream (``scripted``), which calls the
    first tool offered, so edit_image is listed first; its ``__args__`` directive gives the
    id and the instruction as separate arguments. The image upstream records the sha256 of
    the bytes it received in the PNG it answers with.
    """
    spec = LlamaSwapImageToolSpec(model=IMAGE, dsn=dsn, size="24x16", edits=True)
    drawn = spec.generate_image("a fox")
    assert isinstance(drawn[0], TextBlock) and drawn[0].text.endswith("Ids: image-1.")
    source = spec.image("image-1").data
    tools: list[Any] = spec.to_tool_list()[::-1]
    assert [t.metadata.name for t in tools] == ["edit_image", "generate_image"]
    agent = FunctionAgent(tools=tools, llm=LlamaSwap(model="scripted", dsn=dsn, max_tokens=64))
    wanted = {"image": "image-1", "prompt": "give it a hat"}
    result: Any = await agent.run(f"Edit the fox __args__{json.dumps(wanted)}")
    (call,) = result.tool_calls
    assert call.tool_name == "edit_image" and call.tool_kwargs == wanted
    assert not call.tool_output.is_error, call.tool_output.content
    (image,) = [b for b in call.tool_output.blocks if isinstance(b, ImageBlock)]
    assert image.image_mimetype == "image/png"
    with Image.open(io.BytesIO(image.resolve_image().read())) as picture:
        assert picture.format == "PNG" and picture.size == (24, 16)
        assert f"edit-of={hashlib.sha256(source).hexdigest()}" in picture.info["Comment"]
    assert call.tool_output.content.endswith("Ids: image-2.")
    assert "Tool result: Edited 1 image with 'sd' for 'give it a hat'" in str(result)
