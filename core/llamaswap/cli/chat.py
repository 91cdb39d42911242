"""``llamaswap chat MODEL [PROMPT]``: stream an answer, then llama.cpp's tokens per second.

The answer streams to stdout as it is generated, through the provider's OpenAI client (its
typed errors, its cut-off stream check). llama.cpp's server adds a ``timings`` object to
the last chunk; its ``predicted_per_second`` is the generation speed shown at the end, on
stderr. Without a prompt, each line of stdin is a turn of one conversation (``/reset``
forgets it, ``/exit`` or end of input quits).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llamaswap import LlamaSwapProvider
from llamaswap.cli.errors import EXIT_ERROR, EXIT_OK, INSTALL_HINT, Interrupted, UsageError
from llamaswap.cli.progress import LiveLine
from llamaswap.cli.terminal import Terminal

if TYPE_CHECKING:
    import openai
    from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam

PROMPT = "you> "


@dataclass
class Answer:
    """One streamed answer and what the server said about it."""

    content: str = ""
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    timings: dict[str, Any] | None = None
    chunks: int = field(default=0, repr=False)

    @property
    def tokens_per_second(self) -> float | None:
        """llama.cpp's generation speed (``timings.predicted_per_second``), if it sent one."""
        value = (self.timings or {}).get("predicted_per_second")
        return float(value) if isinstance(value, int | float) else None

    def as_json(self, model: str) -> dict[str, Any]:
        """What ``--json`` prints for this answer."""
        return {
            "model": model,
            "content": self.content,
            "finish_reason": self.finish_reason,
            "usage": self.usage,
            "timings": self.timings,
            "tokens_per_second": self.tokens_per_second,
        }


def chat(provider: LlamaSwapProvider, args: argparse.Namespace, term: Terminal) -> int:
    """One answer for ``args.prompt``, or a conversation read from stdin."""
    if args.max_tokens is not None and args.max_tokens < 1:
        raise UsageError(
            f"--max-tokens must be 1 or more, got {args.max_tokens}",
            "leave it out for the model's own limit",
        )
    client = _client(provider)
    messages: list[ChatCompletionMessageParam] = []
    if args.system:
        messages.append({"role": "system", "content": args.system})
    if args.prompt is not None:
        messages.append({"role": "user", "content": args.prompt})
        _turn(client, args, term, messages)
        return EXIT_OK
    start = list(messages)
    while True:
        try:
            text = _read_turn()
        except KeyboardInterrupt:
            raise Interrupted("conversation ended") from None
        if text is None or text.strip() in ("/exit", "/quit"):
            return EXIT_OK
        if not text.strip():
            continue
        if text.strip() == "/reset":
            messages = list(start)
            term.status("conversation forgotten")
            continue
        messages.append({"role": "user", "content": text})
        answer = _turn(client, args, term, messages)
        messages.append({"role": "assistant", "content": answer.content})


def _client(provider: LlamaSwapProvider) -> openai.OpenAI:
    try:
        return provider.openai_client()
    except ImportError:
        raise UsageError(
            "chat needs the OpenAI SDK, which is not installed", INSTALL_HINT, code=EXIT_ERROR
        ) from None


def _read_turn() -> str | None:
    """The next user line: prompted in a terminal, read plainly from a pipe; None at the end."""
    if sys.stdin.isatty():
        try:
            return input(PROMPT)
        except EOFError:
            return None
    line = sys.stdin.readline()
    return line.rstrip("\n") if line else None


def _turn(
    client: openai.OpenAI,
    args: argparse.Namespace,
    term: Terminal,
    messages: list[ChatCompletionMessageParam],
) -> Answer:
    import openai

    answer = Answer()
    stream: openai.Stream[ChatCompletionChunk] | None = None
    try:
        # A cold model is swapped in before the first byte: the wait shows in a terminal.
        with LiveLine(term, f"waiting for {args.model}", plain=False) as waiting:
            stream = client.chat.completions.create(
                model=args.model,
                messages=messages,
                stream=True,
                max_tokens=openai.omit if args.max_tokens is None else args.max_tokens,
                temperature=openai.omit if args.temperature is None else args.temperature,
            )
            for chunk in stream:
                _take(chunk, answer, on_text=lambda text: _show(text, waiting, args, term))
    except KeyboardInterrupt:
        if stream is not None:
            stream.close()  # llama-swap cancels the request; the model stays loaded
        if answer.content and not args.json:
            term.write("\n")
        raise Interrupted(f"stopped the answer; {args.model} stays as llama-swap has it") from None
    if args.json:
        term.json(answer.as_json(args.model))
    else:
        if answer.content and not answer.content.endswith("\n"):
            term.write("\n")
        term.status(_stats(answer))
    return answer


def _take(chunk: ChatCompletionChunk, answer: Answer, *, on_text: Callable[[str], None]) -> None:
    """Fold one stream chunk into ``answer`` (text, finish reason, usage, timings)."""
    answer.chunks += 1
    extra = chunk.model_extra or {}
    if isinstance(extra.get("timings"), Mapping):
        answer.timings = dict(extra["timings"])
    if chunk.usage is not None:
        answer.usage = chunk.usage.model_dump()
    for choice in chunk.choices:
        text = choice.delta.content if choice.delta else None
        if text:
            answer.content += text
            on_text(text)
        if choice.finish_reason:
            answer.finish_reason = choice.finish_reason


def _show(text: str, waiting: LiveLine, args: argparse.Namespace, term: Terminal) -> None:
    waiting.stop()  # the first token ends the wait
    if not args.json:
        term.write(text)


def _stats(answer: Answer) -> str:
    timings = answer.timings or {}
    speed = answer.tokens_per_second
    if speed is None:
        finish = f" (finish: {answer.finish_reason})" if answer.finish_reason else ""
        return f"-- the server sent no llama.cpp timings, so no tokens/s{finish}"
    parts = [f"{timings.get('predicted_n', '?')} tokens at {speed:.1f} tokens/s"]
    prompt_speed = timings.get("prompt_per_second")
    if isinstance(prompt_speed, int | float):
        parts.append(f"prompt {timings.get('prompt_n', '?')} tokens at {prompt_speed:.1f} tokens/s")
    if answer.finish_reason and answer.finish_reason != "stop":
        parts.append(f"finish: {answer.finish_reason}")
    return "-- " + "; ".join(parts) + " (llama.cpp timings)"
