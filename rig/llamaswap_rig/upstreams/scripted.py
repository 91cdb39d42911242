"""Scripted tool-calling chat *test upstream*. NOT a language model.

llama-swap starts it like any model. It answers ``/v1/chat/completions`` (plain and SSE, in
llama-server's chunk shapes, with ``usage`` and llama.cpp-style ``timings``) by a fixed script,
so agent tests get a reliable tool call where a 0.5B model may not produce one:

- tools in the request and no tool result after the last user message: call a tool (the one
  named by ``tool_choice``, else the first), with arguments filled from its JSON schema (the
  last user text for required strings, 1 for numbers, true for booleans); a JSON object
  after ``__args__`` in the last user text (``edit this __args__{"image": "a.png"}``) sets
  those arguments by name over the filled ones, for tools with more than one string to give;
- the last message is a tool result: answer ``Tool result: <its text>``;
- the last user text contains ``__echo_request__``: answer with the JSON of the request as
  this upstream received it (``{"path", "headers", "body"}``), to prove what went on the wire;
- ``__reason__``: answer with ``reasoning_content`` before the content (like a model run with
  llama-server's ``--reasoning-format``);
- anything else: ``scripted reply``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # rig/, when run as a script
from llamaswap_rig.upstreams._base import UpstreamHandler, UpstreamServer, serve

NAME = "scripted tool-calling test upstream (not a language model)"


class Settings:
    model = "scripted-upstream"


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(part.get("text", "")) for part in content if isinstance(part, dict)
        ).strip()
    return "" if content is None else json.dumps(content)


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    raw = body.get("messages")
    return [m for m in raw if isinstance(m, dict)] if isinstance(raw, list) else []


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return _text(message.get("content"))
    return ""


def _arg_value(schema: dict[str, Any], user_text: str) -> Any:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if "anyOf" in schema and kind is None:
        options = [s for s in schema["anyOf"] if isinstance(s, dict) and s.get("type") != "null"]
        return _arg_value(options[0], user_text) if options else None
    if schema.get("enum"):
        return schema["enum"][0]
    if kind == "integer":
        return 1
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    if kind == "object":
        return {}
    return user_text or "test"


def _directed_args(user_text: str) -> dict[str, Any]:
    """The JSON object after ``__args__`` in the user text; none there gives ``{}``."""
    _, found, rest = user_text.partition("__args__")
    if not found:
        return {}
    value, _ = json.JSONDecoder().raw_decode(rest.lstrip())
    if not isinstance(value, dict):
        raise ValueError(f"__args__ must be followed by a JSON object, got {value!r}")
    return value


def _tool_call(body: dict[str, Any], user_text: str) -> dict[str, Any]:
    tools = [t for t in body.get("tools") or [] if isinstance(t, dict)]
    choice = body.get("tool_choice")
    wanted = None
    if isinstance(choice, dict):
        wanted = (choice.get("function") or {}).get("name")
    chosen = next((t for t in tools if (t.get("function") or {}).get("name") == wanted), tools[0])
    function = chosen.get("function") or {}
    params = function.get("parameters") or {}
    props = params.get("properties") or {}
    args = {
        name: _arg_value(props.get(name) or {}, user_text)
        for name in params.get("required") or []
        if isinstance(name, str)
    }
    args.update(_directed_args(user_text))
    return {
        "id": f"call_{uuid.uuid4().hex[:12]}",
        "type": "function",
        "function": {"name": function.get("name", "tool"), "arguments": json.dumps(args)},
    }


def plan(body: dict[str, Any], path: str, headers: dict[str, str]) -> dict[str, Any]:
    """What to answer: ``{"content", "reasoning", "tool_calls"}``."""
    messages = _messages(body)
    user_text = _last_user_text(messages)
    last = messages[-1] if messages else {}
    if "__echo_request__" in user_text:
        echo = {"path": path, "headers": headers, "body": body}
        return {"content": json.dumps(echo), "reasoning": None, "tool_calls": None}
    if last.get("role") == "tool":
        return {
            "content": f"Tool result: {_text(last.get('content'))[:500]}",
            "reasoning": None,
            "tool_calls": None,
        }
    if body.get("tools") and body.get("tool_choice") != "none":
        return {"content": None, "reasoning": None, "tool_calls": [_tool_call(body, user_text)]}
    if "__reason__" in user_text:
        return {"content": "Done thinking.", "reasoning": "Let me think.", "tool_calls": None}
    return {"content": "scripted reply", "reasoning": None, "tool_calls": None}


def _usage(body: dict[str, Any], completion: int) -> dict[str, Any]:
    prompt = sum(len(_text(m.get("content")).split()) + 4 for m in _messages(body))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _timings(prompt: int, completion: int) -> dict[str, Any]:
    return {
        "cache_n": 0,
        "prompt_n": prompt,
        "prompt_ms": 1.0,
        "predicted_n": completion,
        "predicted_ms": 1.0,
        "predicted_per_second": 1000.0,
    }


class Handler(UpstreamHandler):
    tag = "scripted"
    server_version = "llamaswap-rig-scripted/1"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/health":
            self._send_json(200, {"status": "ok", "upstream": NAME})
        elif path in ("/v1/models", "/models"):
            self._send_json(200, {"object": "list", "data": [{"id": Settings.model}]})
        else:
            self._send_json(404, {"error": {"message": f"no route {path}", "type": "not_found"}})

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if path not in ("/v1/chat/completions", "/chat/completions"):
            self._send_json(404, {"error": {"message": f"no route {path}", "type": "not_found"}})
            return
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError as exc:
            self._send_json(400, {"error": {"message": f"bad JSON: {exc}", "type": "invalid"}})
            return
        if not isinstance(body, dict):
            self._send_json(400, {"error": {"message": "body must be an object", "type": "x"}})
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            answer = plan(body, path, headers)
        except ValueError as exc:  # a malformed __args__ directive
            self._send_json(400, {"error": {"message": f"bad __args__: {exc}", "type": "invalid"}})
            return
        completion = len((answer["content"] or "").split()) + (4 if answer["tool_calls"] else 0)
        usage = _usage(body, completion)
        timings = _timings(usage["prompt_tokens"], completion)
        finish = "tool_calls" if answer["tool_calls"] else "stop"
        if body.get("stream"):
            self._stream(body, answer, usage, timings, finish)
            return
        message: dict[str, Any] = {"role": "assistant", "content": answer["content"]}
        if answer["reasoning"]:
            message["reasoning_content"] = answer["reasoning"]
        if answer["tool_calls"]:
            message["tool_calls"] = answer["tool_calls"]
        self._send_json(
            200,
            {
                "id": f"chatcmpl-{uuid.uuid4().hex[:16]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": Settings.model,
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": usage,
                "timings": timings,
            },
        )

    def _stream(
        self,
        body: dict[str, Any],
        answer: dict[str, Any],
        usage: dict[str, Any],
        timings: dict[str, Any],
        finish: str,
    ) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        base = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:16]}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": Settings.model,
        }

        def send(choices: list[dict[str, Any]], **extra: Any) -> None:
            frame = {**base, "choices": choices, **extra}
            self.wfile.write(f"data: {json.dumps(frame)}\n\n".encode())
            self.wfile.flush()

        def delta(d: dict[str, Any]) -> None:
            send([{"index": 0, "delta": d, "finish_reason": None}])

        delta({"role": "assistant", "content": None})
        if answer["reasoning"]:
            for word in answer["reasoning"].split(" "):
                delta({"reasoning_content": word + " "})
        if answer["content"]:
            words = answer["content"].split(" ")
            for i, word in enumerate(words):
                delta({"content": word if i == 0 else " " + word})
        for index, call in enumerate(answer["tool_calls"] or []):
            delta({"tool_calls": [{"index": index, **call}]})
        options = body.get("stream_options")
        with_usage = isinstance(options, dict) and options.get("include_usage")
        if with_usage:
            send([{"index": 0, "delta": {}, "finish_reason": finish}])
            send([], usage=usage, timings=timings)
        else:
            send([{"index": 0, "delta": {}, "finish_reason": finish}], timings=timings)
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--model", default=Settings.model, help="model name written in answers")
    args = p.parse_args(argv)
    Settings.model = args.model
    return serve(UpstreamServer((args.host, args.port), Handler), tag="scripted", name=NAME)


if __name__ == "__main__":
    raise SystemExit(main())
