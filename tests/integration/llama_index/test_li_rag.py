"""A real RAG run: VectorStoreIndex over tests/data/rag, MiniLM embeddings, Qwen answers.

The two are different llama-swap models and the rig runs one model at a time, so the
query swaps ``embed`` out and ``qwen`` in; the test watches that happen on ``/api/events``
and in ``/running``. The documents hold made-up facts, so a right answer can only come
from the retrieved text.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from llama_index.core import Settings, SimpleDirectoryReader, VectorStoreIndex
from llama_index.core.node_parser import SentenceSplitter

from llama_index_llamaswap import LlamaSwap, LlamaSwapEmbedding
from llamaswap import LlamaSwapProvider, ModelStatus

DOCS = Path(__file__).resolve().parents[2] / "data" / "rag"
CHAT, EMBED = "qwen", "embed"


class SwapWatcher:
    """Records (model, state) transitions of the watched models from /api/events."""

    def __init__(self, dsn: str, models: tuple[str, ...], until: tuple[str, str]) -> None:
        self.dsn, self.models, self.until = dsn, models, until
        self.seen: list[tuple[str, str]] = []
        self.connected = threading.Event()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        with LlamaSwapProvider(self.dsn) as watcher:  # its own connection, closed on return
            last: dict[str, str] = {}
            for event in watcher.events():
                if not isinstance(event, ModelStatus):
                    continue
                for model in self.models:
                    state = event.state_of(model)
                    if state and last.get(model) != state:
                        last[model] = state
                        self.seen.append((model, state))
                self.connected.set()
                if self.until in self.seen:
                    self.done.set()
                    return

    def __enter__(self) -> SwapWatcher:
        self.thread.start()
        assert self.connected.wait(15), "no modelStatus snapshot from /api/events"
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.wait(30)
        self.thread.join(5)


@pytest.fixture
def settings_restored() -> Iterator[None]:
    yield
    Settings._llm = None
    Settings._embed_model = None


def test_rag_over_repo_documents_with_a_real_swap(dsn: str, settings_restored: None) -> None:
    embed = LlamaSwapEmbedding(model=EMBED, dsn=dsn, embed_batch_size=8)
    llm = LlamaSwap(model=CHAT, dsn=dsn, max_tokens=24, temperature=0.0)
    provider = llm.provider
    assert embed.provider is provider  # one shared provider for the address
    Settings.embed_model = embed
    Settings.llm = llm
    provider.unload()

    documents = SimpleDirectoryReader(str(DOCS), required_exts=[".md"]).load_data()
    assert len(documents) == 5
    index = VectorStoreIndex.from_documents(
        documents, transformations=[SentenceSplitter(chunk_size=256, chunk_overlap=0)]
    )
    assert [r.model for r in provider.running()] == [EMBED]  # indexing ran on embed only

    # Retrieval alone (embed stays in): each question finds its own document.
    retriever = index.as_retriever(similarity_top_k=1)
    for question, source in [
        ("Which steam locomotive runs on the Fennick Valley line?", "railway.md"),
        ("What bread does the Velloria Street Bakery sell on Saturdays?", "bakery.md"),
        ("Who discovered a comet at Kettering Ridge?", "observatory.md"),
    ]:
        (hit,) = retriever.retrieve(question)
        assert hit.metadata["file_name"] == source, question
    assert [r.model for r in provider.running()] == [EMBED]

    # The full query: embed the question, swap to qwen, answer from the retrieved node.
    engine = index.as_query_engine(similarity_top_k=1)
    with SwapWatcher(dsn, (EMBED, CHAT), until=(CHAT, "ready")) as watcher:
        response = engine.query("What is the name of the cat at Harrowgate Point Lighthouse?")
    assert response.source_nodes[0].metadata["file_name"] == "lighthouse.md"
    assert "pemberton" in str(response).lower(), str(response)
    assert [r.model for r in provider.running()] == [CHAT]
    seen = watcher.seen
    assert seen[0] == (EMBED, "ready"), seen  # the snapshot: embed loaded from indexing
    assert (CHAT, "starting") in seen and (CHAT, "ready") in seen, seen
    assert seen.index((CHAT, "starting")) < seen.index((CHAT, "ready")), seen
    assert any(model == EMBED and state in ("stopping", "stopped") for model, state in seen), seen
