"""Default document splitters against the rig's real MiniLM (``embed``, 512-token context).

LlamaIndex's SentenceSplitter (1024 tiktoken tokens a chunk) and LangChain's
RecursiveCharacterTextSplitter (4000 characters) both make chunks longer than MiniLM's
context; each such chunk is split by MiniLM's own tokenizer and pooled into one vector.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from langchain_text_splitters import RecursiveCharacterTextSplitter
from llama_index.core import SimpleDirectoryReader, VectorStoreIndex
from llama_index.core.node_parser import SentenceSplitter

from langchain_llamaswap import LlamaSwapEmbeddings
from llama_index_llamaswap import LlamaSwapEmbedding
from llamaswap import InputTooLongError

RAG = Path(__file__).resolve().parents[1] / "data" / "rag"
LIMIT = 512  # the rig's embed model: --ctx-size 512, listed as context_length


def long_text() -> str:
    """About 9 000 characters of plain English prose (the rig's RAG notes, five times)."""
    notes = [p.read_text() for p in sorted(RAG.glob("*.md"))]
    return "\n\n".join(notes * 5)


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    (tmp_path / "long.md").write_text(long_text())
    return tmp_path


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / math.hypot(*a) / math.hypot(*b)


def test_llama_index_default_chunks_index_and_retrieve(dsn: str, docs: Path) -> None:
    embed = LlamaSwapEmbedding(model="embed", dsn=dsn)
    documents = SimpleDirectoryReader(str(docs)).load_data()
    nodes = SentenceSplitter().get_nodes_from_documents(documents)
    sizes = [
        embed.provider.count_tokens(n.get_content(metadata_mode="embed"), model="embed")
        for n in nodes
    ]
    assert max(sizes) > LIMIT  # the default chunk really is too long for MiniLM
    index = VectorStoreIndex.from_documents(documents, embed_model=embed)
    hits = index.as_retriever(similarity_top_k=1).retrieve("Who keeps the lighthouse?")
    assert hits and hits[0].score is not None
    vectors = embed.get_text_embedding_batch([n.get_content(metadata_mode="embed") for n in nodes])
    assert all(math.isclose(math.hypot(*v), 1.0, rel_tol=1e-4) for v in vectors)


def test_langchain_default_chunks_embed_sync_and_async(dsn: str) -> None:
    import asyncio

    chunks = RecursiveCharacterTextSplitter().split_text(long_text())
    embeddings = LlamaSwapEmbeddings(model="embed", dsn=dsn)
    sizes = [embeddings.provider.count_tokens(c, model="embed", add_special=True) for c in chunks]
    assert max(sizes) > LIMIT
    vectors = embeddings.embed_documents(chunks)
    assert len(vectors) == len(chunks)
    assert all(math.isclose(math.hypot(*v), 1.0, rel_tol=1e-4) for v in vectors)
    again = asyncio.run(embeddings.aembed_documents(chunks))
    assert all(cosine(a, b) > 0.9999 for a, b in zip(vectors, again, strict=True))


def test_a_pooled_vector_stays_close_to_its_text(dsn: str) -> None:
    embeddings = LlamaSwapEmbeddings(model="embed", dsn=dsn)
    text = long_text()[:4000]
    assert embeddings.provider.count_tokens(text, model="embed", add_special=True) > LIMIT
    whole = embeddings.embed_query(text)
    head = embeddings.embed_query(text[:1500])  # fits: sent as is
    assert 0.5 < cosine(whole, head) < 0.9999
    unrelated = embeddings.embed_query("Quarterly revenue of a semiconductor company.")
    assert cosine(whole, head) > cosine(whole, unrelated)


def test_splitting_off_raises_naming_the_context_and_the_settings(dsn: str) -> None:
    text = long_text()[:4000]
    for model in (
        LlamaSwapEmbeddings(model="embed", dsn=dsn, split_long_inputs=False),
        LlamaSwapEmbedding(model="embed", dsn=dsn, split_long_inputs=False),
    ):
        with pytest.raises(InputTooLongError) as err:
            if isinstance(model, LlamaSwapEmbeddings):
                model.embed_documents([text])
            else:
                model.get_text_embedding(text)
        assert err.value.limit == LIMIT and err.value.tokens and err.value.tokens > LIMIT
        assert "512-token" in str(err.value) and "chunk_size" in str(err.value)
