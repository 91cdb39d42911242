"""``LlamaSwapEmbeddings``: LangChain embeddings from an embedding model behind llama-swap."""

from __future__ import annotations

from typing import Any

import openai
from langchain_core.embeddings import Embeddings
from langchain_core.utils import secret_from_env
from pydantic import (
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    model_validator,
)
from typing_extensions import Self

from langchain_llamaswap._common import LlamaSwapConnection, openai_client_kwargs
from langchain_llamaswap.errors import reraise
from llamaswap import (
    ENV_API_KEY,
    EmbedInput,
    aembed_in_context,
    embed_in_context,
)
from llamaswap import openai_compat as compat


class LlamaSwapEmbeddings(LlamaSwapConnection, Embeddings):
    """Embed text with an embedding model served by llama-swap (``POST /v1/embeddings``).

    Texts go out as plain strings in batches of ``chunk_size``, with no tiktoken. A text
    longer than the model's context (MiniLM's is 512 tokens, less than a default document
    chunk) is split by the model's own tokenizer, through llama-swap, into windows that
    fit; they go out as the model's token ids, and their vectors are averaged (weighted by
    tokens) into one, as ``OpenAIEmbeddings`` does for long texts. ``split_long_inputs=False``
    raises :class:`llamaswap.InputTooLongError` instead.

    Setup:
        ```bash
        pip install "llamaswap[langchain]"
        export LLAMASWAP_DSN="llama-swap://127.0.0.1:8080"
        ```

    Key init args:
        model:
            The llama-swap id of an embedding model (llama-server run with ``--embedding``).
        dsn:
            ``llama-swap://[key@]host[:port]``; defaults to ``$LLAMASWAP_DSN``.
        api_key:
            The llama-swap key, overriding one in the DSN, which overrides
            ``$LLAMASWAP_API_KEY`` (README: "Address and key").
        chunk_size:
            How many texts go in one request (default 32).
        dimensions:
            Ask for shorter vectors, if the server supports it.
        split_long_inputs / max_input_tokens:
            Split texts longer than the model's context (default on), and an optional
            limit below the model's own (e.g. 256 for MiniLM's training length).
        timeout / max_retries:
            As for ``ChatLlamaSwap``: no read bound and no retries by default, because the
            first request may wait for a model swap.

    Instantiate:
        ```python
        from langchain_llamaswap import LlamaSwapEmbeddings

        embeddings = LlamaSwapEmbeddings(dsn="llama-swap://127.0.0.1:8080", model="embed")
        ```

    Embed one text:
        ```python
        vector = embeddings.embed_query("The meaning of life is 42")
        len(vector)  # 384 for all-MiniLM-L6-v2
        ```

    Embed many texts:
        ```python
        vectors = embeddings.embed_documents(["Document 1...", "Document 2..."])
        ```

    Async:
        ```python
        await embeddings.aembed_query("The meaning of life is 42")
        await embeddings.aembed_documents(["Document 1...", "Document 2..."])
        ```

    Management:
        ```python
        embeddings.provider.load("embed")  # warm the model before a big batch
        ```
    """

    model: str
    """The llama-swap model id or alias of an embedding model."""

    api_key: SecretStr | str | None = Field(
        default_factory=secret_from_env(ENV_API_KEY, default=None)
    )
    """The llama-swap key; outranks a key in the DSN, which outranks ``$LLAMASWAP_API_KEY``."""

    base_url: str | None = None
    """A plain llama-swap address (no key), instead of ``dsn`` (not both)."""

    chunk_size: int = Field(default=32, ge=1)
    """Texts per request."""

    dimensions: int | None = None
    """Requested vector size (sent only when set)."""

    split_long_inputs: bool = True
    """Split texts longer than the model's context by its tokenizer and pool the pieces."""

    max_input_tokens: int | None = Field(default=None, ge=8)
    """A token limit below the model's context (``None``: the context llama-swap lists)."""

    timeout: float | Any | None = None
    """Request timeout; ``None``: 10 s to connect, no bound on waiting for a swap."""

    max_retries: int = 0
    """Opt-in retries of 429s and refused connections only (never 5xx or timeouts)."""

    default_headers: dict[str, str] | None = None
    """Extra headers for every request."""

    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Extra body fields for ``/v1/embeddings``."""

    http_client: Any | None = Field(default=None, exclude=True)
    """An ``httpx.Client`` to use instead of the shared provider's."""

    http_async_client: Any | None = Field(default=None, exclude=True)
    """An ``httpx.AsyncClient`` to use instead of the shared provider's."""

    _client: openai.OpenAI = PrivateAttr()
    _async_client: openai.AsyncOpenAI = PrivateAttr()

    model_config = ConfigDict(extra="forbid", populate_by_name=True, protected_namespaces=())

    @model_validator(mode="after")
    def _build_clients(self) -> Self:
        provider = self.provider
        params = openai_client_kwargs(
            provider,
            timeout=self.timeout,
            default_headers=self.default_headers,
            default_query=None,
        )
        self._client = compat.OpenAI(
            **params,
            http_client=provider.sdk_http_client(self.http_client, max_retries=self.max_retries),
        )
        self._async_client = compat.AsyncOpenAI(
            **params,
            http_client=provider.sdk_async_http_client(
                self.http_async_client, max_retries=self.max_retries
            ),
        )
        return self

    def _body(self, batch: list[EmbedInput]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "input": batch,
            "encoding_format": "float",
        }
        if self.dimensions is not None:
            body["dimensions"] = self.dimensions
        if self.model_kwargs:
            body["extra_body"] = dict(self.model_kwargs)
        return body

    def _send(self, batch: list[EmbedInput]) -> list[list[float]]:
        try:
            response = self._client.embeddings.create(**self._body(batch))
        except openai.OpenAIError as exc:
            reraise(exc)  # as the LangChain-flavoured error (langchain_llamaswap.errors)
        return compat.embedding_vectors(response)

    async def _asend(self, batch: list[EmbedInput]) -> list[list[float]]:
        try:
            response = await self._async_client.embeddings.create(**self._body(batch))
        except openai.OpenAIError as exc:
            reraise(exc)
        return compat.embedding_vectors(response)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed ``texts`` in batches of ``chunk_size``; one vector per text, in order."""
        return embed_in_context(
            self.provider,
            texts,
            model=self.model,
            send=self._send,
            split_long_inputs=self.split_long_inputs,
            max_input_tokens=self.max_input_tokens,
            batch_size=self.chunk_size,
        )

    def embed_query(self, text: str) -> list[float]:
        """Embed one text."""
        return self.embed_documents([text])[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Async :meth:`embed_documents`."""
        return await aembed_in_context(
            self.provider,
            texts,
            model=self.model,
            send=self._asend,
            split_long_inputs=self.split_long_inputs,
            max_input_tokens=self.max_input_tokens,
            batch_size=self.chunk_size,
        )

    async def aembed_query(self, text: str) -> list[float]:
        """Async :meth:`embed_query`."""
        return (await self.aembed_documents([text]))[0]
