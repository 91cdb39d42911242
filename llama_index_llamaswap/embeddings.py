"""``LlamaSwapEmbedding``: LlamaIndex embeddings from a llama-swap model (``/v1/embeddings``).

Requests go through the OpenAI SDK on the shared provider's pooled httpx clients, ask for
``encoding_format: "float"`` (llama.cpp's server answers it everywhere) and send one
request per batch of ``embed_batch_size`` inputs. A text longer than the model's context
(LlamaIndex's default 1024-token chunk is longer than MiniLM's 512) is split by the
model's own tokenizer and its pieces' vectors pooled into one (see
:func:`llamaswap.embed_in_context`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.constants import DEFAULT_EMBED_BATCH_SIZE
from openai import AsyncOpenAI, OpenAI

from llama_index_llamaswap._common import HasProvider, connect
from llamaswap import (
    EmbedInput,
    LlamaSwapProvider,
    aembed_in_context,
    embed_in_context,
)
from llamaswap import openai_compat as compat


class LlamaSwapEmbedding(HasProvider, BaseEmbedding):
    """Embeddings from a llama-swap model, usable as ``Settings.embed_model``.

    Args:
        model: the llama-swap model id of an embedding model (``model_name`` also works).
        dsn: ``llama-swap://[key@]host[:port]``; defaults to ``$LLAMASWAP_DSN``.
        api_key: the key of a llama-swap with ``apiKeys``; overrides a key in the DSN.
        base_url: a plain address without a key, instead of ``dsn`` (README: Address and key).
        embed_batch_size: texts per request (LlamaIndex splits larger lists).
        dimensions: ask for this many dimensions (only models that support it).
        query_instruction: prefix for queries (e.g. ``"query: "`` for e5 models).
        text_instruction: prefix for documents (e.g. ``"passage: "``).
        timeout: seconds per request; ``None`` never times out a read (cold swaps).
        max_retries: opt-in retries of a 429 (after its ``Retry-After``) or a refused
            connection only; never a 5xx or a timeout, which may have started a swap.
        split_long_inputs: split texts longer than the model's context by its own
            tokenizer (through llama-swap) and pool the pieces' vectors, weighted by
            tokens (default); ``False`` raises :class:`llamaswap.InputTooLongError`.
        max_input_tokens: a token limit below the model's context (``None``: the
            context llama-swap lists for the model).
        verify, cert, max_connections, max_keepalive_connections: the pool and TLS
            settings of the shared provider (README: Connections, TLS and your own client).

    Example:
        >>> from llama_index.core import Settings
        >>> from llama_index_llamaswap import LlamaSwapEmbedding
        >>> Settings.embed_model = LlamaSwapEmbedding(model="embed")  # doctest: +SKIP
    """

    dsn: str | None = Field(
        default=None,
        description="llama-swap address without the key; None reads $LLAMASWAP_DSN.",
    )
    api_key: str | None = Field(default=None, exclude=True, repr=False)
    dimensions: int | None = Field(default=None, gt=0, description="Requested dimensions.")
    query_instruction: str | None = Field(default=None, description="Prefix for queries.")
    text_instruction: str | None = Field(default=None, description="Prefix for documents.")
    timeout: float | None = Field(
        default=None, ge=0, description="Seconds per request; None never times out a read."
    )
    max_retries: int = Field(
        default=0, ge=0, description="Retries of 429s and refused connections only."
    )
    split_long_inputs: bool = Field(
        default=True, description="Split inputs longer than the model's context, then pool."
    )
    max_input_tokens: int | None = Field(
        default=None, ge=8, description="Token limit below the model's context, if any."
    )

    _provider: LlamaSwapProvider = PrivateAttr()
    _client: OpenAI | None = PrivateAttr(default=None)
    _aclient: AsyncOpenAI | None = PrivateAttr(default=None)

    def __init__(
        self,
        model: str | None = None,
        dsn: str | None = None,
        *,
        model_name: str | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        embed_batch_size: int = DEFAULT_EMBED_BATCH_SIZE,
        **kwargs: Any,
    ) -> None:
        if model is not None and model_name is not None and model != model_name:
            raise ValueError("pass model= or model_name=, not two different names")
        name = model if model is not None else model_name
        if not isinstance(name, str) or not name:
            raise ValueError("model must be a llama-swap embedding model id such as 'embed'")
        provider, kwargs["dsn"] = connect(dsn, api_key, base_url, kwargs)
        super().__init__(model_name=name, embed_batch_size=embed_batch_size, **kwargs)
        self._provider = provider

    @classmethod
    def class_name(cls) -> str:
        """The id LlamaIndex stores in serialised objects."""
        return "LlamaSwapEmbedding"

    # -- clients ---------------------------------------------------------------------------

    def _client_kwargs(self) -> dict[str, Any]:
        return compat.client_kwargs(
            base_url=self._provider.openai_base_url,
            api_key=self._provider.api_key,
            timeout=self.timeout,
        )

    def _get_client(self) -> OpenAI:
        if self._client is None:
            self._client = compat.OpenAI(
                **self._client_kwargs(),
                http_client=self._provider.sdk_http_client(max_retries=self.max_retries),
            )
        return self._client

    def _get_aclient(self) -> AsyncOpenAI:
        if self._aclient is None:  # its httpx client follows the pool to each event loop
            self._aclient = compat.AsyncOpenAI(
                **self._client_kwargs(),
                http_client=self._provider.sdk_async_http_client(max_retries=self.max_retries),
            )
        return self._aclient

    def _request(self, texts: Sequence[EmbedInput]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model_name,
            "input": list(texts),
            "encoding_format": "float",
        }
        if self.dimensions is not None:
            body["dimensions"] = self.dimensions
        return body

    # -- texts -----------------------------------------------------------------------------

    def _send(self, inputs: list[EmbedInput]) -> list[list[float]]:
        response = self._get_client().embeddings.create(**self._request(inputs))
        return compat.embedding_vectors(response)

    async def _asend(self, inputs: list[EmbedInput]) -> list[list[float]]:
        response = await self._get_aclient().embeddings.create(**self._request(inputs))
        return compat.embedding_vectors(response)

    def _embed(self, texts: list[str]) -> list[list[float]]:
        return embed_in_context(
            self._provider,
            texts,
            model=self.model_name,
            send=self._send,
            split_long_inputs=self.split_long_inputs,
            max_input_tokens=self.max_input_tokens,
            batch_size=self.embed_batch_size,
        )

    async def _aembed(self, texts: list[str]) -> list[list[float]]:
        return await aembed_in_context(
            self._provider,
            texts,
            model=self.model_name,
            send=self._asend,
            split_long_inputs=self.split_long_inputs,
            max_input_tokens=self.max_input_tokens,
            batch_size=self.embed_batch_size,
        )

    def _as_query(self, query: str) -> str:
        return f"{self.query_instruction}{query}" if self.query_instruction else query

    def _as_text(self, text: str) -> str:
        return f"{self.text_instruction}{text}" if self.text_instruction else text

    def _get_query_embedding(self, query: str) -> list[float]:
        """Embed one query (with ``query_instruction``)."""
        return self._embed([self._as_query(query)])[0]

    async def _aget_query_embedding(self, query: str) -> list[float]:
        """Async :meth:`_get_query_embedding`."""
        return (await self._aembed([self._as_query(query)]))[0]

    def _get_text_embedding(self, text: str) -> list[float]:
        """Embed one document (with ``text_instruction``)."""
        return self._embed([self._as_text(text)])[0]

    async def _aget_text_embedding(self, text: str) -> list[float]:
        """Async :meth:`_get_text_embedding`."""
        return (await self._aembed([self._as_text(text)]))[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        """Embed one batch of documents in a single request."""
        return self._embed([self._as_text(t) for t in texts])

    async def _aget_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        """Async :meth:`_get_text_embeddings`."""
        return await self._aembed([self._as_text(t) for t in texts])
