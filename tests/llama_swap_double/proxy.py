"""Reverse proxying for the test double: stream an upstream reply back verbatim.

Mirrors Go's ``httputil.ReverseProxy`` as llama-swap uses it: failures before
response headers give a 502 with an empty body; a stream cut mid-way just ends
(clean chunked terminator, no ``[DONE]``); SSE replies get ``X-Accel-Buffering: no``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
}


class UpstreamUnavailableError(Exception):
    """The upstream could not be reached or died before sending headers."""


@dataclass
class ProxyHooks:
    """Callbacks used for in-flight tracking of a proxied request."""

    on_headers: Callable[[CIMultiDictProxy[str]], None] | None = None
    on_bytes: Callable[[int], None] | None = None
    extra_headers: dict[str, str] = field(default_factory=dict)


def new_session() -> aiohttp.ClientSession:
    """A client session that never decompresses, redirects or times out reads."""
    timeout = aiohttp.ClientTimeout(total=None, connect=30, sock_connect=30)
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    return aiohttp.ClientSession(
        timeout=timeout,
        connector=connector,
        auto_decompress=False,
        cookie_jar=aiohttp.DummyCookieJar(),
    )


def upstream_headers(request: web.Request, extra: dict[str, str]) -> CIMultiDict[str]:
    """Request headers to send upstream (hop-by-hop dropped, X-Forwarded-For added)."""
    out: CIMultiDict[str] = CIMultiDict()
    for key, value in request.headers.items():
        low = key.lower()
        if low in HOP_BY_HOP or low in ("host", "content-length"):
            continue
        out.add(key, value)
    peer = request.remote or ""
    if peer:
        prior = request.headers.get("X-Forwarded-For")
        out["X-Forwarded-For"] = f"{prior}, {peer}" if prior else peer
    for key, value in extra.items():
        out[key] = value
    return out


async def open_upstream(
    session: aiohttp.ClientSession,
    request: web.Request,
    url: str,
    body: bytes,
    hooks: ProxyHooks,
) -> aiohttp.ClientResponse:
    """Send the request and wait for the upstream's response headers."""
    try:
        resp = await session.request(
            request.method,
            url,
            data=body if body or request.method not in ("GET", "HEAD") else None,
            headers=upstream_headers(request, hooks.extra_headers),
            allow_redirects=False,
            skip_auto_headers=("User-Agent", "Accept-Encoding", "Content-Type"),
        )
    except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as err:
        raise UpstreamUnavailableError(str(err)) from err
    return resp


def bad_gateway() -> web.Response:
    """Go ReverseProxy's default error reply: 502 and nothing else."""
    return web.Response(status=502, body=b"")


async def relay(
    request: web.Request,
    upstream: aiohttp.ClientResponse,
    hooks: ProxyHooks,
    response: web.StreamResponse | None = None,
) -> web.StreamResponse:
    """Copy status, headers and body of ``upstream`` to the client, flushing every chunk.

    With ``response`` already prepared (loading-state stream) only the body is appended.
    """
    try:
        if hooks.on_headers is not None:
            hooks.on_headers(upstream.headers)
        sized = False
        if response is None:
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            for key, value in upstream.headers.items():
                low = key.lower()
                if low in HOP_BY_HOP:
                    continue
                if low == "content-length":
                    sized = True
                    response.content_length = int(value)
                    continue
                response.headers.add(key, value)
            ctype = upstream.headers.get("Content-Type", "").lower()
            if "text/event-stream" in ctype:
                response.headers["X-Accel-Buffering"] = "no"
            await response.prepare(request)
        if request.method == "HEAD" or upstream.status in (204, 304):
            with contextlib.suppress(ConnectionError):
                await response.write_eof()
            return response
        try:
            async for chunk in upstream.content.iter_any():
                if hooks.on_bytes is not None:
                    hooks.on_bytes(len(chunk))
                await response.write(chunk)
        except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, OSError):
            if sized and request.transport is not None:
                # Content-Length promised more than we have: drop the connection.
                request.transport.close()
                return response
        with contextlib.suppress(ConnectionError, RuntimeError):
            await response.write_eof()
        return response
    finally:
        upstream.close()
