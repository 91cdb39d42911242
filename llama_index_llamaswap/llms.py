"""``LlamaSwap``: a LlamaIndex LLM for models served by llama-swap.

The wire is LlamaIndex's own OpenAI-compatible client (``OpenAILike``); this class only
fixes the defaults that are wrong for llama-swap: the address and key come from a DSN,
the model is a chat and function-calling model, the context window is read from
llama-swap's model list, requests never time out while a model swaps in, retries are off
(a retried POST can swap models back and forth), and ``max_tokens`` keeps its legacy name
that llama.cpp's server honours.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from llama_index.core.base.llms.types import LLMMetadata
from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.constants import DEFAULT_CONTEXT_WINDOW
from llama_index.llms.openai_like import OpenAILike  # type: ignore[import-untyped]
from openai import AsyncOpenAI, OpenAI

from llama_index_llamaswap._common import HasProvider, connect
from llama_index_llamaswap.loading import awith_loading, with_loading
from llamaswap import (
    LISTING_MAX_AGE,
    PLACEHOLDER_API_KEY,
    LlamaSwapError,
    LlamaSwapProvider,
    NotFoundError,
)
from llamaswap import openai_compat as compat

logger = logging.getLogger("llama_index_llamaswap")

FALLBACK_CONTEXT_WINDOW = DEFAULT_CONTEXT_WINDOW
"""Used when llama-swap does not report a context size for the model (3900 tokens,
LlamaIndex's own default, which leaves slack inside a 4096-token llama.cpp context)."""

CONTEXT_RETRY_AFTER = LISTING_MAX_AGE
"""Seconds a failed context-window lookup is remembered before llama-swap is asked again."""


class _Lookup:
    """What one ``LlamaSwap`` learnt from llama-swap's listing (see ``_looked_up``)."""

    __slots__ = ("context", "failed_at", "resolved", "tools", "warned")

    def __init__(self) -> None:
        self.context: int | None = None
        self.resolved = False
        self.warned = False
        self.failed_at: float | None = None
        # Whether the listed capabilities include tools; None when they say nothing
        # (no capabilities config, or no answer yet). Worked out once, at the lookup.
        self.tools: bool | None = None


class LlamaSwap(HasProvider, OpenAILike):  # type: ignore[misc]
    """A model served by llama-swap, as a LlamaIndex chat and function-calling LLM.

    Args:
        model: the llama-swap model id (or alias) to send as ``model``.
        dsn: ``llama-swap://[key@]host[:port]`` or an ``http(s)://`` URL; defaults to
            ``$LLAMASWAP_DSN``, then ``llama-swap://localhost:8080``.
        api_key: the key of a llama-swap with ``apiKeys``; overrides a key in the DSN.
        base_url: a plain address without a key, instead of ``dsn`` (README: Address and key).
            Without any key a placeholder is sent, which llama-swap ignores.
        max_tokens: sent as ``max_tokens`` (not ``max_completion_tokens``).
        context_window: leave unset to read it from llama-swap's ``/v1/models`` record
            (``context_length`` / ``meta.n_ctx``) without loading the model; falls back
            to :data:`FALLBACK_CONTEXT_WINDOW` when the server does not report one.
        timeout: seconds per request; ``None`` (default) never times out a read,
            because a cold model swap can take minutes.
        max_retries: opt-in retries, 0 by default. Only what started nothing is retried:
            a 429 over ``concurrencyLimit`` (after its ``Retry-After``, capped) and a
            refused connection; never a 5xx, a timeout or a cut-off stream (a resent POST
            can make models thrash). They are kept as ``safe_retries``: LlamaIndex's own
            ``max_retries`` (its retry decorator, the OpenAI SDK's retries) stays 0.
        verify, cert, max_connections, max_keepalive_connections: the pool and TLS
            settings of the shared provider (README: Connections, TLS and your own client).

    With llama-swap's ``sendLoadingState`` on, its progress while the model loads is kept
    out of the reasoning (``thinking_delta``): each piece is in a streamed response's
    ``additional_kwargs["llamaswap_loading"]`` and is dispatched to LlamaIndex
    instrumentation as a ``LlamaSwapLoadingEvent`` (``model``, ``elapsed``, ``status``).

    Errors are llama-swap's typed errors (``llamaswap.RateLimitError`` ...) that are also
    the OpenAI SDK's classes (``openai.RateLimitError`` ...); a stream cut off mid-answer
    raises ``llamaswap.IncompleteResponseError``.

    Other ``OpenAILike`` arguments (``temperature``, ``additional_kwargs``,
    ``is_function_calling_model``, ``http_client`` ...) pass through.

    llama.cpp's sampling settings go in ``additional_kwargs`` (or as call keywords):
    ``additional_kwargs={"top_k": 20, "min_p": 0.05, "repeat_penalty": 1.1}``, and
    ``{"chat_template_kwargs": {"enable_thinking": False}}`` for a thinking template.
    Fields the OpenAI API lacks are sent in the body under their own names.

    Example:
        >>> from llama_index_llamaswap import LlamaSwap
        >>> llm = LlamaSwap(model="qwen", dsn="llama-swap://127.0.0.1:8080", max_tokens=64)
        >>> print(llm.complete("Say hi"))  # doctest: +SKIP
        >>> llm.provider.running()  # doctest: +SKIP
    """

    dsn: str | None = Field(
        default=None,
        description="llama-swap address without the key; None reads $LLAMASWAP_DSN.",
    )
    api_key: str | None = Field(default=None, exclude=True, repr=False)
    api_base: str | None = Field(
        default=None, exclude=True, description="<dsn>/v1, derived from the DSN."
    )
    context_window: int | None = Field(
        default=None,
        gt=0,
        description="Context size in tokens; None reads it from llama-swap's /v1/models.",
    )
    is_chat_model: bool = Field(default=True, description="Use /v1/chat/completions.")
    is_function_calling_model: bool = Field(
        default=True, description="Send OpenAI tools (llama-server supports them)."
    )
    timeout: float | None = Field(
        default=None,
        ge=0,
        description="Seconds per request; None never times out a read (cold swaps).",
    )
    max_retries: int = Field(
        default=0, ge=0, le=0, description="LlamaIndex's and the SDK's retries: always off."
    )
    safe_retries: int = Field(
        default=0,
        ge=0,
        description="Retries of 429s and refused connections only (never 5xx or timeouts).",
    )

    _provider: LlamaSwapProvider = PrivateAttr()
    _client: OpenAI | None = PrivateAttr(default=None)
    _aclient: AsyncOpenAI | None = PrivateAttr(default=None)
    # One private attribute for the lookup's state: LlamaIndex reads metadata several
    # times per call. The per-call reads take it (and the SDK clients) from
    # __pydantic_private__ itself (see _private).
    _lookup: _Lookup = PrivateAttr(default_factory=lambda: _Lookup())

    def __init__(
        self,
        model: str,
        dsn: str | None = None,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | None = None,
        max_retries: int = 0,
        **kwargs: Any,
    ) -> None:
        if kwargs.get("api_base") is not None:
            raise TypeError(
                "LlamaSwap takes dsn= (e.g. 'llama-swap://host:8080') or base_url=, not api_base="
            )
        kwargs.pop("api_base", None)
        if not isinstance(model, str) or not model:
            raise ValueError("model must be a llama-swap model id such as 'qwen'")
        provider, address = connect(dsn, api_key, base_url, kwargs)
        # LlamaIndex's retry decorator resends 5xx answers and timeouts, which may have
        # started a model swap, whenever its max_retries is above 0: it stays 0, and the
        # caller's count goes to llamaswap's retry layer (what started nothing only).
        safe_retries = kwargs.pop("safe_retries", 0)  # as to_dict() wrote it
        safe_retries = max_retries or safe_retries
        super().__init__(
            model=model,
            dsn=address,
            api_base=provider.openai_base_url,
            api_key=provider.api_key or PLACEHOLDER_API_KEY,
            timeout=timeout,
            max_retries=0,
            safe_retries=safe_retries,
            **kwargs,
        )
        self._provider = provider

    @classmethod
    def class_name(cls) -> str:
        """The id LlamaIndex stores in serialised objects."""
        return "LlamaSwap"

    # -- context window --------------------------------------------------------------

    @property
    def metadata(self) -> LLMMetadata:
        """LlamaIndex's view of the model; the context window comes from llama-swap."""
        context_window, function_calling = self._resolved()
        return LLMMetadata(
            context_window=context_window,
            num_output=self.max_tokens or -1,
            is_chat_model=self.is_chat_model,
            is_function_calling_model=function_calling,
            model_name=self.model,
        )

    def resolved_context_window(self) -> int:
        """The caller's ``context_window``, else llama-swap's, else the fallback.

        The server is asked once (``GET /v1/models``, which never loads a model). A
        listed or unknown model is remembered; an unreachable server, a refused key or
        a server error is remembered for ``CONTEXT_RETRY_AFTER`` seconds, then asked again
        (LlamaIndex reads metadata several times per call).
        """
        return self._resolved()[0]

    def _resolved(self) -> tuple[int, bool]:
        """The context window and whether the model calls functions, from one lookup.

        LlamaIndex reads ``metadata`` three times per call: the rules of
        :meth:`resolved_context_window` and :meth:`resolved_function_calling` are applied
        here, to one look at the remembered lookup (none when the caller gave
        ``context_window``).
        """
        given = self.context_window
        tools = None
        if given is None:
            state = self._looked_up()
            context = state.context or FALLBACK_CONTEXT_WINDOW
            tools = state.tools
        else:
            context = int(given)
        if tools is None or "is_function_calling_model" in self.__pydantic_fields_set__:
            return context, bool(self.is_function_calling_model)
        return context, tools

    def _looked_up(self) -> _Lookup:
        """The lookup's state, after asking llama-swap if that is due."""
        state: _Lookup = self.__pydantic_private__["_lookup"]  # see _private
        if state.resolved:
            return state
        failed = state.failed_at
        if failed is not None and time.monotonic() - failed < CONTEXT_RETRY_AFTER:
            return state
        state.context = self._lookup_context_window(state)
        return state

    def _lookup_context_window(self, state: _Lookup) -> int | None:
        try:
            info = self._provider.model_facts(self.model)
        except NotFoundError as exc:
            state.resolved = True  # the model list will not change by asking again
            logger.warning("%s; context window %d assumed", exc, FALLBACK_CONTEXT_WINDOW)
            return None
        except LlamaSwapError as exc:  # unreachable, auth, server error: ask again later
            state.failed_at = time.monotonic()
            # LlamaIndex reads metadata several times per call: say it once, until it works.
            log = logger.debug if state.warned else logger.warning
            state.warned = True
            log(
                "could not read the context window of %r from llama-swap (%s); using %d",
                self.model,
                exc,
                FALLBACK_CONTEXT_WINDOW,
            )
            return None
        state.resolved = True
        state.warned = False
        state.failed_at = None
        state.tools = info.has("function_calling") if info.declares_capabilities else None
        if info.context_length is None:
            logger.info(
                "llama-swap reports no context_length for %r; using %d",
                self.model,
                FALLBACK_CONTEXT_WINDOW,
            )
        return info.context_length

    # -- function calling from the capabilities (issue 13) ---------------------------------

    def resolved_function_calling(self) -> bool:
        """The caller's ``is_function_calling_model``, else what llama-swap declares.

        Read from the same ``/v1/models`` record as the context window (never loads the
        model): a model whose ``capabilities`` config leaves out ``tools`` is not a
        function-calling model. Without such a config (or without a lookup, when
        ``context_window`` was given) it stays ``True``: llama-server serves tools.
        """
        if "is_function_calling_model" in self.model_fields_set:
            return bool(self.is_function_calling_model)
        return self._resolved()[1]

    # -- wire ------------------------------------------------------------------------------

    def _get_credential_kwargs(self, is_async: bool = False) -> dict[str, Any]:
        """OpenAI SDK client arguments: core's, on the provider's pool, no read timeout.

        The SDK never retries; ``safe_retries`` is llamaswap's retry layer. A caller's own
        client is used behind the cut-off-stream guard. With ``reuse_client=False`` the SDK
        closes its client after each call, which must never close the shared pool, so it
        then makes (and closes) its own.
        """
        kwargs = compat.client_kwargs(
            base_url=self._provider.openai_base_url,
            api_key=self._provider.api_key,
            timeout=self.timeout,
            default_headers=self.default_headers,
        )
        kwargs["http_client"] = None
        retries = self.safe_retries
        if is_async:
            own_async = self._async_http_client
            if own_async is not None or retries or self.reuse_client:
                # Follows the pool to each event loop (one pool per live loop, in core).
                kwargs["http_client"] = self._provider.sdk_async_http_client(
                    own_async, max_retries=retries
                )
        else:
            own = self._http_client
            if own is not None or retries or self.reuse_client:
                kwargs["http_client"] = self._provider.sdk_http_client(own, max_retries=retries)
        return kwargs

    def _private(self) -> dict[str, Any]:
        """The private attributes' own dict, read once per call site.

        ``self._name`` of a private attribute misses the instance, then pydantic's
        ``__getattr__`` finds it after raising and formatting two ``AttributeError``
        (~2 us); the reads done on every call (the lookup state, the SDK client) skip that.
        """
        private: dict[str, Any] | None = self.__pydantic_private__
        assert private is not None  # a model with private attributes always has the dict
        return private

    def _get_client(self) -> OpenAI:
        """The sync SDK client; its errors are llama-swap's typed errors."""
        if not self.reuse_client:
            return compat.OpenAI(**self._get_credential_kwargs())
        private = self._private()
        client: OpenAI | None = private["_client"]
        if client is None:
            client = private["_client"] = compat.OpenAI(**self._get_credential_kwargs())
        return client

    def _get_aclient(self) -> AsyncOpenAI:
        """The async SDK client; its httpx client follows the pool to each event loop."""
        if not self.reuse_client:
            return compat.AsyncOpenAI(**self._get_credential_kwargs(is_async=True))
        private = self._private()
        client: AsyncOpenAI | None = private["_aclient"]
        if client is None:
            client = private["_aclient"] = compat.AsyncOpenAI(
                **self._get_credential_kwargs(is_async=True)
            )
        return client

    def _stream_chat(self, messages: Any, **kwargs: Any) -> Any:
        return with_loading(super()._stream_chat(messages, **kwargs))

    async def _astream_chat(self, messages: Any, **kwargs: Any) -> Any:
        return awith_loading(await super()._astream_chat(messages, **kwargs))

    def _get_model_kwargs(self, **kwargs: Any) -> dict[str, Any]:
        """Request body fields: ``max_tokens`` under its legacy name, usage when streaming."""
        body: dict[str, Any] = super()._get_model_kwargs(**kwargs)
        if "max_completion_tokens" in body and "max_tokens" not in kwargs:
            # The parent renames it for OpenAI's o1 model names; llama.cpp reads max_tokens.
            body["max_tokens"] = body.pop("max_completion_tokens")
        # llama.cpp's own settings (top_k, min_p, grammar, ...) travel in extra_body.
        body = compat.with_extra_body(body)
        if not body.get("stream") or "stream_options" in body:
            return body
        extra = body.get("extra_body")
        if extra is None or (isinstance(extra, dict) and "stream_options" not in extra):
            # The same field on the wire, sent from extra_body: the SDK would otherwise
            # run its TypedDict transform over this constant on every call (~30 us).
            body["extra_body"] = {**(extra or {}), "stream_options": {"include_usage": True}}
        return body
