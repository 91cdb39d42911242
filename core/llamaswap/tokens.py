"""Token counts from the model's own tokenizer, through llama-swap, never a download.

llama-server has ``POST /tokenize`` and ``POST /apply-template``; llama-swap routes
neither by model, but forwards anything under ``/upstream/<model>/`` to that model's
server (swapping it in first, as any request for it would). Answers are cached per
provider and model, so counting the same messages again (``trim_messages`` does, many
times) costs no request. A server without these routes (not llama.cpp, or a peer's
model) raises :class:`~llamaswap.UnsupportedFeatureError` saying so.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from llamaswap._ops import Op, Target, _refuse_prefix_routed, fail
from llamaswap._wire import USE_CLIENT_DEFAULT, Call, TimeoutArg, json_body, model_path, scrub
from llamaswap._wire import server_message as _server_message
from llamaswap.errors import ResponseDecodeError, UnsupportedFeatureError

T = TypeVar("T")

CACHE_SIZE = 4096
"""Answers kept per provider (texts and rendered chat prompts, least recently used first out)."""


class AnswerCache:
    """A small thread-safe LRU of tokenizer and template answers, keyed per model."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self._size = size
        self._items: OrderedDict[tuple[str, ...], Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, ...]) -> Any:
        """The answer kept for ``key``, or ``None``."""
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key: tuple[str, ...], value: Any) -> None:
        """Keep ``value`` for ``key``, dropping the least recently used past the size."""
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


def _unsupported(target: Target, model: str, route: str, response: Any) -> Op[None]:
    """Raise for a 404 that the model's server wrote (llama-swap's own 404s list the ids)."""
    text = scrub(response.text, target.secret)
    reason, from_swap = _server_message(text)
    if from_swap:
        yield from fail(target, response, model)
    raise UnsupportedFeatureError(
        f"the server behind {model!r} has no {route} ({response.status_code}: "
        f"{reason or 'not found'}); token counts need llama.cpp's llama-server (a peer's "
        "model, or another kind of server, cannot count tokens this way)",
        status_code=response.status_code,
        body=text[:500],
        url=str(response.url),
    )


def tokenize_op(
    target: Target,
    cache: AnswerCache,
    text: str,
    *,
    model: str,
    add_special: bool,
    timeout: TimeoutArg = USE_CLIENT_DEFAULT,
) -> Op[list[int]]:
    """``POST /upstream/<model>/tokenize``: the token ids of ``text`` (cached)."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, got {type(text).__name__}")
    key = ("tokens", model, "1" if add_special else "0", text)
    cached = cache.get(key)
    if cached is not None:
        return list(cached)
    yield from _refuse_prefix_routed(target, model)
    url = target.url(f"/upstream/{model_path(model)}/tokenize")
    body = {"content": text, "add_special": add_special}
    response = yield Call("POST", url, json=body, timeout=timeout, model=model)
    if response.status_code in (404, 405):
        yield from _unsupported(target, model, "/tokenize", response)
    if response.is_error:
        yield from fail(target, response, model)
    data = json_body(response, what=f"POST /upstream/{model}/tokenize")
    tokens = data.get("tokens") if isinstance(data, Mapping) else None
    if not isinstance(tokens, list) or not all(
        isinstance(t, int) and not isinstance(t, bool) for t in tokens
    ):
        raise ResponseDecodeError(
            f"POST /upstream/{model}/tokenize did not return a list of token ids",
            url=str(response.url),
            body=response.text[:200],
        )
    cache.put(key, tuple(tokens))
    return list(tokens)


def apply_template_op(
    target: Target,
    cache: AnswerCache,
    messages: Sequence[Mapping[str, Any]],
    *,
    model: str,
    tools: Sequence[Mapping[str, Any]] | None = None,
    timeout: TimeoutArg = USE_CLIENT_DEFAULT,
) -> Op[str]:
    """``POST /upstream/<model>/apply-template``: the prompt the model's template renders."""
    body: dict[str, Any] = {"messages": [dict(m) for m in messages]}
    if tools:
        body["tools"] = [dict(t) for t in tools]
    try:
        encoded = json.dumps(body, sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"messages and tools must be JSON-serialisable: {exc}") from None
    key = ("template", model, encoded)
    cached = cache.get(key)
    if cached is not None:
        return str(cached)
    yield from _refuse_prefix_routed(target, model)
    url = target.url(f"/upstream/{model_path(model)}/apply-template")
    response = yield Call("POST", url, json=body, timeout=timeout, model=model)
    if response.status_code in (404, 405):
        yield from _unsupported(target, model, "/apply-template", response)
    if response.is_error:
        yield from fail(target, response, model)
    data = json_body(response, what=f"POST /upstream/{model}/apply-template")
    prompt = data.get("prompt") if isinstance(data, Mapping) else None
    if not isinstance(prompt, str):
        raise ResponseDecodeError(
            f"POST /upstream/{model}/apply-template did not return a prompt",
            url=str(response.url),
            body=response.text[:200],
        )
    cache.put(key, prompt)
    return prompt


