"""``LlamaSwapRerank``: a LangChain document compressor over a reranker behind llama-swap."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import Callbacks
from langchain_core.documents import BaseDocumentCompressor, Document
from langchain_core.utils import secret_from_env
from pydantic import ConfigDict, Field, SecretStr, model_validator
from typing_extensions import Self

from langchain_llamaswap._common import LlamaSwapConnection
from llamaswap import ENV_API_KEY, RerankResult

SCORE_KEY = "relevance_score"


class LlamaSwapRerank(LlamaSwapConnection, BaseDocumentCompressor):
    """Rerank retrieved documents with a reranker behind llama-swap (``POST /v1/rerank``).

    A ``BaseDocumentCompressor``, so it drops into ``ContextualCompressionRetriever``: the
    retriever's documents come back best first, cut to ``top_n``, each a copy with the
    reranker's score in ``metadata["relevance_score"]``. The reranker is a llama-server
    started with ``--reranking`` (or anything speaking its ``/v1/rerank`` API).

    Setup:
        ```bash
        pip install "llamaswap[langchain]"
        export LLAMASWAP_DSN="llama-swap://127.0.0.1:8080"
        ```

    Instantiate:
        ```python
        from langchain_llamaswap import LlamaSwapRerank

        reranker = LlamaSwapRerank(model="bge-reranker", top_n=3)
        ```

    In a retriever:
        ```python
        from langchain_classic.retrievers import ContextualCompressionRetriever

        retriever = ContextualCompressionRetriever(
            base_compressor=reranker, base_retriever=store.as_retriever(k=10)
        )
        retriever.invoke("Which toner does the Lisbon printer take?")
        ```

    Directly:
        ```python
        reranker.compress_documents(docs, "Which toner?")
        await reranker.acompress_documents(docs, "Which toner?")
        ```
    """

    model: str
    """The llama-swap id of the reranker."""

    top_n: int | None = Field(default=3, ge=1)
    """How many documents to keep, best first; ``None`` keeps them all (reordered)."""

    api_key: SecretStr | str | None = Field(
        default_factory=secret_from_env(ENV_API_KEY, default=None)
    )
    """The llama-swap key; outranks a key in the DSN, which outranks ``$LLAMASWAP_API_KEY``."""

    base_url: str | None = None
    """A plain llama-swap address (no key), instead of ``dsn`` (not both)."""

    timeout: float | None = None
    """Seconds to wait for the ranking; ``None``: as long as a model swap takes."""

    model_config = ConfigDict(arbitrary_types_allowed=True, protected_namespaces=())

    @model_validator(mode="after")
    def _check_address(self) -> Self:
        _ = self.provider  # a malformed DSN fails here, as for the other classes
        return self

    def _timeout(self) -> dict[str, Any]:
        # None keeps the provider's timeout: connecting stays bounded, a swap is not.
        return {} if self.timeout is None else {"timeout": self.timeout}

    def compress_documents(
        self,
        documents: Sequence[Document],
        query: str,
        callbacks: Callbacks | None = None,
    ) -> Sequence[Document]:
        """The documents most relevant to ``query``, best first, scores in metadata."""
        if not documents:
            return []  # nothing retrieved: nothing to rank, and no request
        results = self.provider.rerank(
            query,
            [d.page_content for d in documents],
            model=self.model,
            top_n=self.top_n,
            **self._timeout(),
        )
        return _scored(documents, results)

    async def acompress_documents(
        self,
        documents: Sequence[Document],
        query: str,
        callbacks: Callbacks | None = None,
    ) -> Sequence[Document]:
        """Async :meth:`compress_documents`."""
        if not documents:
            return []
        results = await self.provider.arerank(
            query,
            [d.page_content for d in documents],
            model=self.model,
            top_n=self.top_n,
            **self._timeout(),
        )
        return _scored(documents, results)


def _scored(documents: Sequence[Document], results: list[RerankResult]) -> list[Document]:
    """Copies of the ranked documents (the originals stay untouched), score in metadata."""
    out = []
    for result in results:
        original = documents[result.index]
        metadata = {**original.metadata, SCORE_KEY: result.relevance_score}
        out.append(original.model_copy(update={"metadata": metadata}))
    return out
