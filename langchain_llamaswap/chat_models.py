"""``ChatLlamaSwap``: a LangChain chat model for the models behind a llama-swap proxy."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any, Literal, NoReturn, TypeVar
from uuid import UUID

import openai
from langchain_core.callbacks import (
    AsyncCallbackManager,
    AsyncCallbackManagerForLLMRun,
    CallbackManager,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import LangSmithParams, LanguageModelInput
from langchain_core.language_models.model_profile import ModelProfile
from langchain_core.load.serializable import SerializedConstructor, SerializedNotImplemented
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableConfig, ensure_config
from langchain_core.tools import BaseTool
from langchain_core.utils import secret_from_env
from langchain_core.utils.function_calling import convert_to_openai_tool
from langchain_openai import ChatOpenAI
from langchain_openai.chat_models.base import BaseChatOpenAI
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    model_validator,
)
from typing_extensions import Self

from langchain_llamaswap._common import (
    LlamaSwapConnection,
    llamaswap_error,
    openai_client_kwargs,
    serializable_connection,
)
from llamaswap import (
    ENV_API_KEY,
    ENV_DSN,
    LOADING_EVENT,
    LOADING_FIELD,
    LoadingProgress,
)
from llamaswap import openai_compat as compat

PROVIDER_NAME = "llamaswap"
_RUN_PREFIX = "lc_run--"

LLAMACPP_FIELDS = (
    "top_k",
    "repeat_penalty",
    "repeat_last_n",
    "mirostat",
    "mirostat_tau",
    "mirostat_eta",
)
"""llama.cpp sampling settings that are fields here, named as on ``ChatOllama``."""
_LLAMACPP_FIELD_SET = frozenset(LLAMACPP_FIELDS)

_DictOrPydanticClass = dict[str, Any] | type[BaseModel]
_DictOrPydantic = dict[str, Any] | BaseModel


class ChatLlamaSwap(LlamaSwapConnection, ChatOpenAI):
    r"""Chat with any model llama-swap serves (llama.cpp and other OpenAI-style servers).

    llama-swap starts the model a request names and stops the others, so one endpoint
    serves many local models. This class speaks its Chat Completions API with defaults
    that fit a swapping proxy in front of llama.cpp, where plain ``ChatOpenAI`` does not:

    - ``max_tokens`` goes out as ``max_tokens`` (older llama.cpp builds ignore
      ``max_completion_tokens``, so generation would run unbounded);
    - no read timeout and no stream-chunk timeout by default (a cold swap can take
      minutes); ``max_retries=0`` so a request that may have started a swap is never
      sent again behind your back;
    - streaming token usage on, Chat Completions only (no model name is routed to
      ``/v1/responses``), a placeholder bearer when the instance has no ``apiKeys``;
    - llama.cpp's ``reasoning_content`` kept in ``additional_kwargs`` and its ``timings``
      in ``response_metadata``;
    - a named / ``"any"`` / ``True`` ``tool_choice`` sent as ``"required"`` with only the
      named tool, which llama-server enforces with a grammar (it ignores the OpenAI object
      form), and ``with_structured_output`` defaulting to ``json_schema``.

    Setup:
        Install the package with its LangChain extra and point it at llama-swap:

        ```bash
        pip install "llamaswap[langchain]"
        export LLAMASWAP_DSN="llama-swap://sk-my-key@127.0.0.1:8080"   # key optional
        ```

    Key init args — completion params:
        model:
            The llama-swap model id or alias to use, e.g. ``"qwen"``.
        temperature:
            Sampling temperature.
        max_tokens:
            Max number of tokens to generate (sent as ``max_tokens``).

    Key init args — llama.cpp sampling:
        top_k, repeat_penalty, repeat_last_n, mirostat, mirostat_tau, mirostat_eta:
            Fields, named as on ``ChatOllama``; ``seed``, ``top_p``, ``presence_penalty``
            and ``frequency_penalty`` are the OpenAI ones.
        Anything else llama-server reads (``min_p``, ``typical_p``, ``n_probs``,
        ``cache_prompt``, ``id_slot``, ``grammar``, ``chat_template_kwargs`` ...) goes in
        ``model_kwargs={...}`` or as a call keyword, ``model.invoke(q, min_p=0.05)``: it
        is sent in the request body under its own name. Thinking off for a template that
        reads it: ``model_kwargs={"chat_template_kwargs": {"enable_thinking": False}}``.

    Key init args — client params:
        dsn:
            ``llama-swap://[key@]host[:port]`` (or an ``http(s)://`` URL). Defaults to
            ``$LLAMASWAP_DSN``, then ``llama-swap://localhost:8080``. Treated as a secret.
        api_key:
            The llama-swap key, overriding one in the DSN, which overrides
            ``$LLAMASWAP_API_KEY`` (README: "Address and key").
        base_url:
            A plain address without a key, instead of ``dsn`` (not both).
        timeout:
            Request timeout. Default: 10 s to connect, no bound on waiting for the answer.
        max_retries:
            Opt-in retries, default 0. Only what started nothing is retried: a 429 over
            ``concurrencyLimit`` (after its ``Retry-After``, capped at 30 s) and a refused
            connection; never a 5xx, a timeout or a cut-off stream, which may have started
            a model swap. The OpenAI SDK's own retries stay off.
        stream_chunk_timeout:
            Longest silence between async stream chunks; default ``None`` (no bound).

    See full list of supported init args and their descriptions in the params section.

    Instantiate:
        ```python
        from langchain_llamaswap import ChatLlamaSwap

        model = ChatLlamaSwap(
            dsn="llama-swap://127.0.0.1:8080",
            model="qwen",
            temperature=0,
            max_tokens=256,
            # timeout=None, max_retries=0, api_key="...",
        )
        ```

    Invoke:
        ```python
        messages = [
            ("system", "You translate the user's sentence to French."),
            ("human", "I love programming."),
        ]
        model.invoke(messages)
        ```

        ```python
        AIMessage(
            content="J'adore la programmation.",
            response_metadata={
                "model_name": "qwen",
                "model_provider": "llamaswap",
                "finish_reason": "stop",
                "timings": {"prompt_n": 31, "predicted_n": 8, "predicted_per_second": 38.1, ...},
                ...
            },
            usage_metadata={"input_tokens": 31, "output_tokens": 8, "total_tokens": 39},
        )
        ```

    Stream:
        ```python
        for chunk in model.stream(messages):
            print(chunk.text, end="")
        ```

        ```python
        stream = model.stream(messages)
        full = next(stream)
        for chunk in stream:
            full += chunk
        full.usage_metadata  # the last chunk carries usage (stream_usage=True)
        ```

    Async:
        ```python
        await model.ainvoke(messages)

        async for chunk in model.astream(messages):
            print(chunk.text, end="")

        await model.abatch([messages])
        ```

    Chain:
        ```python
        from langchain_core.output_parsers import StrOutputParser
        from langchain_core.prompts import ChatPromptTemplate

        prompt = ChatPromptTemplate.from_messages([("human", "Name one {thing}.")])
        chain = prompt | model | StrOutputParser()
        chain.invoke({"thing": "colour"})
        for text in chain.stream({"thing": "fruit"}):
            print(text, end="")
        ```

    Tool calling:
        ```python
        from pydantic import BaseModel, Field


        class GetWeather(BaseModel):
            '''Get the current weather in a given location.'''

            location: str = Field(..., description="The city, e.g. Paris")


        model_with_tools = model.bind_tools([GetWeather], tool_choice="GetWeather")
        ai_msg = model_with_tools.invoke("What is the weather in Paris?")
        ai_msg.tool_calls
        ```

        ```python
        [{"name": "GetWeather", "args": {"location": "Paris"}, "id": "...", "type": "tool_call"}]
        ```

        Tool calls need a model whose chat template supports tools (llama-server runs with
        ``--jinja``). A named tool, ``"any"`` or ``True`` become ``"required"``.

    Structured output:
        ```python
        class Joke(BaseModel):
            '''Joke to tell the user.'''

            setup: str = Field(description="The setup of the joke")
            punchline: str = Field(description="The punchline")


        structured_model = model.with_structured_output(Joke)  # method="json_schema"
        structured_model.invoke("Tell me a joke about cats")
        ```

        ``json_schema`` (the default) becomes a llama.cpp grammar, so the answer always
        parses; ``function_calling`` and ``json_mode`` are available too.

    Reasoning:
        ```python
        ai_msg = model.invoke("What is 17 * 23?")
        ai_msg.additional_kwargs.get("reasoning_content")  # from --reasoning-format models
        ```

    Model loading progress:
        With llama-swap's ``sendLoadingState`` on, a stream that had to wait for a model
        load starts with llama-swap's progress text. It is kept out of the reasoning: each
        piece is in the chunk's ``additional_kwargs["llamaswap_loading"]`` and is sent as
        a custom event ``"llamaswap_loading"`` whose data has ``model``, ``elapsed``
        (seconds), ``done``, ``text`` and a ready-made ``status`` line:

        ```python
        async for event in model.astream_events("Hi", version="v2"):
            if event["event"] == "on_custom_event" and event["name"] == "llamaswap_loading":
                print(event["data"]["status"])  # loading qwen ... 12 s
        ```

    Token usage:
        ```python
        ai_msg = model.invoke(messages)
        ai_msg.usage_metadata
        ```

        ```python
        {"input_tokens": 31, "output_tokens": 8, "total_tokens": 39}
        ```

    Response metadata:
        ```python
        ai_msg.response_metadata["model_name"]  # the llama-swap model that answered
        ai_msg.response_metadata["timings"]  # llama.cpp prompt/generation speeds
        ```

    Management:
        ```python
        model.provider.list_models()
        model.provider.load("qwen")
        model.provider.unload()
        ```
    """

    model_name: str = Field(alias="model")
    """The llama-swap model id or alias."""

    max_tokens: int | None = Field(default=None)
    """Maximum number of tokens to generate, sent as ``max_tokens`` (not aliased, unlike
    ``ChatOpenAI``'s ``max_completion_tokens``, which older llama.cpp builds ignore)."""

    openai_api_key: SecretStr | str | None = Field(  # type: ignore[assignment]
        alias="api_key", default_factory=secret_from_env(ENV_API_KEY, default=None)
    )
    """The llama-swap key; outranks a key in the DSN, which outranks ``$LLAMASWAP_API_KEY``."""

    openai_api_base: str | None = Field(default=None, alias="base_url")
    """A plain llama-swap address (no key), instead of ``dsn`` (not both)."""

    openai_proxy: str | None = None
    """Not supported; pass ``http_client=httpx.Client(proxy=...)`` instead."""

    max_retries: int | None = 0
    """Opt-in retries of 429s and refused connections only (never 5xx or timeouts)."""

    stream_usage: bool | None = True
    """Ask for a final usage chunk when streaming (llama-server sends one)."""

    stream_chunk_timeout: float | None = Field(default=None, exclude=True)
    """Longest silence between async stream chunks; ``None``: no bound (swaps are slow)."""

    use_responses_api: bool | None = False
    """Always ``False``: llama-swap models are served through Chat Completions."""

    top_k: int | None = None
    """llama.cpp: sample from the ``top_k`` likeliest tokens (``0``: all)."""

    repeat_penalty: float | None = None
    """llama.cpp: penalty for repeating recent tokens (``1.0``: none)."""

    repeat_last_n: int | None = None
    """llama.cpp: how many recent tokens ``repeat_penalty`` looks at (``-1``: the context)."""

    mirostat: int | None = None
    """llama.cpp: Mirostat sampling, ``0`` off, ``1`` Mirostat, ``2`` Mirostat 2.0."""

    mirostat_tau: float | None = None
    """llama.cpp: Mirostat's target entropy."""

    mirostat_eta: float | None = None
    """llama.cpp: Mirostat's learning rate."""

    model_config = ConfigDict(populate_by_name=True)

    _key_field = "openai_api_key"
    _base_field = "openai_api_base"

    @property
    def _llm_type(self) -> str:
        """Return type of chat model."""
        return "chat-llamaswap"

    @property
    def lc_secrets(self) -> dict[str, str]:
        """Constructor arguments that are secrets, and their environment variables."""
        return {"dsn": ENV_DSN, "openai_api_key": ENV_API_KEY}

    def to_json(self) -> SerializedConstructor | SerializedNotImplemented:
        """Serialize with this class's secret ids and the pool and TLS settings that can be.

        LangChain merges ``lc_secrets`` up the class tree with the parent's entry last, so
        ``ChatOpenAI``'s ``OPENAI_API_KEY`` would name the key; it is ``LLAMASWAP_API_KEY``.
        """
        serialized = super().to_json()
        kwargs = serialized.get("kwargs")
        if isinstance(kwargs, dict):
            kwargs.update(serializable_connection(self))
            for field, env in self.lc_secrets.items():
                value = kwargs.get(field)
                if isinstance(value, dict) and value.get("type") == "secret":
                    value["id"] = [env]
        return serialized

    @classmethod
    def is_lc_serializable(cls) -> bool:
        """Serializable with ``dumpd``/``dumps``; the DSN and key become secret references."""
        return True

    @classmethod
    def get_lc_namespace(cls) -> list[str]:
        """``["langchain_llamaswap", "chat_models"]``."""
        return ["langchain_llamaswap", "chat_models"]

    @model_validator(mode="after")
    def validate_environment(self) -> Self:
        """Build OpenAI SDK clients on the shared provider's connection pools."""
        if self.n is not None and self.n < 1:
            raise ValueError("n must be at least 1.")
        if self.n is not None and self.n > 1 and self.streaming:
            raise ValueError("n must be 1 when streaming.")
        if self.use_responses_api:
            raise ValueError(
                "ChatLlamaSwap speaks Chat Completions only; llama-swap's models are "
                "served through /v1/chat/completions (leave use_responses_api unset)."
            )
        if self.openai_proxy:
            raise ValueError(
                "openai_proxy is not supported; pass http_client=httpx.Client(proxy=...) "
                "and http_async_client=httpx.AsyncClient(proxy=...) instead."
            )
        provider = self.provider
        params = openai_client_kwargs(
            provider,
            timeout=self.request_timeout,
            default_headers=self.default_headers,
            default_query=self.default_query,
        )
        if not self.client:
            sync_client = provider.sdk_http_client(self.http_client, max_retries=self.max_retries)
            self.root_client = compat.OpenAI(**params, http_client=sync_client)
            self.client = self.root_client.chat.completions
        if not self.async_client:
            async_client = provider.sdk_async_http_client(
                self.http_async_client, max_retries=self.max_retries
            )
            self.root_async_client = compat.AsyncOpenAI(**params, http_client=async_client)
            self.async_client = self.root_async_client.chat.completions
        return self

    def _use_responses_api(self, payload: dict[str, Any]) -> bool:
        return False

    @property
    def lc_attributes(self) -> dict[str, Any]:
        """No extra serialized attributes (``ChatOpenAI`` would add ``openai_api_base``)."""
        return {}

    @property
    def _default_params(self) -> dict[str, Any]:
        """The OpenAI parameters, plus the llama.cpp sampling fields that are set."""
        # BaseChatOpenAI's: ChatOpenAI's renames max_tokens, and llama.cpp keeps that name
        params: dict[str, Any] = super(ChatOpenAI, self)._default_params
        # LangChain reads this several times a call: look at the fields only when one was
        # ever given (a constructor argument, an assignment or a model_copy update)
        if not self.__pydantic_fields_set__.isdisjoint(_LLAMACPP_FIELD_SET):
            for name in LLAMACPP_FIELDS:
                value = getattr(self, name)
                if value is not None:
                    params[name] = value
        return params

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        ls_params = super()._get_ls_params(stop=stop, **kwargs)
        ls_params["ls_provider"] = PROVIDER_NAME
        return ls_params

    # -- request ---------------------------------------------------------------------------

    def _get_request_payload(
        self,
        input_: LanguageModelInput,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        # BaseChatOpenAI's, not ChatOpenAI's: that one renames max_tokens and turns the
        # system role into "developer" for model names like "o1-...", which llama.cpp's
        # chat templates do not know.
        payload: dict[str, Any] = BaseChatOpenAI._get_request_payload(
            self, input_, stop=stop, **kwargs
        )
        return compat.with_extra_body(llamacpp_payload(payload))

    # -- token counting --------------------------------------------------------------------

    def get_token_ids(self, text: str) -> list[int]:
        """Token ids of ``text`` from the model's own tokenizer (llama-server's ``/tokenize``).

        Asked through llama-swap and cached per model; never tiktoken, never a download.
        ``custom_get_token_ids``, when set, is used instead.
        """
        if self.custom_get_token_ids is not None:
            return self.custom_get_token_ids(text)
        return self.provider.tokenize(text, model=self.model_name)

    def get_num_tokens_from_messages(
        self,
        messages: Sequence[BaseMessage],
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool] | None = None,
        *,
        allow_fetching_images: bool = True,
    ) -> int:
        """Prompt tokens of ``messages`` (and ``tools``) as the model would receive them.

        The messages go out as a request would send them, llama-server's
        ``/apply-template`` renders them with the model's chat template, and its
        ``/tokenize`` counts the result: the ``prompt_tokens`` the server will report.
        ``trim_messages(token_counter=model)`` uses this. A count is exact for the list
        given, not a sum over messages: a template may add a default system prompt to a
        list that has none. With ``custom_get_token_ids`` set, LangChain's approximation
        (each message as ``Role: text``) is used instead.
        """
        if self.custom_get_token_ids is not None:
            return super(BaseChatOpenAI, self).get_num_tokens_from_messages(list(messages), tools)
        payload = self._get_request_payload(list(messages))
        tool_dicts = [convert_to_openai_tool(t) for t in tools] if tools else None
        return self.provider.count_chat_tokens(
            payload["messages"], model=self.model_name, tools=tool_dicts
        )

    # -- responses -------------------------------------------------------------------------

    def _create_chat_result(
        self,
        response: dict[str, Any] | openai.BaseModel,
        generation_info: dict[str, Any] | None = None,
    ) -> ChatResult:
        result = super()._create_chat_result(response, generation_info)
        # llama-server's extra fields, read in place (the parent already dumped the model once)
        choices = _field(response, "choices") or []
        for generation, choice in zip(result.generations, choices, strict=False):
            reasoning = _field(_field(choice, "message"), "reasoning_content")
            if reasoning:
                generation.message.additional_kwargs["reasoning_content"] = reasoning
            generation.message.response_metadata["model_provider"] = PROVIDER_NAME
        if result.llm_output is None:
            result.llm_output = {}
        result.llm_output["model_provider"] = PROVIDER_NAME
        timings = _field(response, "timings")
        if isinstance(timings, dict):
            result.llm_output["timings"] = timings
        return result

    def _convert_chunk_to_generation_chunk(
        self,
        chunk: dict[str, Any],
        default_chunk_class: type,
        base_generation_info: dict[str, Any] | None,
    ) -> ChatGenerationChunk | None:
        generation_chunk = super()._convert_chunk_to_generation_chunk(
            chunk, default_chunk_class, base_generation_info
        )
        if generation_chunk is None:
            return None
        # Every chunk comes through here: a key test each, values read only when present.
        message = generation_chunk.message
        message.response_metadata["model_provider"] = PROVIDER_NAME
        if "chunk" in chunk and isinstance(chunk["chunk"], dict):  # beta .stream() nests it
            chunk = chunk["chunk"]
        choices = chunk.get("choices")
        if choices:
            delta = choices[0].get("delta")
            if delta and (reasoning := delta.get("reasoning_content")):
                message.additional_kwargs["reasoning_content"] = reasoning
        if LOADING_FIELD in chunk and isinstance(chunk[LOADING_FIELD], str):
            message.additional_kwargs[LOADING_FIELD] = chunk[LOADING_FIELD]
        if "timings" in chunk and isinstance(chunk["timings"], dict):
            message.response_metadata["timings"] = chunk["timings"]
        return generation_chunk

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        try:
            result = super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)
        except openai.OpenAIError as exc:
            _reraise(exc)
        return _name_model(result, kwargs.get("model") or self.model_name)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        try:
            result = await super()._agenerate(
                messages, stop=stop, run_manager=run_manager, **kwargs
            )
        except openai.OpenAIError as exc:
            _reraise(exc)
        return _name_model(result, kwargs.get("model") or self.model_name)

    def stream(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> Iterator[AIMessageChunk]:
        """Stream the answer; llama-swap's load progress also goes out as a custom event."""
        progress: LoadingProgress | None = None  # while a model load is followed
        for chunk in super().stream(input, config, stop=stop, **kwargs):
            if progress is not None or LOADING_FIELD in chunk.additional_kwargs:  # rare
                progress = progress or LoadingProgress()
                found = _loading(chunk, progress)
                if found is not None:
                    self._callbacks(ensure_config(config), CallbackManager).on_custom_event(
                        LOADING_EVENT, found[1], run_id=found[0]
                    )
                if LOADING_FIELD not in chunk.additional_kwargs:
                    progress = None  # the model's own first chunk: the load is over
            yield chunk

    async def astream(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[AIMessageChunk]:
        """Async :meth:`stream`."""
        progress: LoadingProgress | None = None  # while a model load is followed
        async for chunk in super().astream(input, config, stop=stop, **kwargs):
            if progress is not None or LOADING_FIELD in chunk.additional_kwargs:  # rare
                progress = progress or LoadingProgress()
                found = _loading(chunk, progress)
                if found is not None:
                    await self._callbacks(
                        ensure_config(config), AsyncCallbackManager
                    ).on_custom_event(LOADING_EVENT, found[1], run_id=found[0])
                if LOADING_FIELD not in chunk.additional_kwargs:
                    progress = None  # the model's own first chunk: the load is over
            yield chunk

    def _callbacks(self, config: RunnableConfig, cls: type[_M]) -> _M:
        """The handlers this model's run reports to (as ``stream`` configures them)."""
        return cls.configure(
            config.get("callbacks"),
            self.callbacks,
            self.verbose,
            config.get("tags"),
            self.tags,
            config.get("metadata"),
            self.metadata,
        )

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        requested = kwargs.get("model") or self.model_name
        try:
            for chunk in super()._stream(messages, stop=stop, run_manager=run_manager, **kwargs):
                if chunk.generation_info:  # the last chunk names the model
                    _name_chunk_model(chunk, requested)
                yield chunk
        except openai.OpenAIError as exc:
            _reraise(exc)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        requested = kwargs.get("model") or self.model_name
        try:
            async for chunk in super()._astream(
                messages, stop=stop, run_manager=run_manager, **kwargs
            ):
                if chunk.generation_info:  # the last chunk names the model
                    _name_chunk_model(chunk, requested)
                yield chunk
        except openai.OpenAIError as exc:
            _reraise(exc)

    # -- tools and structured output -------------------------------------------------------

    def with_structured_output(
        self,
        schema: _DictOrPydanticClass | None = None,
        *,
        method: Literal["function_calling", "json_mode", "json_schema"] = "json_schema",
        include_raw: bool = False,
        strict: bool | None = None,
        tools: list[Any] | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, _DictOrPydantic]:
        """Return a runnable whose output matches ``schema``.

        Args:
            schema: a pydantic class, ``TypedDict``, JSON schema or OpenAI tool schema.
            method: ``"json_schema"`` (default): llama-server turns the schema into a
                grammar, so the output always has the shape. ``"function_calling"``: a
                forced tool call (``tool_choice="required"`` with one tool).
                ``"json_mode"``: any JSON object; describe the shape in the prompt.
            include_raw: also return the raw message and any parsing error.
            strict: passed through to the request; llama.cpp enforces the grammar anyway.
            tools: extra tools the model may call instead (``json_schema`` only).
            **kwargs: more request parameters.
        """
        return super().with_structured_output(
            schema,
            method=method,
            include_raw=include_raw,
            strict=strict,
            tools=tools,
            **kwargs,
        )

    # -- model profile (issue 13) ------------------------------------------------------------

    def _resolve_model_profile(self) -> ModelProfile | None:
        """``profile`` from llama-swap's ``/v1/models`` record (never loads the model).

        Context window, modalities and tool calling as the model's ``capabilities`` config
        declares them, over what the class knows of every llama-server model; an
        unreachable llama-swap or an unlisted id gives only the latter. A ``profile=``
        passed in is kept as given.
        """
        from langchain_llamaswap._profile import model_profile

        return model_profile(self.provider, self.model_name)


def llamacpp_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """Rewrite an OpenAI Chat Completions body into what llama-server honours.

    - ``max_completion_tokens`` becomes ``max_tokens`` (llama.cpp builds before Feb 2026
      ignore the former);
    - a named tool choice becomes ``"required"`` with only that tool in ``tools``, and
      ``"any"``/``True`` become ``"required"`` (llama-server downgrades the OpenAI object
      form to ``"auto"``, so the model could answer without calling the tool).
    """
    if "max_completion_tokens" in payload:
        value = payload.pop("max_completion_tokens")
        if payload.get("max_tokens") is None and value is not None:
            payload["max_tokens"] = value
    choice = payload.get("tool_choice")
    if choice is True or choice == "any":
        payload["tool_choice"] = "required"
    elif isinstance(choice, dict):
        name = _named_tool(choice)
        if name is not None:
            tools = payload.get("tools") or []
            chosen = [t for t in tools if _tool_name(t) == name]
            if not chosen:
                bound = ", ".join(n for n in (_tool_name(t) for t in tools) if n) or "none"
                raise ValueError(
                    f"tool_choice names {name!r} but no bound tool has that name (bound: {bound})"
                )
            payload["tools"] = chosen
            payload["tool_choice"] = "required"
    return payload


def _field(value: Any, name: str) -> Any:
    """``value[name]`` of a dict, the attribute of an SDK model (extras included), else None."""
    if isinstance(value, dict):
        return value.get(name)
    if isinstance(value, BaseModel):  # declared fields, then llama-server's own extras
        found = value.__dict__.get(name)
        if found is None and value.__pydantic_extra__:
            found = value.__pydantic_extra__.get(name)
        return found
    return getattr(value, name, None)


def _named_tool(choice: dict[str, Any]) -> str | None:
    function = choice.get("function")
    if choice.get("type") == "function" and isinstance(function, dict):
        name = function.get("name")
        return name if isinstance(name, str) else None
    name = choice.get("name")
    return name if isinstance(name, str) and choice.get("type") in ("function", "tool") else None


def _tool_name(tool: Any) -> str | None:
    if not isinstance(tool, dict):
        return None
    function = tool.get("function")
    if isinstance(function, dict) and isinstance(function.get("name"), str):
        return str(function["name"])
    return tool.get("name") if isinstance(tool.get("name"), str) else None


_M = TypeVar("_M", CallbackManager, AsyncCallbackManager)


def _loading(
    chunk: AIMessageChunk, progress: LoadingProgress
) -> tuple[UUID | None, dict[str, Any]] | None:
    """The run id and event data a chunk of a followed model load gives, if any.

    A piece of llama-swap's progress gives its state; the model's own first chunk gives
    the closing ``done`` state when llama-swap's ``Done!`` never came
    (:meth:`~llamaswap.LoadingProgress.finish`). ``stream`` names each chunk
    ``lc_run--<run id>``, so the event belongs to that run.
    """
    piece = chunk.additional_kwargs.get(LOADING_FIELD)
    state = progress.feed(piece) if isinstance(piece, str) else progress.finish()
    if state is None:
        return None
    run_id: UUID | None = None
    if isinstance(chunk.id, str) and chunk.id.startswith(_RUN_PREFIX):
        try:
            run_id = UUID(chunk.id[len(_RUN_PREFIX) :])
        except ValueError:
            run_id = None
    return run_id, state.as_dict()


def _reraise(exc: openai.OpenAIError) -> NoReturn:
    """Raise llama-swap's typed error in place of LangChain's copy of it (see _common)."""
    better = llamaswap_error(exc)
    if better is None:
        raise exc
    raise better from exc


def _name_model(result: ChatResult, requested: str) -> ChatResult:
    """Report the llama-swap model id that answered (llama.cpp writes its GGUF path)."""
    if result.llm_output is None:
        result.llm_output = {}
    llm_output = result.llm_output
    upstream = llm_output.get("model_name")
    if upstream and upstream != requested:
        llm_output["upstream_model_name"] = upstream
    llm_output["model_name"] = requested
    for generation in result.generations:
        metadata = generation.message.response_metadata
        metadata["model_name"] = requested
        if "timings" in llm_output:
            metadata["timings"] = llm_output["timings"]
    return result


def _name_chunk_model(chunk: ChatGenerationChunk, requested: str) -> None:
    info = chunk.generation_info
    if info and "model_name" in info:
        upstream = info["model_name"]
        if upstream != requested:
            info["upstream_model_name"] = upstream
        info["model_name"] = requested
