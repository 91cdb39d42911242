"""Misbehaving *test upstream*: answers 200 with bodies that break the API. NOT a model.

llama-swap passes a model server's answer through untouched, so whatever this server writes
reaches the client as if llama-swap had said it. The bad-input tests use it to check that
every client turns a broken body into a typed error that says what was wrong.

A mode is picked by the request:

- by a token ``__<mode>__`` in the chat prompt (last user message), the completion
  ``prompt``, the image ``prompt`` or the first embedding input;
- or by the first path segment, ``/<mode>/...``: through llama-swap that is
  ``/upstream/misbehaving/<mode>/v1/models`` and so on, which lets a provider whose DSN
  ends in ``/upstream/misbehaving/<mode>`` read llama-swap-shaped routes (``/v1/models``,
  ``/running``, ``/api/version``, ...) from this server.

Without a mode the answer is valid (a short chat answer, 8-dim embeddings, a 1x1 PNG), so
the model loads and health checks pass. Modes (see ``MODES``) that apply to every route:
``not_json``, ``html`` (200 text/html), ``truncated``, ``empty``, ``null``, ``array``,
``invalid_utf8``, ``wrong_types``, ``hang`` (answers validly after ``--hang`` seconds),
``error_garbage`` (500 with a cut-off JSON body), ``error_html`` (400 text/html), ``echo``
(200, not JSON, quoting the request's ``Authorization`` header) and ``error_echo`` (500
quoting it: servers that echo requests must not make a client show the key). Route
specific: chat ``empty_choices``, ``message_not_object``, ``sse_garbage``,
``sse_wrong_types``, ``sse_json_answer`` (a plain JSON answer to a stream request);
embeddings ``too_few``, ``too_many``, ``ragged``, ``not_numbers``, ``data_not_list``,
``no_embedding``; images ``bad_base64``, ``empty_base64``, ``item_not_object``,
``no_image_field``, ``data_not_list``, ``no_data``, ``empty_data``; management
``record_no_id``, ``data_not_list``.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import struct
import sys
import time
import zlib
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # rig/, when run as a script
from llamaswap_rig.upstreams._base import UpstreamHandler, UpstreamServer, serve

NAME = "misbehaving test upstream (answers with broken bodies on purpose; not a model)"

COMMON_MODES = (
    "not_json",
    "html",
    "truncated",
    "empty",
    "null",
    "array",
    "invalid_utf8",
    "wrong_types",
    "hang",
    "error_garbage",
    "error_html",
    "echo",
    "error_echo",
)
CHAT_MODES = (
    "empty_choices",
    "message_not_object",
    "sse_garbage",
    "sse_wrong_types",
    "sse_json_answer",
)
EMBED_MODES = ("too_few", "too_many", "ragged", "not_numbers", "data_not_list", "no_embedding")
IMAGE_MODES = (
    "bad_base64",
    "empty_base64",
    "item_not_object",
    "no_image_field",
    "data_not_list",
    "no_data",
    "empty_data",
)
MANAGEMENT_MODES = ("record_no_id", "data_not_list")
MODES = frozenset(COMMON_MODES + CHAT_MODES + EMBED_MODES + IMAGE_MODES + MANAGEMENT_MODES)
_TOKEN = re.compile(r"__([a-z0-9_]+?)__")
EMBED_DIM = 8


class Settings:
    hang = 5.0
    model = "misbehaving"


def mode_in_text(text: str) -> str | None:
    """The first ``__<mode>__`` token in ``text`` that names a known mode."""
    for match in _TOKEN.finditer(text):
        if match.group(1) in MODES:
            return match.group(1)
    return None


def split_mode(path: str) -> tuple[str | None, str]:
    """``/<mode>/rest`` -> (mode, ``/rest``); other paths -> (None, path)."""
    parts = path.split("/", 2)
    if len(parts) >= 2 and parts[1] in MODES:
        return parts[1], "/" + (parts[2] if len(parts) > 2 else "")
    return None, path


def tiny_png() -> bytes:
    """A valid 1x1 white PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)),
            chunk(b"IDAT", zlib.compress(b"\x00\xff\xff\xff")),
            chunk(b"IEND", b""),
        )
    )


