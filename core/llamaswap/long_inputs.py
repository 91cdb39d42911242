"""Embedding inputs longer than the model's context: split by its own tokenizer, then pooled.

Document splitters count tokens with tiktoken (LlamaIndex's 1024-token default chunk, a
4000-character LangChain chunk), while a local embedding model has its own tokenizer and
a small context (512 tokens for MiniLM), so whole chunks are rejected by llama-server.

The rule, written once for every embedding class:

- the limit is ``max_input_tokens`` when given, else the ``context_length`` llama-swap
  lists for the model (``GET /v1/models``, never loads it), else what llama-server's own
  "too large" error names (then the batch is planned again, once);
- an input whose UTF-8 size plus :data:`SPECIALS_MARGIN` fits the limit is sent as is
  (no tokenizer yields more tokens than bytes, plus the few special tokens it adds);
- a longer one is tokenized by the model (``/upstream/<model>/tokenize``, cached); if it
  fits it is sent as is, else its tokens are cut into the fewest equal windows that fit,
  each wrapped in the model's special tokens (BERT's ``[CLS]``/``[SEP]``), sent as token
  ids, so each window is exactly what the model would have read;
- the windows' vectors are averaged, weighted by their token counts, and the average is
  scaled back to the windows' (weighted) mean length: unit length for llama-server, which
  normalises embeddings. This is what ``OpenAIEmbeddings`` does for long texts.

Where that cannot be done (splitting turned off, a server without ``/tokenize``) an
:class:`~llamaswap.InputTooLongError` names the model's limit and the settings to change.
"""

from __future__ import annotations

import logging
import math
import re
import weakref
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from llamaswap._ops import Target, listed, route
from llamaswap._wire import Call
from llamaswap.errors import (
    APIError,
    InputTooLongError,
    LlamaSwapError,
    NotFoundError,
    ResponseDecodeError,
    UnsupportedFeatureError,
)
from llamaswap.tokens import AnswerCache, tokenize_op

if TYPE_CHECKING:
    from llamaswap.provider import LlamaSwapProvider

logger = logging.getLogger("llamaswap")

EmbedInput = str | list[int]
"""One input of an embeddings request: text, or the model's own token ids."""

Vector = list[float]

SPECIALS_MARGIN = 8
"""Tokens allowed for BOS/EOS/``[CLS]``/``[SEP]`` when judging a text by its byte size."""

SETTINGS_HINT = (
    "shorten the inputs (LlamaIndex: Settings.chunk_size or SentenceSplitter(chunk_size=...); "
    "LangChain: the text splitter's chunk_size), or raise --ctx-size and --ubatch-size in the "
    "model's cmd in llama-swap's config"
)

_TOO_LARGE = (
    # llama-server: input longer than the physical batch (n_ubatch)
    re.compile(r"input \((\d+) tokens\) is too large.*?batch size: (\d+)", re.S),
    # llama-server: prompt longer than a slot's context
    re.compile(r"request \((\d+) tokens\) exceeds the available context size \((\d+) tokens\)"),
)


@dataclass(frozen=True)
class EmbedRequest:
    """A batch the caller's embeddings client sends; the answer is one vector per input."""

    inputs: list[EmbedInput]


Step = Call | EmbedRequest
EmbedOp = Generator[Step, Any, list[Vector]]


@dataclass
class _ModelFacts:
    """What was learnt about one model: its limit, special tokens, whether it tokenizes."""

    listed: int | None = None
    looked_up: bool = False
    learnt: int | None = None
    specials: tuple[tuple[int, ...], tuple[int, ...]] | None = None
    tokenizes: bool = True


_FACTS: weakref.WeakKeyDictionary[Any, dict[str, _ModelFacts]] = weakref.WeakKeyDictionary()


def _facts(owner: object, model: str) -> _ModelFacts:
    per_model = _FACTS.setdefault(owner, {})
    return per_model.setdefault(model, _ModelFacts())


def too_large(error: BaseException) -> tuple[int, int] | None:
    """``(input tokens, limit)`` from llama-server's error for an over-long input, if it is one."""
    text = str(getattr(error, "message", "") or error)
    for pattern in _TOO_LARGE:
        found = pattern.search(text)
        if found:
            return int(found.group(1)), int(found.group(2))
    return None


