"""Rerank *test upstream* speaking llama-server's rerank API. NOT a reranking model.

No reranker GGUF can be had from a package here, so this stands in for ``llama-server
--reranking``: it answers ``POST /v1/rerank`` (and ``/rerank``, ``/reranking``,
``/v1/reranking``) in llama-server's current shape, ``{"model", "object": "list", "usage",
"results": [{"index", "relevance_score"}]}`` sorted best first and cut to ``top_n``, and a
TEI-style request (``texts`` instead of ``documents``) with TEI's bare list of
``{"index", "score"}``. Scores are Okapi BM25 of the query's words in each document, with
document frequencies taken over the documents of the request and a mild length penalty
(b=0.5, so a long document holding the fact is not buried by its length): deterministic,
and a real lexical relevance signal, so a rerank step measurably reorders a dense
retriever's results on questions that hinge on a rare word. ``--shape legacy`` answers as
the first llama-server builds did (document order, no ``top_n`` cut).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # rig/, when run as a script
from llamaswap_rig.upstreams._base import UpstreamHandler, UpstreamServer, serve

NAME = "rerank test upstream (llama-server rerank API, BM25 word scores; not a reranker model)"
ROUTES = ("/rerank", "/reranking", "/v1/rerank", "/v1/reranking")
K1, B = 1.2, 0.5
STOPWORDS = frozenset(
    re.findall(
        r"\w+",
        "a an and are as at be by can do does for from how i in is it its of on or that "
        "the this to was what when where which who why will with you your",
    )
)


class Settings:
    model = "rerank-test"
    shape = "current"


def words(text: str) -> list[str]:
    """Lower-cased word stems without stopwords (a plural ``s`` is dropped)."""
    out = []
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        if word in STOPWORDS:
            continue
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        out.append(word)
    return out


def bm25_scores(query: str, documents: list[str]) -> list[float]:
    """Okapi BM25 of ``query`` against each document, IDF over these documents."""
    docs = [words(d) for d in documents]
    n = len(docs)
    avg = sum(len(d) for d in docs) / n or 1.0
    df = Counter(w for d in docs for w in set(d))
    terms = words(query)
    scores = []
    for doc in docs:
        tf = Counter(doc)
        score = 0.0
        for term in terms:
            if not tf[term]:
                continue
            idf = math.log(1 + (n - df[term] + 0.5) / (df[term] + 0.5))
            norm = tf[term] * (K1 + 1) / (tf[term] + K1 * (1 - B + B * len(doc) / avg))
            score += idf * norm
        scores.append(round(score, 6))
    return scores


def _error(status: int, message: str) -> dict[str, Any]:
    kind = "invalid_request_error" if status == 400 else "server_error"
    return {"error": {"code": status, "message": message, "type": kind}}


class Handler(UpstreamHandler):
    tag = "rerank"
    server_version = "llamaswap-rig-rerank/1"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/health":
            self._send_json(200, {"status": "ok", "upstream": NAME})
        elif path in ("/v1/models", "/models"):
            model = {"id": Settings.model, "object": "model", "owned_by": "llamaswap-rig"}
            self._send_json(200, {"object": "list", "data": [model]})
        else:
            self._send_json(404, _error(404, f"File Not Found: {path}"))

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if path not in ROUTES:
            self._send_json(404, _error(404, f"File Not Found: {path}"))
            return
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError as exc:
            self._send_json(400, _error(400, f"invalid JSON body: {exc}"))
            return
        if not isinstance(body, dict):
            self._send_json(400, _error(400, "body must be a JSON object"))
            return
        tei = "texts" in body
        query, documents = body.get("query"), body.get("texts" if tei else "documents")
        if not isinstance(query, str):
            self._send_json(400, _error(400, '"query" must be a string'))
            return
        if (
            not isinstance(documents, list)
            or not documents
            or not all(isinstance(d, str) for d in documents)
        ):
            self._send_json(400, _error(400, '"documents" must be a non-empty string array'))
            return
        scores = bm25_scores(query, documents)
        label = "score" if tei else "relevance_score"
        items: list[dict[str, Any]] = [{"index": i, label: score} for i, score in enumerate(scores)]
        if tei and body.get("return_text"):
            for item in items:
                item["text"] = documents[item["index"]]
        if Settings.shape == "current" or tei:
            items.sort(key=lambda item: -item[label])
            top_n = body.get("top_n")
            if isinstance(top_n, int) and not isinstance(top_n, bool):
                items = items[: max(top_n, 0)]
        if tei:
            self._send_json(200, items)
            return
        tokens = sum(len(words(query)) + len(words(d)) for d in documents)
        self._send_json(
            200,
            {
                "model": body.get("model") or Settings.model,
                "object": "list",
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
                "results": items,
            },
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=NAME)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--model", default="rerank-test")
    parser.add_argument("--shape", choices=("current", "legacy"), default="current")
    args = parser.parse_args(argv)
    Settings.model, Settings.shape = args.model, args.shape
    return serve(UpstreamServer((args.host, args.port), Handler), tag="rerank", name=NAME)


if __name__ == "__main__":
    raise SystemExit(main())
