"""LlamaSwapRerank in a ContextualCompressionRetriever and the edit tool, through the rig.

Retrieval is real: all-MiniLM-L6-v2 (``embed``) on llama.cpp fills an InMemoryVectorStore.
The reranker is the rig's rerank test upstream (``rerank``: llama-server's /v1/rerank API
with BM25 word scores, not a reranker model). The corpus pairs each fact with a short
on-topic distractor; the fact itself sits in a long note about something else, so MiniLM
ranks the distractor first and the rerank step, which weighs the rare name in the question,
puts the note first.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from langchain_classic.retrievers import ContextualCompressionRetriever
from langchain_core.documents import Document
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.vectorstores import InMemoryVectorStore
from langchain_tests.integration_tests import ToolsIntegrationTests
from PIL import Image

from langchain_llamaswap import (
    ChatLlamaSwap,
    LlamaSwapEmbeddings,
    LlamaSwapImageEditTool,
    LlamaSwapImageTool,
    LlamaSwapRerank,
    artifact_images,
)

EMBED, RERANK, IMAGE = "embed", "rerank", "sd"

NOTES = [
    ("wifi-general", "Guest Wi-Fi passwords are printed on a card at every reception desk."),
    (
        "tromso",
        "Tromso office notes: opened in 2019, it hosts the support team and a small gym. "
        "Parking is free, lunch is served at noon, the Wi-Fi password is polarbear42, and "
        "the train station is a ten minute walk away.",
    ),
    ("expenses", "Expense claims for travel must be filed within thirty days with receipts."),
    (
        "kestrel",
        "Kestrel project log: the kickoff was in March, the design review slipped a week, "
        "the team moved to the fourth floor, and Kestrel travel expenses are approved by "
        "Dana Ortiz.",
    ),
    ("toner", "Printer toner is ordered by the facilities team when a printer reports low toner."),
    (
        "lisbon",
        "Lisbon office notes: the desks were renumbered, the blinds were fixed, and the "
        "printer on floor three takes the K-77 toner, which Rui orders every month.",
    ),
    ("permits", "Parking permits are issued by reception and must be renewed every year."),
    (
        "porto",
        "Porto office notes: the kitchen was refitted, the plants are watered on Fridays, "
        "and Porto parking permits are handled by Marta in room 12.",
    ),
]
# question -> (the note that answers it, the note plain MiniLM retrieval ranks first)
HARD = {
    "What is the Wi-Fi password at the Tromso office?": ("tromso", "wifi-general"),
    "Which toner does the Lisbon printer take?": ("lisbon", "toner"),
}


@pytest.fixture(scope="module")
def store(dsn: str) -> InMemoryVectorStore:
    documents = [Document(page_content=text, metadata={"id": key}) for key, text in NOTES]
    return InMemoryVectorStore.from_documents(documents, LlamaSwapEmbeddings(model=EMBED, dsn=dsn))


def ids(documents: list[Document]) -> list[str]:
    return [d.metadata["id"] for d in documents]


@pytest.mark.parametrize("question", sorted(HARD))
def test_rerank_puts_the_answer_first_where_plain_retrieval_does_not(
    dsn: str, store: InMemoryVectorStore, question: str
) -> None:
    answer, dense_first = HARD[question]
    base = store.as_retriever(search_kwargs={"k": 4})
    plain = ids(base.invoke(question))
    assert plain[0] == dense_first and answer in plain  # retrieved, but not first

    retriever = ContextualCompressionRetriever(
        base_compressor=LlamaSwapRerank(model=RERANK, dsn=dsn, top_n=2), base_retriever=base
    )
    reranked = retriever.invoke(question)
    assert ids(reranked)[0] == answer and len(reranked) == 2
    scores = [d.metadata["relevance_score"] for d in reranked]
    assert scores[0] > scores[1]


async def test_async_retriever_reranks_the_same_way(dsn: str, store: InMemoryVectorStore) -> None:
    question = "Which toner does the Lisbon printer take?"
    retriever = ContextualCompressionRetriever(
        base_compressor=LlamaSwapRerank(model=RERANK, dsn=dsn, top_n=3),
        base_retriever=store.as_retriever(search_kwargs={"k": 4}),
    )
    reranked = await retriever.ainvoke(question)
    assert ids(reranked) == ids(retriever.invoke(question))
    assert ids(reranked)[0] == "lisbon"


# -- edit tool ---------------------------------------------------------------------------


class TestImageEditToolStandardIntegration(ToolsIntegrationTests):
    _dsn: str = ""
    _dir: Path = Path()

    @pytest.fixture(autouse=True)
    def _use_rig(self, dsn: str, tmp_path: Path) -> None:
        self._dsn, self._dir = dsn, tmp_path
        draw = LlamaSwapImageTool(model=IMAGE, dsn=dsn)
        draw.provider.generate_image("a fox", model=IMAGE, size="16x16")[0].save(
            tmp_path / "fox.png"
        )

    @property
    def tool_constructor(self) -> type[LlamaSwapImageEditTool]:
        return LlamaSwapImageEditTool

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return {"model": IMAGE, "dsn": self._dsn, "output_dir": self._dir}

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"image": "fox.png", "prompt": "make it blue", "size": "16x16", "seed": 1}


def test_draw_then_edit_the_saved_file(dsn: str, tmp_path: Path) -> None:
    """The edit tool takes the path the image tool reported, as an agent would pass it on."""
    draw = LlamaSwapImageTool(model=IMAGE, dsn=dsn, output_dir=tmp_path, default_size="32x24")
    edit = LlamaSwapImageEditTool(model=IMAGE, dsn=dsn, output_dir=tmp_path)
    drawn = draw.invoke(
        {"type": "tool_call", "id": "c1", "name": "generate_image", "args": {"prompt": "a fox"}}
    )
    path = drawn.artifact["images"][0]["path"]
    assert path in drawn.content
    edited = edit.invoke(
        {
            "type": "tool_call",
            "id": "c2",
            "name": "edit_image",
            "args": {"image": path, "prompt": "give the fox a hat"},
        }
    )
    assert edited.content.startswith("Edited 1 image (image/png) with model 'sd'; saved to ")
    (image,) = artifact_images(edited.artifact)
    with Image.open(io.BytesIO(image.data)) as picture:
        assert picture.size == (32, 24)
        source = Path(path).read_bytes()
        assert f"edit-of={hashlib.sha256(source).hexdigest()}" in picture.info["Comment"]
    assert Path(edited.artifact["images"][0]["path"]).read_bytes() == image.data


def test_agent_edits_a_file_through_llama_swap(dsn: str, tmp_path: Path) -> None:
    """A LangChain agent (ChatLlamaSwap as its model) calls the edit tool on a file.

    The model is the rig's scripted tool-calling test upstream (``scripted``), as in
    test_agent_draws_through_llama_swap: its ``__args__`` directive gives the image path and
    the instruction as separate arguments. The agent's call goes agent -> llama-swap ->
    scripted, the tool's agent -> llama-swap -> image upstream, which records the sha256 of
    the bytes it received in the PNG it answers with.
    """
    from langchain.agents import create_agent

    source = tmp_path / "fox.png"
    LlamaSwapImageTool(model=IMAGE, dsn=dsn).provider.generate_image(
        "a fox", model=IMAGE, size="24x16"
    )[0].save(source)
    tool = LlamaSwapImageEditTool(
        model=IMAGE, dsn=dsn, output_dir=tmp_path / "out", input_dirs=[tmp_path]
    )
    agent = create_agent(model=ChatLlamaSwap(dsn=dsn, model="scripted"), tools=[tool])
    wanted = {"image": "fox.png", "prompt": "give the fox a hat"}
    result = agent.invoke({"messages": [("human", f"Edit my fox __args__{json.dumps(wanted)}")]})
    messages = result["messages"]
    calls = [m for m in messages if isinstance(m, AIMessage) and m.tool_calls]
    assert len(calls) == 1 and calls[0].tool_calls[0]["name"] == "edit_image"
    assert calls[0].tool_calls[0]["args"] == wanted
    (tool_message,) = [m for m in messages if isinstance(m, ToolMessage)]
    assert tool_message.status == "success", tool_message.content
    (image,) = artifact_images(tool_message.artifact)
    assert image.mime_type == "image/png"
    with Image.open(io.BytesIO(image.data)) as picture:
        assert picture.format == "PNG" and picture.size == (24, 16)
        comment = picture.info["Comment"]
    assert f"edit-of={hashlib.sha256(source.read_bytes()).hexdigest()}" in comment
    assert Path(tool_message.artifact["images"][0]["path"]).read_bytes() == image.data
    final = messages[-1]
    assert isinstance(final, AIMessage) and not final.tool_calls
    assert str(final.content) == f"Tool result: {tool_message.content}"
    assert str(final.content).startswith("Tool result: Edited 1 image (image/png) with model 'sd'")
