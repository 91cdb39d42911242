"""llama-swap's model-loading progress in a LlamaIndex chat stream, apart from the reasoning.

The chunks llama-swap sends while a model loads (``sendLoadingState``; see
:mod:`llamaswap.loading`) reach a :class:`~llama_index_llamaswap.LlamaSwap` stream with
no reasoning text: each piece is in the response's ``additional_kwargs["llamaswap_loading"]``
and is dispatched as a :class:`LlamaSwapLoadingEvent` to LlamaIndex instrumentation.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from llama_index.core.base.llms.types import ChatResponse
from llama_index.core.instrumentation import get_dispatcher  # type: ignore[attr-defined]
from llama_index.core.instrumentation.events import BaseEvent

from llamaswap import LOADING_FIELD, LoadingProgress

dispatcher = get_dispatcher(__name__)


class LlamaSwapLoadingEvent(BaseEvent):
    """A piece of llama-swap's progress while it loads the model a streamed chat waits for.

    Attributes:
        model: the model being loaded, once llama-swap has named it.
        text: the piece of progress text.
        elapsed: seconds since the first piece (llama-swap's own figure once done).
        done: the model is ready: llama-swap said so, or (when it dropped its
            ``Done!``) the model's own first chunk came.
        status: a line for a UI, ``loading qwen ... 12 s``.
    """

    model: str | None = None
    text: str = ""
    elapsed: float = 0.0
    done: bool = False
    status: str = ""

    @classmethod
    def class_name(cls) -> str:
        """The event's name in instrumentation handlers."""
        return "LlamaSwapLoadingEvent"


def _piece(raw: Any) -> str | None:
    if isinstance(raw, dict):
        value = raw.get(LOADING_FIELD)
    else:
        # The SDK's chunk keeps fields it does not declare in __pydantic_extra__; a miss
        # through getattr costs a pydantic AttributeError, on every chunk of a stream.
        extra = getattr(raw, "__pydantic_extra__", None)
        if isinstance(extra, dict):
            value = extra.get(LOADING_FIELD)
        else:
            value = getattr(raw, LOADING_FIELD, None)
    return value if isinstance(value, str) else None


def _note(response: ChatResponse, progress: LoadingProgress) -> bool:
    """Mark and report a loading piece; whether a model load is still being followed.

    A response that is not a piece is the model's own first one after the load: it closes
    the load with a ``done`` event when llama-swap's ``Done!`` never came.
    """
    piece = _piece(response.raw)
    if piece is None:
        state = progress.finish()
    else:
        response.additional_kwargs[LOADING_FIELD] = piece
        state = progress.feed(piece)
    if state is not None:
        dispatcher.event(LlamaSwapLoadingEvent(**state.as_dict()))
    return piece is not None


def with_loading(responses: Iterator[ChatResponse]) -> Iterator[ChatResponse]:
    """``responses`` with loading pieces marked and reported (see the module doc).

    An SDK chunk whose extra fields lack the loading one (every model chunk) passes at
    once, checked inline: this runs per chunk. The first of them after progress pieces
    goes through :func:`_note`, which closes the load.
    """
    progress = LoadingProgress()
    following = False  # pieces came, and the model's own first chunk not yet
    for response in responses:
        extra = getattr(response.raw, "__pydantic_extra__", None)
        if following or type(extra) is not dict or LOADING_FIELD in extra:
            following = _note(response, progress)
        yield response


async def awith_loading(responses: AsyncIterator[ChatResponse]) -> AsyncIterator[ChatResponse]:
    """The async twin of :func:`with_loading`."""
    progress = LoadingProgress()
    following = False
    async for response in responses:
        extra = getattr(response.raw, "__pydantic_extra__", None)
        if following or type(extra) is not dict or LOADING_FIELD in extra:
            following = _note(response, progress)
        yield response