def windows(tokens: Sequence[int], room: int) -> list[list[int]]:
    """``tokens`` cut into the fewest windows of at most ``room``, all of near-equal size."""
    if room < 1:
        raise ValueError(f"room must be at least one token, got {room}")
    count = max(1, math.ceil(len(tokens) / room))
    size, extra = divmod(len(tokens), count)
    out: list[list[int]] = []
    start = 0
    for i in range(count):
        end = start + size + (1 if i < extra else 0)
        out.append(list(tokens[start:end]))
        start = end
    return out


def pool(vectors: Sequence[Sequence[float]], weights: Sequence[int]) -> Vector:
    """The weighted mean of ``vectors``, scaled to their weighted mean length.

    For unit vectors (llama-server normalises embeddings) the result has unit length,
    as an unsplit input's vector does.
    """
    if not vectors or len(vectors) != len(weights):
        raise ValueError("pool needs one weight per vector, and at least one vector")
    total = float(sum(weights))
    dims = len(vectors[0])
    mean = [
        sum(v[d] * w for v, w in zip(vectors, weights, strict=True)) / total for d in range(dims)
    ]
    length = (
        sum(math.sqrt(sum(x * x for x in v)) * w for v, w in zip(vectors, weights, strict=True))
        / total
    )
    norm = math.sqrt(sum(x * x for x in mean))
    if norm == 0.0:
        return mean
    return [x * length / norm for x in mean]


def _preview(text: str) -> str:
    return repr(text[:40] + ("..." if len(text) > 40 else ""))


def _context_length(target: Target, model: str) -> Generator[Step, Any, int | None]:
    """The ``context_length`` llama-swap lists for ``model`` (``None`` if none or unreadable).

    A refused key is the caller's error, not a missing fact: it raises at once, so a wrong key
    costs one request, never a second one to the embeddings endpoint.
    """
    try:
        models = yield from listed(target, quiet=False)
    except APIError as exc:
        if exc.status_code in (401, 403):
            raise
        return None
    except LlamaSwapError:
        return None
    info = route(model, models)
    return info.context_length if info is not None else None


def _specials(
    target: Target, cache: AnswerCache, model: str, facts: _ModelFacts
) -> Generator[Step, Any, tuple[tuple[int, ...], tuple[int, ...]]]:
    """The tokens the model puts before and after a whole input (learnt once per model)."""
    if facts.specials is None:
        bare = yield from tokenize_op(target, cache, "a", model=model, add_special=False)
        full = yield from tokenize_op(target, cache, "a", model=model, add_special=True)
        at = next(
            (i for i in range(len(full) - len(bare) + 1) if full[i : i + len(bare)] == bare), 0
        )
        facts.specials = (tuple(full[:at]), tuple(full[at + len(bare) :]))
    return facts.specials


def _body(tokens: list[int], prefix: Sequence[int], suffix: Sequence[int]) -> list[int]:
    start = len(prefix) if tuple(tokens[: len(prefix)]) == tuple(prefix) else 0
    end = (
        len(tokens) - len(suffix)
        if suffix and tuple(tokens[-len(suffix) :]) == tuple(suffix)
        else len(tokens)
    )
    return tokens[start:end]


def _plan(
    target: Target,
    cache: AnswerCache,
    facts: _ModelFacts,
    texts: Sequence[str],
    *,
    model: str,
    limit: int | None,
    split: bool,
) -> Generator[Step, Any, list[list[tuple[EmbedInput, int]]]]:
    """Per text, the inputs to send and their weights (one input unless it was split)."""
    plan: list[list[tuple[EmbedInput, int]]] = []
    for text in texts:
        if limit is None or not facts.tokenizes or len(text.encode()) + SPECIALS_MARGIN <= limit:
            plan.append([(text, 1)])
            continue
        try:
            tokens = yield from tokenize_op(target, cache, text, model=model, add_special=True)
        except (UnsupportedFeatureError, NotFoundError) as exc:
            if isinstance(exc, NotFoundError) and exc.available:
                raise  # llama-swap serves no such model: say so, with the known ids
            facts.tokenizes = False
            plan.append([(text, 1)])
            continue
        if len(tokens) <= limit:
            plan.append([(text, 1)])
            continue
        if not split:
            raise InputTooLongError(
                f"an input to {model!r} ({_preview(text)}) is {len(tokens)} tokens, over the "
                f"model's {limit}-token limit, and split_long_inputs=False: set "
                f"split_long_inputs=True to embed it in pieces, or {SETTINGS_HINT}",
                model=model,
                tokens=len(tokens),
                limit=limit,
            )
        prefix, suffix = yield from _specials(target, cache, model, facts)
        room = limit - len(prefix) - len(suffix)
        parts = windows(_body(tokens, prefix, suffix), room)
        plan.append([([*prefix, *part, *suffix], len(part)) for part in parts])
    return plan


