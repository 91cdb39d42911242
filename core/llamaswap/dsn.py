"""Parse where a llama-swap lives, and with which key, from one string.

Accepted forms (all case-insensitive in the scheme)::

    llama-swap://[token@]host[:port][/prefix]        plain http, default port 8080
    llama-swap+https://[token@]host[:port][/prefix]  TLS in front, default port 443
    http(s)://[user:key@]host[:port][/prefix]         a plain URL
    host[:port]                                       read as llama-swap://host[:port]

llama-swap reads a key from the *password* slot of Basic auth, so ``user:key@`` takes the
password as the key and a lone ``token@`` takes the token. The key always goes out as
``Authorization: Bearer <key>`` and never appears in :attr:`DSN.base_url` or a repr.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

import httpx

from llamaswap._wire import MODEL_ROUTES
from llamaswap.errors import DSNError

DEFAULT_DSN = "llama-swap://localhost:8080"
ENV_DSN = "LLAMASWAP_DSN"
ENV_API_KEY = "LLAMASWAP_API_KEY"
"""Read for the key when neither ``api_key=`` nor the address holds one."""

_EXAMPLE = "llama-swap://sk-key@127.0.0.1:8080"
# scheme -> (http scheme used on the wire, default port)
_SCHEMES: dict[str, tuple[str, int]] = {
    "llama-swap": ("http", 8080),
    "llamaswap": ("http", 8080),
    "llama-swap+http": ("http", 8080),
    "llama-swap+https": ("https", 443),
    "http": ("http", 80),
    "https": ("https", 443),
}


@dataclass(frozen=True)
class DSN:
    """A parsed llama-swap address: where to send requests, and the key if any.

    The key is kept out of ``repr`` and ``str``; read it from :attr:`api_key`.
    """

    base_url: str
    """``scheme://host:port[/prefix]`` with no key and no trailing slash."""
    scheme: str
    host: str
    port: int
    path: str = ""
    api_key: str | None = field(default=None, repr=False)

    @property
    def openai_base_url(self) -> str:
        """The OpenAI-compatible base (``<base_url>/v1``) for OpenAI clients."""
        return f"{self.base_url}/v1"

    def redacted(self) -> str:
        """The address as text with the key shown as ``***`` (safe to log)."""
        if not self.api_key:
            return self.base_url
        scheme, _, rest = self.base_url.partition("://")
        return f"{scheme}://***@{rest}"

    def __str__(self) -> str:
        return self.redacted()

    def __repr__(self) -> str:
        return f"DSN({self.redacted()!r})"


def parse_dsn(dsn: str) -> DSN:
    """Parse a llama-swap DSN or URL into a :class:`DSN`.

    Raises:
        DSNError: the string is not a usable address; the message names the part
            that is wrong and shows a valid example. It never contains the key.
    """
    if not isinstance(dsn, str):
        raise DSNError(
            f"the DSN must be a string, got {type(dsn).__name__}; for example {_EXAMPLE!r}"
        )
    text = dsn.strip()
    if not text:
        raise DSNError(f"the DSN is empty; give one such as {_EXAMPLE!r}")
    if any(ch.isspace() for ch in text):
        raise DSNError(f"the DSN contains whitespace; remove it (for example {_EXAMPLE!r})")
    if "://" not in text:
        _refuse_mangled_scheme(text)
        text = f"llama-swap://{text}"

    scheme_text, _, rest = text.partition("://")
    scheme_key = scheme_text.lower()
    if scheme_key not in _SCHEMES:
        accepted = ", ".join(f"{s}://" for s in _SCHEMES)
        # Only a scheme-shaped word is echoed: text before '://' may hold the key.
        shown = f" {scheme_text!r}" if re.fullmatch(_SCHEME_WORD, scheme_text) else ""
        raise DSNError(
            f"unknown DSN scheme{shown}; use one of {accepted} (for example {_EXAMPLE!r})"
        )
    wire_scheme, default_port = _SCHEMES[scheme_key]

    # Split userinfo off ourselves: the key may hold characters that confuse urlsplit.
    authority, slash, path_rest = rest.partition("/")
    path = f"/{path_rest}" if slash else ""
    if "@" in path:
        raise DSNError(
            "the DSN has an '@' after a '/': a key containing '/' must be percent-encoded "
            "as %2F (for example 'llama-swap://sk%2Fkey@host:8080')"
        )
    userinfo, at, hostport = authority.rpartition("@")
    api_key = _key_from_userinfo(userinfo) if at else None

    try:
        parts = urlsplit(f"{wire_scheme}://{hostport}{path}")
        host = parts.hostname
        port = parts.port
    except ValueError as exc:
        raise DSNError(_hostport_problem(hostport, str(exc))) from None
    if parts.query or parts.fragment:
        raise DSNError(
            "the DSN must not have a query string or fragment ('?...' or '#...'); "
            f"for example {_EXAMPLE!r}"
        )
    if not host:
        raise DSNError(f"the DSN has no host; put one after '://', for example {_EXAMPLE!r}")
    _check_host(host)
    if port is None:
        if hostport.endswith(":"):
            raise DSNError(f"the DSN has ':' but no port after it; for example {_EXAMPLE!r}")
        port = default_port
    if not 1 <= port <= 65535:
        raise DSNError(f"the DSN port {port} is out of range; use 1-65535 (default 8080)")

    clean_path = _clean_path(parts.path)
    _refuse_endpoint(clean_path, f"{scheme_key}://{'***@' if at else ''}{hostport.lower()}")
    base = f"{wire_scheme}://{_netloc(host, port)}{clean_path}"
    try:  # what httpx will refuse at the first call must fail here, as a DSNError
        httpx.URL(base)
    except httpx.InvalidURL as exc:
        raise DSNError(f"the DSN is not a usable URL ({exc}); for example {_EXAMPLE!r}") from None
    return DSN(
        base_url=base,
        scheme=wire_scheme,
        host=host,
        port=port,
        path=clean_path,
        api_key=api_key,
    )


