"""``sendLoadingState`` progress stream of the test double.

While a streaming chat request waits for its model, llama-swap answers 200
``text/event-stream`` at once and writes ``reasoning_content`` deltas; the real
upstream stream then continues in the same response.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time

from aiohttp import web

from .errors import go_json

TICK = 0.75
REMARKS = [
    "Reticulating splines",
    "Waking up the hamsters",
    "Convincing the GPU to participate",
    "Loading weights (they're heavy)",
    "Untangling the transformer spaghetti",
    "This is a test double, the wait is simulated by a real process",
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
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def _send(self, text: str) -> None:
        async with self._lock:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.response.write(loading_chunk(text))

    async def begin(self) -> None:
        """Send headers and the first lines, then tick in the background."""
        await self.response.prepare(self.request)
        await self._send("━━━━━\n")
        await self._send(f"llama-swap loading model: {self.model_id}\n")
        self._task = asyncio.get_running_loop().create_task(self._tick())

    async def _tick(self) -> None:
        remarks = REMARKS[:]
        random.shuffle(remarks)
        next_remark = time.monotonic() + random.uniform(2, 5)
        i = 0
        while True:
            await asyncio.sleep(TICK)
            if time.monotonic() >= next_remark:
                await self._send("\n" + remarks[i % len(remarks)] + " ")
                i += 1
                next_remark = time.monotonic() + random.uniform(5, 9)
            else:
                await self._send(".")

    async def finish(self) -> None:
        """Stop ticking and write the ``Done! (N.NNs)`` trailer."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        elapsed = time.monotonic() - self.started
        await self._send("\n")
        await self._send(f"Done! ({elapsed:.2f}s)\n")
        await self._send("━━━━━\n")
        await self._send(" \n")

    async def append_raw(self, data: bytes) -> None:
        """Append bytes unframed (an error body after a failed load)."""
        async with self._lock:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.response.write(data)

    async def close(self) -> None:
        """End the response."""
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.response.write_eof()
