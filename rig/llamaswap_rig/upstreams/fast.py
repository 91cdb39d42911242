"""Fast deterministic chat *test upstream*, standing in for llama-swap's ``cmd/fake-model``.

The Go module proxy refuses ``cmd/fake-model``, so this stdlib-only server plays its role: it
loads in ``--load`` seconds (``/health`` answers 503 until then), answers
``/v1/chat/completions`` (plain and SSE) with ``--tokens`` lorem words paced at ``--tps``, and
``/v1/embeddings`` with deterministic unit vectors. It is NOT a language model.

Fault hooks, triggered by a magic word in the last user message (or embedding input):
``__die_now__`` (process exits before answering), ``__die_midstream__`` (exits after half the
chunks), ``__upstream_400__`` (400 in OpenAI error shape), ``__upstream_500__`` (500).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # rig/, when run as a script
from llamaswap_rig.upstreams._base import UpstreamHandler, UpstreamServer, serve

NAME = "fast test upstream (stands in for llama-swap cmd/fake-model; not a language model)"
# The same words, in the same order, as cmd/fake-model answers with, so both speak alike.
WORDS = [
    "Lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "consectetur",
    "adipiscing",
    "elit",
    "sed",
    "do",
    "eiusmod",
    "tempor",
    "incididunt",
    "ut",
    "labore",
    "et",
    "dolore",
    "magna",
    "aliqua",
    "Ut",
    "enim",
    "ad",
    "minim",
    "veniam",
    "quis",
    "nostrud",
]
EMBED_DIM = 16


class Settings:
    tokens = 8
    tps = 1000.0
    load = 0.0
    model = "fake-model"
    started = time.monotonic()


def _last_user_text(body: dict[str, Any]) -> str:
    messages = body.get("messages")
    if isinstance(messages, list):
        for msg in reversed(messages):
            if isinstance(msg, dict) and msg.get("role") == "user":
                content = msg.get("content")
                if isinstance(content, str):
                    return content
                if isinstance(content, list):
                    return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    prompt = body.get("prompt")
    return prompt if isinstance(prompt, str) else ""


def _prompt_tokens(body: dict[str, Any]) -> int:
    total = 0
    for msg in body.get("messages") or []:
        if isinstance(msg, dict):
            total += len(str(msg.get("content", "")).split()) + 4
    return total


def _completion_words(n: int) -> list[str]:
    return [WORDS[i % len(WORDS)] for i in range(n)]


def _embedding(text: str) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    raw = [(b - 127.5) / 127.5 for b in digest[:EMBED_DIM]]
    norm = math.sqrt(sum(v * v for v in raw)) or 1.0
    return [round(v / norm, 6) for v in raw]


def _error(message: str, etype: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": etype, "param": None, "code": code}}


class Handler(UpstreamHandler):
    tag = "fast"
    server_version = "llamaswap-rig-fast/1"

    def _read_json(self) -> dict[str, Any] | None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError as exc:
            self._send_json(400, _error(f"invalid JSON body: {exc}", "invalid_request_error"))
            return None
        if not isinstance(body, dict):
            self._send_json(400, _error("body must be a JSON object", "invalid_request_error"))
            return None
        return body

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/health":
            if time.monotonic() - Settings.started < Settings.load:
                self._send_json(503, {"status": "loading", "upstream": NAME})
            else:
                self._send_json(200, {"status": "ok", "upstream": NAME})
        elif path in ("/v1/models", "/models"):
            self._send_json(
                200,
                {
                    "object": "list",
                    "data": [
                        {"id": Settings.model, "object": "model", "owned_by": "llamaswap-rig"}
                    ],
                },
            )
        else:
            self._send_json(404, _error(f"no route {path}", "invalid_request_error"))

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        if path in ("/v1/chat/completions", "/chat/completions", "/v1/completions"):
            body = self._read_json()
            if body is not None:
                self._chat(body, chat=not path.endswith("/v1/completions"))
        elif path in ("/v1/embeddings", "/embeddings"):
            body = self._read_json()
            if body is not None:
                self._embeddings(body)
        else:
            self._discard_body()
            self._send_json(404, _error(f"no route {path}", "invalid_request_error"))

    def _fault(self, text: str) -> bool:
        if "__die_now__" in text:
            sys.stderr.write("[fast] __die_now__: exiting before answering\n")
            sys.stderr.flush()
            os._exit(3)
        if "__upstream_400__" in text:
            self._send_json(
                400,
                _error("test upstream refused the request", "invalid_request_error", "bad_request"),
            )
            return True
        if "__upstream_500__" in text:
            self._send_json(500, _error("test upstream failed on request", "server_error"))
            return True
        return False

    def _chat(self, body: dict[str, Any], chat: bool) -> None:
        text = _last_user_text(body)
        if self._fault(text):
            return
        n = Settings.tokens
        max_tokens = body.get("max_tokens", body.get("max_completion_tokens"))
        if isinstance(max_tokens, int) and max_tokens >= 0:
            n = min(n, max_tokens)
        words = _completion_words(n)
        model = str(body.get("model") or Settings.model)
        prompt_n = _prompt_tokens(body)
        finish = "stop" if n == Settings.tokens else "length"
        usage = {"prompt_tokens": prompt_n, "completion_tokens": n, "total_tokens": prompt_n + n}
        created = int(time.time())
        delay = 1.0 / Settings.tps if Settings.tps > 0 else 0.0
        if not body.get("stream"):
            time.sleep(delay * n)
            content = " ".join(words)
            choice: dict[str, Any] = {"index": 0, "finish_reason": finish}
            if chat:
                choice["message"] = {"role": "assistant", "content": content}
            else:
                choice["text"] = content
            self._send_json(
                200,
                {
                    "id": "chatcmpl-fast",
                    "object": "chat.completion" if chat else "text_completion",
                    "created": created,
                    "model": model,
                    "choices": [choice],
                    "usage": usage,
                    "system_fingerprint": "rig-fast",
                },
            )
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def chunk(
            delta: dict[str, Any], finish_reason: str | None, extra: dict[str, Any] | None = None
        ) -> None:
            frame: dict[str, Any] = {
                "id": "chatcmpl-fast",
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
            }
            if extra:
                frame.update(extra)
            self._write_chunk(f"data: {json.dumps(frame)}\n\n".encode())

        chunk({"role": "assistant", "content": ""}, None)
        die_at = n // 2 if "__die_midstream__" in text else -1
        for i, word in enumerate(words):
            if i == die_at:
                sys.stderr.write("[fast] __die_midstream__: exiting mid-stream\n")
                sys.stderr.flush()
                os._exit(3)
            time.sleep(delay)
            chunk({"content": word if i == 0 else " " + word}, None)
        if die_at >= 0:  # n was 0 or 1: still die before finishing
            os._exit(3)
        chunk({}, finish, {"usage": usage})
        self._write_chunk(b"data: [DONE]\n\n")
        self._write_chunk(b"")

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _embeddings(self, body: dict[str, Any]) -> None:
        inp = body.get("input")
        items = [inp] if isinstance(inp, str) else inp
        if not isinstance(items, list) or not items or not all(isinstance(s, str) for s in items):
            self._send_json(
                400, _error("input must be a string or a list of strings", "invalid_request_error")
            )
            return
        if self._fault(" ".join(items)):
            return
        tokens = sum(len(s.split()) for s in items)
        self._send_json(
            200,
            {
                "object": "list",
                "model": str(body.get("model") or Settings.model),
                "data": [
                    {"object": "embedding", "index": i, "embedding": _embedding(s)}
                    for i, s in enumerate(items)
                ],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=NAME)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--tokens", type=int, default=8, help="words per completion")
    parser.add_argument("--tps", type=float, default=1000.0, help="words per second")
    parser.add_argument("--load", type=float, default=0.0, help="seconds of 503 on /health")
    parser.add_argument("--model", default="fake-model", help="name used when none is sent")
    args = parser.parse_args(argv)
    Settings.tokens, Settings.tps, Settings.load = args.tokens, args.tps, args.load
    Settings.model = args.model
    Settings.started = time.monotonic()

    return serve(UpstreamServer((args.host, args.port), Handler), tag="fast", name=NAME)


if __name__ == "__main__":
    raise SystemExit(main())