def chat_tokens_op(
    target: Target,
    cache: AnswerCache,
    messages: Sequence[Mapping[str, Any]],
    *,
    model: str,
    tools: Sequence[Mapping[str, Any]] | None = None,
    timeout: TimeoutArg = USE_CLIENT_DEFAULT,
) -> Op[int]:
    """Tokens of ``messages`` as the model's chat template renders them for a reply."""
    prompt = yield from apply_template_op(
        target, cache, messages, model=model, tools=tools, timeout=timeout
    )
    tokens = yield from tokenize_op(
        target, cache, prompt, model=model, add_special=True, timeout=timeout
    )
    return len(tokens)


class TokenizerMixin:
    """The provider's token methods (its ``_run``/``_arun`` drive the operations above)."""

    if TYPE_CHECKING:
        _target: Target

        def _run(self, op: Op[T]) -> T: ...

        async def _arun(self, op: Op[T]) -> T: ...

    @property
    def _answers(self) -> AnswerCache:
        cache: AnswerCache | None = self.__dict__.get("_answer_cache")
        if cache is None:
            cache = self.__dict__.setdefault("_answer_cache", AnswerCache())
        return cache

    def tokenize(
        self,
        text: str,
        *,
        model: str,
        add_special: bool = False,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> list[int]:
        """The token ids ``model``'s own tokenizer gives ``text`` (llama-server's ``/tokenize``).

        Sent as ``POST /upstream/<model>/tokenize``, so llama-swap starts the model if it
        is not running. ``add_special`` adds what the model adds to a whole input (BOS,
        BERT's ``[CLS]``/``[SEP]``). Answers are cached per model; nothing is downloaded.
        """
        return self._run(
            tokenize_op(
                self._target,
                self._answers,
                text,
                model=model,
                add_special=add_special,
                timeout=timeout,
            )
        )

    async def atokenize(
        self,
        text: str,
        *,
        model: str,
        add_special: bool = False,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> list[int]:
        """Async :meth:`tokenize`."""
        return await self._arun(
            tokenize_op(
                self._target,
                self._answers,
                text,
                model=model,
                add_special=add_special,
                timeout=timeout,
            )
        )

    def count_tokens(
        self,
        text: str,
        *,
        model: str,
        add_special: bool = False,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> int:
        """How many tokens ``text`` is for ``model`` (see :meth:`tokenize`)."""
        return len(self.tokenize(text, model=model, add_special=add_special, timeout=timeout))

    async def acount_tokens(
        self,
        text: str,
        *,
        model: str,
        add_special: bool = False,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> int:
        """Async :meth:`count_tokens`."""
        tokens = await self.atokenize(text, model=model, add_special=add_special, timeout=timeout)
        return len(tokens)

    def apply_template(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        model: str,
        tools: Sequence[Mapping[str, Any]] | None = None,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> str:
        """The prompt ``model``'s chat template makes of OpenAI-style ``messages``.

        llama-server's ``/apply-template``, through ``/upstream/<model>/``; it includes the
        assistant turn's opening, as for a reply. Cached per model.
        """
        return self._run(
            apply_template_op(
                self._target, self._answers, messages, model=model, tools=tools, timeout=timeout
            )
        )

    async def aapply_template(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        model: str,
        tools: Sequence[Mapping[str, Any]] | None = None,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> str:
        """Async :meth:`apply_template`."""
        return await self._arun(
            apply_template_op(
                self._target, self._answers, messages, model=model, tools=tools, timeout=timeout
            )
        )

    def count_chat_tokens(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        model: str,
        tools: Sequence[Mapping[str, Any]] | None = None,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> int:
        """Prompt tokens of a chat request: the rendered template, tokenized as the server does."""
        return self._run(
            chat_tokens_op(
                self._target, self._answers, messages, model=model, tools=tools, timeout=timeout
            )
        )

    async def acount_chat_tokens(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        model: str,
        tools: Sequence[Mapping[str, Any]] | None = None,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> int:
        """Async :meth:`count_chat_tokens`."""
        return await self._arun(
            chat_tokens_op(
                self._target, self._answers, messages, model=model, tools=tools, timeout=timeout
            )
        )
