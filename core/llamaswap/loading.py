"""llama-swap's model-loading progress, told apart from the model's own reasoning.

With ``sendLoadingState`` on, llama-swap answers a streamed chat request for a model that
is not ready at once, and writes its progress into the stream while the model loads: a
line ``llama-swap loading model: <id>``, dots and remarks, then ``Done! (12.34s)``, framed
by ``━━━━━`` lines and cut into pieces of a few characters. Every piece is a chunk of
exactly this shape, and nothing else (no ``id``, ``object``, ``model`` or
``finish_reason``, which every chunk from llama-server has)::

    {"choices": [{"delta": {"reasoning_content": "<piece>"}}]}

so the model's reasoning would read the progress text too. :func:`loading_text` knows
such a chunk by that shape; the OpenAI SDK clients this package builds move the piece
out of ``reasoning_content`` into the chunk's ``llamaswap_loading`` field, and the
framework classes report it there and as an event built from :class:`LoadingProgress`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

LOADING_FIELD = "llamaswap_loading"
"""Where a loading chunk's text goes: a chunk attribute, a message's ``additional_kwargs``."""

LOADING_EVENT = "llamaswap_loading"
"""The name of the framework event sent for each piece of loading progress."""

# Text, compiled (and cached) by the re module the first time a load is followed: most
# imports never follow one (issue 14).
_MODEL_LINE = r"llama-swap loading model: (\S+)\n"
_DONE = r"Done! \((\d+(?:\.\d+)?)s\)"


def loading_text(chunk: Mapping[str, Any]) -> str | None:
    """The progress text of a llama-swap loading chunk, or ``None`` for any other chunk."""
    if set(chunk) != {"choices"}:
        return None
    choices = chunk["choices"]
    if not isinstance(choices, list) or len(choices) != 1 or not isinstance(choices[0], Mapping):
        return None
    choice = choices[0]
    if set(choice) != {"delta"} or not isinstance(choice["delta"], Mapping):
        return None
    delta = choice["delta"]
    text = delta.get("reasoning_content")
    if set(delta) != {"reasoning_content"} or not isinstance(text, str):
        return None
    return text


@dataclass(frozen=True)
class LoadingState:
    """Where a model load stands after one piece of progress text.

    Attributes:
        model: the model being loaded, once llama-swap has named it.
        text: the piece just received.
        elapsed: seconds since the first piece (llama-swap's own figure once done).
        done: llama-swap said the model is ready. It may never say so: when the model
            gets ready while a remark is still being typed, llama-swap waits 1 s for it and
            then hands the stream to the model, dropping the rest and ``Done!``; the model's
            own first chunk is then the sign (:meth:`LoadingProgress.finish`).
    """

    model: str | None
    text: str
    elapsed: float
    done: bool

    def describe(self) -> str:
        """A status line for a UI: ``loading qwen ... 12 s`` or ``loaded qwen in 12.3 s``."""
        name = self.model or "model"
        if self.done:
            return f"loaded {name} in {self.elapsed:.1f} s"
        return f"loading {name} ... {self.elapsed:.0f} s"

    def as_dict(self) -> dict[str, Any]:
        """The state as plain data (an event payload)."""
        return {
            "model": self.model,
            "text": self.text,
            "elapsed": self.elapsed,
            "done": self.done,
            "status": self.describe(),
        }


class LoadingProgress:
    """Follows the loading pieces of one stream (one per stream: it keeps the text so far)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._started: float | None = None
        self._text = ""
        self._model: str | None = None
        self._done_after: float | None = None

    def feed(self, piece: str) -> LoadingState:
        """Take the next piece of progress text; return the state it leaves."""
        now = self._clock()
        if self._started is None:
            self._started = now
        self._text += piece
        if self._model is None:
            named = re.search(_MODEL_LINE, self._text)
            if named:
                self._model = named.group(1)
        if self._done_after is None:
            done = re.search(_DONE, self._text)
            if done:
                self._done_after = float(done.group(1))
        elapsed = self._done_after if self._done_after is not None else now - self._started
        return LoadingState(self._model, piece, elapsed, self._done_after is not None)

    def finish(self) -> LoadingState | None:
        """The model's own first chunk came: the load is over, whatever the text said.

        Returns the closing ``done`` state when pieces came and llama-swap's ``Done!``
        did not (it drops it when the model gets ready mid-remark; see
        :class:`LoadingState`), else ``None``; once it returned a state, ``None``.
        """
        if self._started is None or self._done_after is not None:
            return None
        self._done_after = self._clock() - self._started
        return LoadingState(self._model, "", self._done_after, True)
