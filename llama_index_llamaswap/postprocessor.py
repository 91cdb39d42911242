"""``LlamaSwapRerank``: a LlamaIndex node postprocessor over a reranker behind llama-swap."""

from __future__ import annotations

from typing import Any

from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle

from llama_index_llamaswap._common import HasProvider, connect
from llamaswap import LlamaSwapProvider, RerankResult


class LlamaSwapRerank(HasProvider, BaseNodePostprocessor):
    """Rerank retrieved nodes with a reranker behind llama-swap (``POST /v1/rerank``).

    Use it in ``node_postprocessors=[...]`` of a query engine: the retriever's nodes come
    back best first, cut to ``top_n``, each ``NodeWithScore.score`` replaced by the
    reranker's score. The reranker is a llama-server started with ``--reranking`` (or
    anything speaking its ``/v1/rerank`` API). Nodes are sent as their text with the
    metadata an embedding would see (``MetadataMode.EMBED``).

    Args:
        model: the llama-swap id of the reranker.
        top_n: how many nodes to keep; ``None`` keeps all of them, reordered.
        dsn: ``llama-swap://[key@]host[:port]``; defaults to ``$LLAMASWAP_DSN``.
        api_key: the key of a llama-swap with ``apiKeys``; overrides a key in the DSN.
        base_url: a plain address without a key, instead of ``dsn`` (README: Address and key).
        timeout: seconds per ranking; ``None`` (default) waits out a model swap.

    Example:
        >>> from llama_index_llamaswap import LlamaSwapRerank
        >>> engine = index.as_query_engine(  # doctest: +SKIP
        ...     similarity_top_k=10, node_postprocessors=[LlamaSwapRerank(model="rerank")]
        ... )
    """

    model: str = Field(description="The llama-swap id of the reranker.")
    top_n: int | None = Field(default=3, ge=1, description="Nodes to keep; None keeps all.")
    dsn: str | None = Field(
        default=None,
        description="llama-swap address without the key; None reads $LLAMASWAP_DSN.",
    )
    timeout: float | None = Field(
        default=None, ge=0, description="Seconds per ranking; None waits out a swap."
    )

    _provider: LlamaSwapProvider = PrivateAttr()

    def __init__(
        self,
        model: str,
        dsn: str | None = None,
        *,
        top_n: int | None = 3,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> None:
        if not isinstance(model, str) or not model.strip():
            raise ValueError("model must name a reranker configured in llama-swap, e.g. 'rerank'")
        provider, kwargs["dsn"] = connect(dsn, api_key, base_url, kwargs)
        kwargs.update(model=model, top_n=top_n, timeout=timeout)
        super().__init__(**kwargs)
        self._provider = provider

    @classmethod
    def class_name(cls) -> str:
        """The id LlamaIndex stores in serialised objects."""
        return "LlamaSwapRerank"

    def _request(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None
    ) -> tuple[str, list[str], dict[str, Any]] | None:
        """The rerank arguments, or ``None`` when there is nothing to rank."""
        if query_bundle is None:
            raise ValueError(
                "LlamaSwapRerank needs the query to rank nodes against; "
                "pass query_bundle= (a query engine does)"
            )
        if not nodes:
            return None
        texts = [n.node.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]
        options: dict[str, Any] = {"model": self.model, "top_n": self.top_n}
        if self.timeout is not None:  # else the provider's client: bounded connect only
            options["timeout"] = self.timeout
        return query_bundle.query_str, texts, options

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        request = self._request(nodes, query_bundle)
        if request is None:
            return []
        query, texts, options = request
        return _rescored(nodes, self._provider.rerank(query, texts, **options))

    async def _apostprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        request = self._request(nodes, query_bundle)
        if request is None:
            return []
        query, texts, options = request
        return _rescored(nodes, await self._provider.arerank(query, texts, **options))


def _rescored(nodes: list[NodeWithScore], results: list[RerankResult]) -> list[NodeWithScore]:
    """New ``NodeWithScore`` objects in the reranker's order with its scores."""
    return [NodeWithScore(node=nodes[r.index].node, score=r.relevance_score) for r in results]
