"""Tiny deterministic upstream for self-checking the llama-swap test double.

Not a model server: it answers ``/health`` and ``/v1/chat/completions`` (plain and
SSE) and can crash on request, so swap, 502 and truncation paths can be exercised.
The self-check steers it by state, not by time: ``--ready-file`` keeps ``/health``
at 503 until that file exists, and a request with ``"arrived": PATH, "hold": PATH``
creates the first file on arrival and answers only once the second one exists.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from aiohttp import web

_GATE_POLL = 0.02


async def _wait_for_file(path: str) -> None:
    while not Path(path).exists():
        await asyncio.sleep(_GATE_POLL)


def build(name: str, ready_file: str | None) -> web.Application:
    async def health(request: web.Request) -> web.Response:
        if ready_file is not None and not Path(ready_file).exists():
            return web.Response(status=503)
        return web.json_response({"status": "ok"})

    async def chat(request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        body = json.loads(raw or b"{}")
        if body.get("crash_before_headers"):
            os._exit(3)
        if body.get("arrived"):
            Path(body["arrived"]).touch()
        if body.get("hold"):
            await _wait_for_file(body["hold"])
        if not body.get("stream"):
            return web.json_response(
                {
                    "object": "chat.completion",
                    "model": body.get("model"),
                    "responder": name,
                    "request_body": raw.decode(),
                    "auth": request.headers.get("Authorization", ""),
                    "x_api_key": request.headers.get("x-api-key", ""),
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": name}}],
                }
            )
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        die_after = body.get("die_after")
        for i in range(int(body.get("chunks", 5))):
            if die_after is not None and i >= int(die_after):
                os._exit(4)
            chunk = {
                "object": "chat.completion.chunk",
                "model": body.get("model"),
                "choices": [{"index": 0, "delta": {"content": f"{name}-{i}"}}],
            }
            await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())
            await asyncio.sleep(float(body.get("delay", 0.05)))
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    async def env(request: web.Request) -> web.Response:
        return web.json_response(dict(os.environ))

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/env", env)
    app.router.add_get("/echo/{tail:.*}", lambda r: _echo(r))
    return app


async def _echo(request: web.Request) -> web.Response:
    return web.json_response({"path": request.path, "raw_path": request.raw_path})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--respond", default="fake")
    parser.add_argument("--ready-file", help="/health answers 503 until this file exists")
    parser.add_argument("--child", action="store_true", help="spawn a grandchild sleeper")
    parser.add_argument("--ignore-sigterm", action="store_true")
    args = parser.parse_args()
    if args.ignore_sigterm:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if args.child:
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
    print(f"[upstream {args.respond}] pid {os.getpid()} port {args.port}", flush=True)
    web.run_app(build(args.respond, args.ready_file), host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()