def embed_op(
    target: Target,
    cache: AnswerCache,
    owner: object,
    texts: Sequence[str],
    *,
    model: str,
    split: bool,
    max_input_tokens: int | None,
    batch_size: int | None,
) -> EmbedOp:
    """The operation behind :func:`embed_in_context`; ``owner`` keys what is learnt."""
    texts = _check(texts, max_input_tokens)
    if not texts:
        return []
    facts = _facts(owner, model)
    if max_input_tokens is None and not facts.looked_up:
        facts.listed = yield from _context_length(target, model)
        facts.looked_up = True
    retried = False
    while True:
        known = [n for n in (max_input_tokens, facts.listed, facts.learnt) if n is not None]
        limit = min(known) if known else None
        plan = yield from _plan(target, cache, facts, texts, model=model, limit=limit, split=split)
        flat = [item for pieces in plan for item, _ in pieces]
        split_count = sum(1 for pieces in plan if len(pieces) > 1)
        if split_count:
            logger.debug(
                "%d of %d inputs to %r were over its %s-token limit; sent as %d windows",
                split_count,
                len(plan),
                model,
                limit,
                sum(len(pieces) for pieces in plan if len(pieces) > 1),
            )
        step = batch_size or len(flat)
        vectors: list[Vector] = []
        try:
            for start in range(0, len(flat), step):
                batch = flat[start : start + step]
                answer = yield EmbedRequest(batch)
                if len(answer) != len(batch):
                    raise ResponseDecodeError(
                        f"{model!r} returned {len(answer)} embeddings for {len(batch)} inputs"
                    )
                vectors.extend(answer)
        except APIError as exc:
            size = too_large(exc)
            if size is None:
                raise
            tokens, server_limit = size
            if not retried and facts.tokenizes and (limit is None or server_limit < limit):
                facts.learnt = server_limit  # the server's real limit: plan again with it
                retried = True
                continue
            why = (
                "its server has no /tokenize, so it cannot be split by the model's own tokenizer"
                if not facts.tokenizes
                else "it could not be split to fit"
            )
            raise InputTooLongError(
                f"an input to {model!r} is {tokens} tokens, over the model's "
                f"{server_limit}-token limit, and {why}: {SETTINGS_HINT} "
                f"(llama-server said: {exc.message})",
                model=model,
                tokens=tokens,
                limit=server_limit,
            ) from exc
        out: list[Vector] = []
        at = 0
        for pieces in plan:
            got = vectors[at : at + len(pieces)]
            at += len(pieces)
            if len(pieces) == 1:
                out.append(list(got[0]))
            else:
                out.append(pool(got, [weight for _, weight in pieces]))
        return out


def _check(texts: Sequence[str], max_input_tokens: int | None) -> list[str]:
    items = list(texts)
    for text in items:
        if not isinstance(text, str):
            raise TypeError(f"texts must be strings, got {type(text).__name__}")
    if max_input_tokens is not None and (
        isinstance(max_input_tokens, bool) or not isinstance(max_input_tokens, int)
    ):
        raise TypeError(f"max_input_tokens must be an int or None, got {max_input_tokens!r}")
    if max_input_tokens is not None and max_input_tokens < 8:
        raise ValueError(f"max_input_tokens must be at least 8, got {max_input_tokens}")
    return items


def embed_in_context(
    provider: LlamaSwapProvider, texts: Sequence[str], **options: Any
) -> list[Vector]:
    """One vector per text, every input within the model's context (see the module doc).

    :meth:`LlamaSwapProvider.embed_in_context <llamaswap.LlamaSwapProvider.embed_in_context>`
    as a function; ``options`` are its keywords (``model``, ``send``, ...).
    """
    return provider.embed_in_context(texts, **options)


async def aembed_in_context(
    provider: LlamaSwapProvider, texts: Sequence[str], **options: Any
) -> list[Vector]:
    """Async :func:`embed_in_context` (``send`` is awaited)."""
    return await provider.aembed_in_context(texts, **options)
