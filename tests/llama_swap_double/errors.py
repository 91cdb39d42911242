"""Error bodies of the test double, in llama-swap's v250 shape or the newer envelope.

v250 answers ``{"error":"<msg>","src":"llama-swap"}`` (Go marshals the map with
sorted keys); ``doubleErrorEnvelope: true`` switches to the OpenAI-style object of
main-0bdb372 (``internal/swaputil/httperror.go``), ``{"src":"llama-swap","error":
{"message","type","param":null,"code"}}`` with type and code derived from the status,
so clients can be tested against both.
"""

from __future__ import annotations

import html
import json
from typing import Any

from aiohttp import web

# main-0bdb372's errorTypeForStatus: (type, default code) per status.
_TYPES: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "bad_request"),
    401: ("authentication_error", "unauthorized"),
    403: ("authentication_error", "forbidden"),
    404: ("invalid_request_error", "not_found"),
    409: ("invalid_request_error", "conflict"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
    502: ("server_error", "bad_gateway"),
    503: ("server_error", "service_unavailable"),
    504: ("server_error", "gateway_timeout"),
}

_GO_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}

NO_MODEL = "no model id could be identified"
NO_ROUTER = "no router for requested model"
UNAUTHORIZED = "unauthorized: invalid or missing API key"
TOO_MANY = "Too many requests"


class SwapError(Exception):
    """A failure that llama-swap reports through its error renderer."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


class LoadError(SwapError):
    """A model failed to load; v250 reports it as 500 ``unspecific error: ...``."""

    def __init__(self, reason: str) -> None:
        super().__init__(500, f"unspecific error: {reason}")
        self.reason = reason


def go_json(obj: Any, newline: bool = False) -> bytes:
    """Compact JSON like Go's encoder (``json.NewEncoder`` adds a newline)."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in _GO_ESCAPES.items():
        text = text.replace(char, escaped)
    return (text + ("\n" if newline else "")).encode()


def sorted_map(obj: Any) -> Any:
    """Sort dict keys recursively, as Go does when marshalling maps."""
    if isinstance(obj, dict):
        return {k: sorted_map(obj[k]) for k in sorted(obj)}
    if isinstance(obj, list):
        return [sorted_map(v) for v in obj]
    return obj


def error_type(status: int) -> tuple[str, str]:
    """OpenAI ``type`` and default ``code`` for a status (newer envelope only)."""
    if status in _TYPES:
        return _TYPES[status]
    if 400 <= status < 500:
        return "invalid_request_error", "invalid_request"
    return "server_error", "internal_error"


def json_error_body(status: int, message: str, envelope: bool, code: str | None = None) -> bytes:
    """The JSON error document (no content negotiation)."""
    if not envelope:
        return go_json({"error": message, "src": "llama-swap"})
    etype, default_code = error_type(status)
    detail = {"message": message, "type": etype, "param": None, "code": code or default_code}
    return go_json({"src": "llama-swap", "error": detail})


def error_response(
    request: web.Request,
    status: int,
    message: str,
    envelope: bool,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """Render like llama-swap's SendResponse: negotiate text/plain, text/html or JSON."""
    accept = request.headers.get("Accept", "")
    hdrs = dict(headers or {})
    if "text/plain" in accept:
        hdrs["Content-Type"] = "text/plain"
        body = f"llama-swap: {message}".encode()
    elif "text/html" in accept:
        hdrs["Content-Type"] = "text/html"
        body = (
            f"<html><body><h1>llama-swap</h1><p>{html.escape(message)}</p></body></html>"
        ).encode()
    else:
        hdrs["Content-Type"] = "application/json"
        body = json_error_body(status, message, envelope, code)
    return web.Response(status=status, body=body, headers=hdrs)


def too_many_requests(envelope: bool) -> web.Response:
    """429 for the concurrency limit, JSON whatever the client accepts, with Retry-After.

    v250 sends a bare ``{"error":...}`` (no ``src``); main-0bdb372 the envelope with
    code ``concurrency_limit`` instead of the status's default.
    """
    if envelope:
        body = json_error_body(429, TOO_MANY, True, "concurrency_limit")
    else:
        body = go_json({"error": TOO_MANY})
    return web.Response(
        status=429,
        body=body,
        headers={"Content-Type": "application/json", "Retry-After": "1"},
    )


def go_text(status: int, text: str, headers: dict[str, str] | None = None) -> web.Response:
    """Plain-text reply like Go's ``http.Error``/``w.Write`` (charset, nosniff)."""
    hdrs = {"Content-Type": "text/plain; charset=utf-8"}
    hdrs.update(headers or {})
    return web.Response(status=status, body=text.encode(), headers=hdrs)


def not_found() -> web.Response:
    """Go ServeMux's 404 for an unknown path."""
    return go_text(404, "404 page not found\n", {"X-Content-Type-Options": "nosniff"})


def method_not_allowed(allow: list[str]) -> web.Response:
    """Go ServeMux's 405 for a known path with the wrong method."""
    return go_text(
        405,
        "Method Not Allowed\n",
        {"Allow": ", ".join(allow), "X-Content-Type-Options": "nosniff"},
    )


def go_duration(seconds: float) -> str:
    """Format seconds like Go's ``time.Duration.String`` (``15s``, ``2m0s``, ``1h0m0s``)."""
    total = int(seconds)
    if seconds != total:
        return f"{seconds:g}s"
    if total < 60:
        return f"{total}s"
    hours, rem = divmod(total, 3600)
    minutes, secs = divmod(rem, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    return f"{minutes}m{secs}s"


def go_float_duration(seconds: float) -> str:
    """A sub-minute duration the way Go prints it (``33.78µs``, ``1.2ms``, ``6.26s``)."""
    ns = int(seconds * 1e9)
    if ns < 1000:
        return f"{ns}ns"
    for unit, scale in (("µs", 1e3), ("ms", 1e6)):
        if ns < scale * 1000:
            return f"{ns / scale:.6f}".rstrip("0").rstrip(".") + unit
    if ns < 60 * 10**9:
        return f"{ns / 1e9:.9f}".rstrip("0").rstrip(".") + "s"
    return go_duration(round(seconds))
