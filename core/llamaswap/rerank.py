"""Reranking requests and results (llama-server's ``POST /v1/rerank``), pure functions.

llama-server has answered reranks in three shapes over its releases: the first builds sent
``{"results": [{"index", "relevance_score"}]}`` in document order, later ones sort that list
best first and cut it to ``top_n``, and a request in TEI's style gets a bare list of
``{"index", "score"}``. All three are read here, and the results are always sorted best
first and cut to ``top_n`` on this side too, so callers see one behaviour whatever the build.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from llamaswap.errors import ResponseDecodeError

RERANK_PATH = "/v1/rerank"


@dataclass(frozen=True)
class RerankResult:
    """One document's place in a rerank.

    Attributes:
        index: the document's position in the list that was sent.
        relevance_score: the reranker's score; higher is more relevant. Its scale is the
            model's own (llama-server passes raw scores through), so compare scores from one
            call, not across models.
        document: the document text that was sent at ``index``.
    """

    index: int
    relevance_score: float
    document: str


def build_rerank_request(
    query: str, documents: Sequence[str], *, model: str, top_n: int | None = None
) -> dict[str, Any]:
    """Validate the arguments and build the JSON body; errors say what to fix."""
    if not isinstance(query, str) or not query.strip():
        raise ValueError("query must be a non-empty string to rank the documents against")
    if isinstance(documents, str | bytes) or not isinstance(documents, Sequence):
        raise ValueError(
            "documents must be a list of strings (got a single "
            f"{type(documents).__name__}); wrap one document in a list"
        )
    if not documents:
        raise ValueError("documents is empty: pass at least one document to rerank")
    for i, doc in enumerate(documents):
        if not isinstance(doc, str):
            raise ValueError(
                f"documents[{i}] is a {type(doc).__name__}, not a string; pass each document's text"
            )
    if not isinstance(model, str) or not model.strip():
        raise ValueError("model must name a reranker configured in llama-swap (see list_models())")
    body: dict[str, Any] = {"model": model, "query": query, "documents": list(documents)}
    if top_n is not None:
        if isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1:
            raise ValueError(
                f"top_n must be a positive integer (how many results to keep), got {top_n!r}"
            )
        body["top_n"] = top_n
    return body


def parse_rerank_response(
    body: Any, documents: Sequence[str], *, top_n: int | None = None, url: str = ""
) -> list[RerankResult]:
    """Read any rerank answer llama-server has sent into results sorted best first."""
    if isinstance(body, Mapping) and isinstance(body.get("results"), list):
        items: list[Any] = body["results"]
    elif isinstance(body, list):
        items = body  # TEI's shape: a bare list
    else:
        raise ResponseDecodeError(
            "the reranker did not return a 'results' list (is the model started with --reranking?)",
            url=url,
            body=repr(body)[:200],
        )
    results: list[RerankResult] = []
    seen: set[int] = set()
    for position, item in enumerate(items):
        index = item.get("index") if isinstance(item, Mapping) else None
        if isinstance(index, bool) or not isinstance(index, int):
            raise ResponseDecodeError(
                f"rerank result {position} has no integer 'index'", url=url, body=repr(item)[:200]
            )
        if not 0 <= index < len(documents) or index in seen:
            raise ResponseDecodeError(
                f"rerank result {position} names document {index}, but {len(documents)} "
                "were sent" + (" and it was already ranked" if index in seen else ""),
                url=url,
                body=repr(item)[:200],
            )
        seen.add(index)
        results.append(RerankResult(index, _score(item, position, url), documents[index]))
    results.sort(key=lambda r: (-r.relevance_score, r.index))
    return results[:top_n] if top_n is not None else results


def _score(item: Mapping[str, Any], position: int, url: str) -> float:
    score = item.get("relevance_score", item.get("score"))
    if isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score):
        raise ResponseDecodeError(
            f"rerank result {position} has no finite 'relevance_score' (or 'score')",
            url=url,
            body=repr(item)[:200],
        )
    return float(score)