def _text_of(body: dict[str, Any], route: str) -> str:
    if route == "embeddings":
        inp = body.get("input")
        if isinstance(inp, str):
            return inp
        if isinstance(inp, list) and inp and isinstance(inp[0], str):
            return inp[0]
        return ""
    messages = body.get("messages")
    if isinstance(messages, list):
        for msg in reversed(messages):
            if isinstance(msg, dict) and msg.get("role") == "user":
                content = msg.get("content")
                if isinstance(content, list):
                    return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
                return str(content or "")
    prompt = body.get("prompt")
    return prompt if isinstance(prompt, str) else ""


def valid_answer(route: str, body: dict[str, Any]) -> dict[str, Any]:
    """A well-formed answer for ``route``."""
    model = str(body.get("model") or Settings.model)
    now = int(time.time())
    if route == "chat":
        return {
            "id": "chatcmpl-misbehaving",
            "object": "chat.completion",
            "created": now,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "all good"},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
        }
    if route == "completions":
        return {
            "id": "cmpl-misbehaving",
            "object": "text_completion",
            "created": now,
            "model": model,
            "choices": [{"index": 0, "text": "all good", "finish_reason": "stop"}],
        }
    if route == "embeddings":
        inp = body.get("input")
        items = [inp] if isinstance(inp, str) else list(inp or [])
        return {
            "object": "list",
            "model": model,
            "data": [
                {"object": "embedding", "index": i, "embedding": [0.125] * EMBED_DIM}
                for i in range(len(items))
            ],
            "usage": {"prompt_tokens": len(items), "total_tokens": len(items)},
        }
    if route == "images":
        requested = body.get("n")
        n = requested if isinstance(requested, int) else 1
        png = base64.b64encode(tiny_png()).decode()
        return {"created": now, "data": [{"b64_json": png} for _ in range(max(1, n))]}
    if route == "models":
        return {"object": "list", "data": [{"id": model, "object": "model"}]}
    if route == "running":
        return {"running": [{"model": model, "state": "ready"}]}
    if route == "version":
        return {"version": "misbehaving", "commit": "0", "build_date": "unknown"}
    return {"status": "ok", "upstream": NAME}


def _route(path: str) -> str:
    if path.endswith("/chat/completions"):
        return "chat"
    if path.endswith("/completions"):
        return "completions"
    if path.endswith("/embeddings"):
        return "embeddings"
    if path.endswith("/images/generations"):
        return "images"
    if path.endswith("/models"):
        return "models"
    if path.endswith("/running"):
        return "running"
    if path.endswith("/version"):
        return "version"
    return "other"


def wrong_types(route: str) -> Any:
    """A body with the right keys holding values of the wrong type."""
    return {
        "chat": {"id": 7, "object": "chat.completion", "model": 5, "choices": "none"},
        "completions": {"id": 7, "choices": "none"},
        "embeddings": {"object": "list", "data": [{"index": "zero", "embedding": "abc"}]},
        "images": {"created": "yesterday", "data": [{"b64_json": 12345}]},
        "models": {"object": "list", "data": "none"},
        "running": {"running": {"model": "x"}},
        "version": {"version": 250},
    }.get(route, {"status": 1})


def shape_mode(mode: str, route: str, body: dict[str, Any]) -> Any:
    """Route-specific broken shapes (JSON that parses but is not the API)."""
    good = valid_answer(route, body)
    if mode == "empty_choices":
        return {**good, "choices": []}
    if mode == "message_not_object":
        return {**good, "choices": [{"index": 0, "message": "hello", "finish_reason": "stop"}]}
    if route == "embeddings":
        data = good["data"]
        if mode == "too_few":
            return {**good, "data": data[:-1]}
        if mode == "too_many":
            extra = {"object": "embedding", "index": len(data), "embedding": [0.5] * EMBED_DIM}
            return {**good, "data": [*data, extra]}
        if mode == "ragged":
            return {
                **good,
                "data": [{**d, "embedding": [0.5] * (i + 1)} for i, d in enumerate(data)],
            }
        if mode == "not_numbers":
            return {**good, "data": [{**d, "embedding": ["a", "b"]} for d in data]}
        if mode == "data_not_list":
            return {**good, "data": {"embedding": [0.5]}}
        if mode == "no_embedding":
            return {**good, "data": [{"object": "embedding", "index": d["index"]} for d in data]}
    if route == "images":
        if mode == "bad_base64":
            return {"created": 1, "data": [{"b64_json": "!!! this is not base64 !!!"}]}
        if mode == "empty_base64":
            return {"created": 1, "data": [{"b64_json": ""}]}
        if mode == "item_not_object":
            return {"created": 1, "data": ["iVBORw0KGgo="]}
        if mode == "no_image_field":
            return {"created": 1, "data": [{"revised_prompt": "a picture"}]}
        if mode == "data_not_list":
            return {"created": 1, "data": {"b64_json": "iVBORw0KGgo="}}
        if mode == "no_data":
            return {"created": 1}
        if mode == "empty_data":
            return {"created": 1, "data": []}
    if route in ("models", "running"):
        key = "data" if route == "models" else "running"
        if mode == "record_no_id":
            return {key: [{"name": "no id here", "object": "model"}]}
        if mode == "data_not_list":
            return {key: "nothing"}
    return good