# A known scheme followed by something other than '://': 'llama-swap//h', 'llama-swap:/h',
# 'llama-swap:h'. A digit after the ':' is a port ('llama-swap:8080' is host:port).
# Kept as text: both are read only on the way to an error or for a DSN without '://', so
# the re module compiles (and caches) them on first use, not at import (~0.9 ms, issue 14).
_SCHEME_WORD = r"[A-Za-z][A-Za-z0-9+.-]*"
_MANGLED_SCHEME = r"(?i)^([a-z][a-z0-9+.-]*)(:/+|/{2,}|:(?![0-9]|$))"


def _refuse_mangled_scheme(text: str) -> None:
    """Refuse a scheme missing part of its ``://``, which would be read as a host name."""
    match = re.match(_MANGLED_SCHEME, text)
    if match is None or match.group(1).lower() not in _SCHEMES:
        return
    scheme, sep = match.group(1), match.group(2)
    _key, at, tail = text[match.end() :].lstrip("/").rpartition("@")  # never show the key
    hostport, slash, path = tail.partition("/")
    rest = f"{'***@' if at else ''}{hostport.lower()}{slash}{path}"
    raise DSNError(
        f"the DSN's scheme {scheme!r} is followed by {sep!r} instead of '://', so "
        f"{scheme!r} would be read as the host; write {f'{scheme}://{rest}'!r}"
    )


# What llama-swap serves below its root: a DSN path ending in one of these (or holding a
# '/v1/...' path) names an endpoint, not where llama-swap lives. '/upstream/<model>' is a
# base, not an endpoint: it reaches one model's own server through llama-swap.
_ENDPOINTS = MODEL_ROUTES | {
    "/health",
    "/running",
    "/unload",
    "/logs",
    "/metrics",
    "/models",
    "/ui",
    "/api/events",
    "/api/version",
    "/api/models/unload",
}


def _refuse_endpoint(path: str, shown_root: str) -> None:
    """Refuse a DSN whose path is an endpoint: every call would 404 below it."""
    segments = path.split("/")
    if "v1" in segments[:-1]:
        cut = segments.index("v1")
    else:
        ending = next((e for e in _ENDPOINTS if path.endswith(e)), None)
        if ending is None:
            return
        cut = len(segments) - ending.count("/")
    prefix, endpoint = "/".join(segments[:cut]), "/" + "/".join(segments[cut:])
    raise DSNError(
        f"the DSN ends in llama-swap's endpoint {endpoint!r}; give llama-swap's base URL "
        f"instead, {shown_root + prefix!r}: every call adds its own path to it"
    )


def _key_from_userinfo(userinfo: str) -> str:
    """Take the key from ``token`` or ``user:key`` (percent-decoded)."""
    user, colon, password = userinfo.partition(":")
    raw = password if colon else user
    if not raw:
        where = "password after 'user:'" if colon else "token before '@'"
        raise DSNError(
            f"the DSN has an empty {where}; write 'llama-swap://<key>@host:port' "
            "or drop the '@' for an instance without apiKeys"
        )
    key = unquote(raw)
    if any(ch.isspace() or ord(ch) < 32 for ch in key):
        raise DSNError(
            "the DSN key contains whitespace or control characters; llama-swap keys have "
            "none (percent-encode only characters such as '@', ':' or '/')"
        )
    return key


def _hostport_problem(hostport: str, detail: str) -> str:
    host_part = hostport.rsplit("]", 1)[0] if hostport.startswith("[") else hostport
    if not hostport.startswith("[") and host_part.count(":") > 1:
        return "the DSN has an IPv6 host without brackets; write it as 'llama-swap://[::1]:8080'"
    if hostport.startswith("[") and "]" not in hostport:
        return "the DSN has a malformed IPv6 host; write it in brackets: 'llama-swap://[::1]:8080'"
    if "out of range" in detail:
        return "the DSN port is out of range; use a port from 1 to 65535 (the default is 8080)"
    if "port" in detail.lower():
        return f"the DSN port is not a number; write host:port, for example {_EXAMPLE!r}"
    return f"the DSN host/port part is malformed ({detail}); for example {_EXAMPLE!r}"


def _check_host(host: str) -> None:
    if ":" in host:  # urlsplit only yields ':' in a host for bracketed IPv6
        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            raise DSNError(
                "the DSN has a malformed IPv6 host; write it in brackets: 'llama-swap://[::1]:8080'"
            ) from None
        return
    parts = host.split(".")
    if len(parts) == 4 and all(part.isdigit() for part in parts):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise DSNError(
                f"the DSN host {host!r} is not a valid IPv4 address (each part 0-255, no "
                f"leading zeros); for example {_EXAMPLE!r}"
            ) from None
    bad = set(host) - set("abcdefghijklmnopqrstuvwxyz0123456789-._~")
    if bad or host.startswith(".") or ".." in host:
        raise DSNError(
            f"the DSN host has characters a host name cannot have ({''.join(sorted(bad))!r}); "
            f"for example {_EXAMPLE!r}"
        )


def _clean_path(path: str) -> str:
    """Drop trailing slashes and a trailing ``/v1`` (an OpenAI base URL habit)."""
    clean = path.rstrip("/")
    if clean.endswith("/v1"):
        clean = clean[: -len("/v1")]
    return clean


def _netloc(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{port}"
