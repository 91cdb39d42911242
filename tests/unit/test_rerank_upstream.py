"""The rerank test upstream speaks each llama-server rerank shape, and core reads them all.

The upstream runs in a thread here (no llama-swap): current llama-server (sorted, cut to
``top_n``), the first builds (``--shape legacy``: document order, no cut) and TEI's style
(``texts`` in, a bare list with ``score`` out). Core's parser must give the same ranking
for all three.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest

from llamaswap.rerank import parse_rerank_response
from llamaswap_rig.upstreams import rerank as upstream

DOCS = [
    "Dogs bark at the mail carrier.",
    "The Lisbon printer takes K-77 toner.",
    "Printer toner is ordered by facilities.",
]
QUERY = "Which toner does the Lisbon printer take?"


@pytest.fixture
def serve() -> Iterator[str]:
    server = upstream.UpstreamServer(("127.0.0.1", 0), upstream.Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)
    upstream.Settings.shape = "current"


def test_bm25_prefers_the_document_with_the_rare_query_words() -> None:
    scores = upstream.bm25_scores(QUERY, DOCS)
    assert scores[1] > scores[2] > scores[0] == 0.0
    assert upstream.words("The Printers' toner") == ["printer", "toner"]


def test_current_shape_is_sorted_and_cut(serve: str) -> None:
    body = {"model": "m", "query": QUERY, "documents": DOCS, "top_n": 2}
    answer = httpx.post(f"{serve}/v1/rerank", json=body).json()
    assert answer["object"] == "list" and answer["usage"]["total_tokens"] > 0
    assert [r["index"] for r in answer["results"]] == [1, 2]


def test_every_shape_reads_to_the_same_ranking(serve: str) -> None:
    current = httpx.post(f"{serve}/rerank", json={"query": QUERY, "documents": DOCS}).json()
    tei = httpx.post(f"{serve}/rerank", json={"query": QUERY, "texts": DOCS}).json()
    upstream.Settings.shape = "legacy"
    legacy = httpx.post(f"{serve}/v1/reranking", json={"query": QUERY, "documents": DOCS}).json()
    assert isinstance(tei, list) and "score" in tei[0]
    assert [r["index"] for r in legacy["results"]] == [0, 1, 2]  # document order
    rankings = {
        name: [(r.index, r.relevance_score) for r in parse_rerank_response(a, DOCS, top_n=2)]
        for name, a in (("current", current), ("tei", tei), ("legacy", legacy))
    }
    assert rankings["current"] == rankings["tei"] == rankings["legacy"]
    assert [i for i, _ in rankings["current"]] == [1, 2]


def test_bad_requests_get_llama_server_style_400s(serve: str) -> None:
    empty = httpx.post(f"{serve}/v1/rerank", json={"query": "q", "documents": []})
    assert empty.status_code == 400
    assert empty.json()["error"]["message"] == '"documents" must be a non-empty string array'
    assert httpx.post(f"{serve}/v1/rerank", json={"documents": ["a"]}).status_code == 400
