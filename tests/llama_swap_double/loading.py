"""``sendLoadingState`` progress stream of the test double.

While a streaming chat request waits for its model, llama-swap answers 200
``text/event-stream`` at once and "types" ``reasoning_content`` deltas (5 runes
per frame at 75 chars/s); the real upstream stream then continues in the same
response. The writer runs beside the load, as in llama-swap, so it never delays it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time

from aiohttp import web

from .errors import go_json

TICK = 0.75
CHARS_PER_SECOND = 75.0
CHUNK_RUNES = 5
REMARKS = [
    "Reticulating splines",
    "Waking up the hamsters",
    "Convincing the GPU to participate",
    "Loading weights (they're heavy)",
    "Untangling the transformer spaghetti",
    "Simulating a slow model load, this is a test double",
]


def loading_chunk(text: str) -> bytes:
    """One ``data: {"choices":[{"delta":{"reasoning_content":...}}]}`` frame."""
    msg = {"choices": [{"delta": {"reasoning_content": text}}]}
    return b"data: " + go_json(msg) + b"\n\n"


class LoadingStream:
    """Writes progress frames until :meth:`finish` is called."""

    def __init__(self, request: web.Request, model_id: str) -> None:
        self.request = request
        self.model_id = model_id
        self.started = time.monotonic()
        self.response = web.StreamResponse(status=200)
        self.response.headers["Content-Type"] = "text/event-stream"
        self.response.headers["Cache-Control"] = "no-cache"
        self.response.headers["Connection"] = "keep-alive"
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._update = ""
        self._released = False

    async def _data(self, text: str) -> None:
        if self._released:
            return
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.response.write(loading_chunk(text))

    async def _inline(self, text: str) -> None:
        for i in range(0, len(text), CHUNK_RUNES):
            chunk = text[i : i + CHUNK_RUNES]
            await self._data(chunk)
            if i + CHUNK_RUNES < len(text):
                await asyncio.sleep(len(chunk) / CHARS_PER_SECOND)

    async def _line(self, text: str) -> None:
        await self._inline(text)
        await self._data("\n")

    async def begin(self) -> None:
        """Send the 200 headers now; type the progress text in the background."""
        await self.response.prepare(self.request)
        self._task = asyncio.get_running_loop().create_task(self._run())

    def set_update(self, text: str) -> None:
        """Show e.g. a queue position at the next tick instead of a remark."""
        self._update = text

    async def _run(self) -> None:
        await self._line("━━━━━")
        await self._line(f"llama-swap loading model: {self.model_id}")
        remarks = REMARKS[:]
        random.shuffle(remarks)
        next_in = random.uniform(2, 5)
        last = 0.0
        i = 0
        while not self._stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stop.wait(), TICK)
            if self._stop.is_set():
                break
            now = time.monotonic()
            text, self._update = self._update, ""
            if not text and now - (last or self.started) >= next_in:
                text = remarks[i % len(remarks)]
                i += 1
            if text:
                await self._data("\n")
                await self._inline(text)
                await self._data(" ")
                last = time.monotonic()
                next_in = random.uniform(5, 9)
            else:
                await self._data(".")
        elapsed = time.monotonic() - self.started
        await self._data("\n")
        await self._line(f"Done! ({elapsed:.2f}s)")
        await self._line("━━━━━")
        await self._line(" ")

    async def finish(self) -> None:
        """Stop ticking, let the writer type ``Done! (N.NNs)`` (at most ~1 s), then release."""
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._task), 1.5)
            if not self._task.done():
                self._task.cancel()
        self._released = True

    async def append_raw(self, data: bytes) -> None:
        """Append bytes unframed (an error body after a failed load)."""
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.response.write(data)

    async def close(self) -> None:
        """End the response."""
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.response.write_eof()