class Handler(UpstreamHandler):
    tag = "misbehaving"
    server_version = "llamaswap-rig-misbehaving/1"

    def _send(self, status: int, data: bytes, ctype: str | None = "application/json") -> None:
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_json(self, status: int, payload: Any) -> None:
        self._send(status, json.dumps(payload).encode())

    def _read_body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}

    def do_GET(self) -> None:
        self._handle(post=False)

    def do_POST(self) -> None:
        self._handle(post=True)

    def _handle(self, post: bool) -> None:
        path_mode, path = split_mode(self.path.split("?", 1)[0])
        if path == "/health" and path_mode is None:
            self._send_json(200, {"status": "ok", "upstream": NAME})
            return
        body = self._read_body() if post else {}
        route = _route(path)
        mode = path_mode or mode_in_text(_text_of(body, route))
        if mode is None:
            if route == "chat" and body.get("stream"):
                self._sse([_chunk({"role": "assistant", "content": "all good"}, "stop")])
            else:
                self._send_json(200, valid_answer(route, body))
            return
        self._misbehave(mode, route, body)

    def _misbehave(self, mode: str, route: str, body: dict[str, Any]) -> None:
        good = json.dumps(valid_answer(route, body)).encode()
        if mode == "not_json":
            self._send(200, b"this is not JSON at all")
        elif mode == "html":
            self._send(200, b"<html><body><h1>It works!</h1></body></html>", "text/html")
        elif mode == "truncated":
            self._send(200, good[: max(1, len(good) // 2)])
        elif mode == "empty":
            self._send(200, b"")
        elif mode == "null":
            self._send(200, b"null")
        elif mode == "array":
            self._send(200, b"[1, 2, 3]")
        elif mode == "invalid_utf8":
            self._send(200, b'{"data": "\xff\xfe\xfd", "choices": "\xc3\x28"}')
        elif mode == "wrong_types":
            self._send_json(200, wrong_types(route))
        elif mode == "hang":
            time.sleep(Settings.hang)
            self._send(200, good)
        elif mode == "error_garbage":
            self._send(500, b'{"error": {"message": "upstream fell ov')
        elif mode in ("echo", "error_echo"):
            auth = self.headers.get("Authorization", "")
            status = 200 if mode == "echo" else 500
            self._send(status, f'you sent "Authorization: {auth}" and that is wrong'.encode())
        elif mode == "error_html":
            self._send(400, b"<html><body>Bad Request</body></html>", "text/html")
        elif mode == "sse_garbage":
            self._sse(
                [
                    _chunk({"role": "assistant", "content": "half "}, None),
                    b"{this is not json}",
                    _chunk({"content": "answer"}, "stop"),
                ]
            )
        elif mode == "sse_wrong_types":
            self._sse([json.dumps({"id": 1, "choices": "none"}).encode()])
        elif mode == "sse_json_answer":
            self._send(200, good)
        else:
            self._send_json(200, shape_mode(mode, route, body))

    def _sse(self, frames: list[bytes]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for frame in [*frames, b"[DONE]"]:
            self._write_chunk(b"data: " + frame + b"\n\n")
        self._write_chunk(b"")

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


def _chunk(delta: dict[str, Any], finish: str | None) -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-misbehaving",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": Settings.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
    ).encode()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=NAME)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--hang", type=float, default=5.0, help="seconds the hang mode waits")
    parser.add_argument("--model", default="misbehaving", help="name used when none is sent")
    args = parser.parse_args(argv)
    Settings.hang, Settings.model = args.hang, args.model

    return serve(UpstreamServer((args.host, args.port), Handler), tag="misbehaving", name=NAME)


if __name__ == "__main__":
    raise SystemExit(main())
