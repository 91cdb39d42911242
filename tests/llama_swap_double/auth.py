"""API-key checks of the test double (``apiKeys``), with llama-swap's precedence.

Only the highest-precedence credential present counts: Basic (password slot),
then Bearer, then ``x-api-key``; a wrong Bearer is not rescued by a good x-api-key.
"""

from __future__ import annotations

import base64
import binascii

from aiohttp import web

EXEMPT_GET = {"/health", "/wol-health", "/", "/favicon.ico", "/upstream"}


def extract_api_key(request: web.Request) -> str:
    """The key the request presents, or "" when none."""
    auth = request.headers.get("Authorization", "")
    scheme, sep, credentials = auth.partition(" ")
    bearer = basic = ""
    if sep and scheme.lower() == "bearer":
        bearer = credentials
    elif sep and scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            decoded = ""
        _, colon, password = decoded.partition(":")
        if colon:
            basic = password
    return basic or bearer or request.headers.get("x-api-key", "")


def is_exempt(request: web.Request) -> bool:
    """Routes llama-swap never guards: health checks, redirects, CORS preflight."""
    if request.method == "OPTIONS":
        return True
    return request.method in ("GET", "HEAD") and request.path in EXEMPT_GET


def authorized(request: web.Request, keys: list[str]) -> bool:
    """True when no keys are configured, the route is exempt, or the key matches."""
    if not keys or is_exempt(request):
        return True
    key = extract_api_key(request)
    return key != "" and key in keys
