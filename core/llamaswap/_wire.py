"""What goes on the wire and how answers map to errors; pure functions, no I/O.

llama-swap has shipped two JSON error shapes (``"error": "<text>"`` up to release v250,
an OpenAI-style ``"error": {"message": ...}`` object after it), a ``text/plain``
``llama-swap: <text>`` form, Go's bare ``404 page not found`` for unknown routes, and an
empty-bodied 502 when a model server dies before answering. All of them land here.
"""

from __future__ import annotations

import base64
import email.utils
import html
import json
import ssl
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, NamedTuple
from urllib.parse import quote

import httpx

from llamaswap.errors import (
    APIError,
    AuthenticationError,
    LlamaSwapConnectionError,
    LlamaSwapError,
    LlamaSwapTimeoutError,
    ModelLoadError,
    NotFoundError,
    PoolTimeoutError,
    RateLimitError,
    ResponseDecodeError,
    UpstreamError,
)

_LOAD_PREFIX = "unspecific error:"
GO_NOT_FOUND = "404 page not found"
_HTML_PREFIX = "<html><body><h1>llama-swap</h1><p>"

# The paths llama-swap dispatches by the request's model (the same in v250 and main-0bdb372),
# and everything under /upstream/<model>/. A 404 that llama-swap did not write on one of
# them came from the model's own server; on any other path Go's bare 404 is llama-swap's.
MODEL_ROUTES = frozenset(
    {
        "/v1/chat/completions",
        "/v1/responses",
        "/v1/completions",
        "/v1/messages",
        "/v1/messages/count_tokens",
        "/v1/embeddings",
        "/reranking",
        "/rerank",
        "/v1/rerank",
        "/v1/reranking",
        "/infill",
        "/completion",
        "/v1/audio/speech",
        "/v1/audio/voices",
        "/v1/audio/transcriptions",
        "/v1/images/generations",
        "/v1/images/edits",
        "/sdapi/v1/txt2img",
        "/sdapi/v1/img2img",
        "/sdapi/v1/loras",
        "/audioapi/v1/tasks/run",
        "/props",
        "/v/chat/completions",
        "/v/responses",
        "/v/completions",
        "/v/messages",
        "/v/messages/count_tokens",
        "/v/embeddings",
        "/v/rerank",
        "/v/reranking",
    }
)


PLACEHOLDER_API_KEY = "llama-swap-no-key"
"""The bearer OpenAI SDK clients send when no key is configured.

The SDK refuses to start without a key, and a llama-swap without ``apiKeys`` ignores any;
a 401 to a request carrying it means no key was given, never a wrong one.
"""

USE_CLIENT_DEFAULT: Any = httpx.USE_CLIENT_DEFAULT
TimeoutArg = float | httpx.Timeout | None

# Connects fail fast; reads never time out by default because a cold swap can take minutes.
DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=None, write=None, pool=None)


class Call(NamedTuple):
    """One HTTP request an operation wants sent.

    ``auth`` is False for URLs outside llama-swap (an image URL on another host), so the
    key never leaves for a server it was not meant for. ``content`` with ``content_type``
    is a body already encoded (a multipart form), sent as bytes so a retry can resend it.
    A named tuple, not a dataclass: the module is on every import path, and a frozen
    dataclass costs ~1 ms of generated code to build at import (issue 14).
    """

    method: str
    url: str
    json: Any = None
    timeout: Any = USE_CLIENT_DEFAULT
    model: str | None = None
    auth: bool = True
    content: bytes | None = None
    content_type: str | None = None


FilePart = tuple[str, bytes, str]
"""A multipart file: its filename, bytes and MIME type."""


class Form(NamedTuple):
    """An encoded ``multipart/form-data`` body: bytes, so a retry can send it again."""

    content: bytes
    content_type: str

    def __repr__(self) -> str:  # the body stays out of reprs (it may be megabytes)
        return f"Form(content_type={self.content_type!r})"


def encode_form(fields: Mapping[str, str], files: Sequence[tuple[str, FilePart]]) -> Form:
    """Encode text ``fields`` and ``(field, (filename, bytes, mime))`` files once."""
    request = httpx.Request("POST", "http://form.invalid/", data=dict(fields), files=list(files))
    return Form(content=request.read(), content_type=request.headers["Content-Type"])


def model_path(model: str) -> str:
    """A model id as one URL path segment (``/`` and spaces quoted).

    ``.`` and ``..`` are quoted too (``%2E``): left bare, URL normalisation drops them as
    dot segments, and ``unload(".")`` would become ``POST /api/models/unload/`` (unload all).
    """
    if not isinstance(model, str) or not model:
        raise ValueError("model must be a non-empty string naming a llama-swap model id")
    segment = quote(model, safe="")
    return segment.replace(".", "%2E") if segment in (".", "..") else segment


class KeyedHeaders(dict[str, str]):
    """A header dict whose repr shows ``Authorization`` as ``[secure]`` (as httpx's does).

    A plain dict, so sending it costs nothing extra; only what a debugger or a log of
    ``vars(provider)`` prints changes.
    """

    def __repr__(self) -> str:
        shown = {k: "[secure]" if k.lower() == "authorization" else v for k, v in self.items()}
        return repr(shown)


def scrub(text: str, secret: str | None) -> str:
    """Replace every occurrence of the key in ``text`` with ``***``."""
    if secret and secret in text:
        return text.replace(secret, "***")
    return text


def request_secret(request: httpx.Request | None) -> str | None:
    """The key a request carries (``Bearer``, ``x-api-key`` or a Basic password), if any.

    llama-swap forwards the header to model servers, and some echo requests in their
    answers, so anything shown from an answer is scrubbed of what the request sent.
    """
    if request is None:
        return None
    auth = str(request.headers.get("authorization", ""))
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if scheme.lower() == "basic" and value.strip():
        try:
            decoded = base64.b64decode(value.strip()).decode("utf-8", errors="replace")
        except ValueError:
            return None
        return decoded.partition(":")[2] or None
    return str(request.headers.get("x-api-key", "")) or None


def server_message(body: str) -> tuple[str, bool]:
    """The reason in an error body, and whether llama-swap itself wrote it."""
    text = body.strip()
    if not text:
        return "", False
    try:
        data = json.loads(text)
    except ValueError:
        if text.startswith("llama-swap: "):
            return text[len("llama-swap: ") :], True
        if text.startswith(_HTML_PREFIX):  # llama-swap's answer to ``Accept: text/html``
            return html.unescape(text[len(_HTML_PREFIX) :].split("</p>", 1)[0]), True
        return text, False
    if isinstance(data, Mapping):
        from_swap = data.get("src") == "llama-swap"
        err = data.get("error")
        if isinstance(err, str):
            return err, from_swap
        if isinstance(err, Mapping) and isinstance(err.get("message"), str):
            return err["message"], from_swap
        if isinstance(data.get("message"), str):
            return data["message"], from_swap
        if isinstance(data.get("detail"), str):
            return data["detail"], from_swap
    return text[:500], False


def error_from_response(
    response: httpx.Response,
    *,
    model: str | None = None,
    secret: str | None = None,
) -> APIError:
    """Map an error status and body to the matching :class:`APIError` subclass."""
    status = response.status_code
    url = str(response.request.url) if response.request is not None else ""
    body = scrub(_text(response), secret)
    reason, _from_swap = server_message(body)
    reason = scrub(reason, secret)
    subject = f"model {model!r}" if model else "the request"

    if status == 401:
        sent = request_secret(_request_of(response)) not in (None, PLACEHOLDER_API_KEY)
        hint = (
            "the key sent was rejected; check it against llama-swap's apiKeys"
            if sent
            else "no key was sent; put it in the DSN (llama-swap://<key>@host:port) "
            "or pass api_key="
        )
        return AuthenticationError(
            f"llama-swap refused {subject} with 401 ({reason or 'unauthorized'}): {hint}",
            status_code=status,
            body=body,
            url=url,
        )
    if status == 429:
        retry_after = retry_after_seconds(response.headers.get("retry-after"))
        wait = f"; retry after {retry_after:g}s" if retry_after is not None else ""
        return RateLimitError(
            f"llama-swap is at the concurrency limit for {subject} "
            f"({reason or 'too many requests'}){wait}",
            status_code=status,
            body=body,
            url=url,
            retry_after=retry_after,
        )
    if status == 404:
        return _not_found(response, body=body, reason=reason, from_swap=_from_swap, model=model)
    loading = load_error(reason, subject=subject, model=model, body=body, url=url)
    if status == 500 and loading is not None:
        return loading
    if status == 502 and not body.strip():
        return UpstreamError(
            f"the model server for {subject} closed the connection before answering "
            "(it crashed or was stopped); llama-swap's log (GET /logs) has its output",
            status_code=status,
            body=body,
            url=url,
        )
    if status >= 500:
        return UpstreamError(
            f"llama-swap answered {status} for {subject}: {reason or 'no reason given'}",
            status_code=status,
            body=body,
            url=url,
        )
    return APIError(
        f"llama-swap answered {status} for {subject}: {reason or 'no reason given'}",
        status_code=status,
        body=body,
        url=url,
    )


def load_error(
    reason: str, *, subject: str, model: str | None, body: str, url: str = ""
) -> ModelLoadError | None:
    """llama-swap's load failure (``unspecific error: <why>``) as its typed error, else None.

    The one reading of that prefix: a 500 answer and an error appended to a stream both
    come here.
    """
    if not reason.startswith(_LOAD_PREFIX):
        return None
    detail = reason[len(_LOAD_PREFIX) :].strip()
    return ModelLoadError(
        f"llama-swap could not load {subject}: {detail}",
        status_code=500,
        body=body,
        url=url,
        model=model,
        reason=detail,
    )


def _not_found(
    response: httpx.Response, *, body: str, reason: str, from_swap: bool, model: str | None
) -> NotFoundError:
    """Who answered the 404 decides what it means (see :data:`MODEL_ROUTES`).

    llama-swap marks its own errors (``"src": "llama-swap"``, a ``llama-swap:`` prefix);
    with a model in the request they mean it serves no such model. Go's bare 404 on a path
    llama-swap does not route means llama-swap lacks the route. Anything else came from the
    model's server: the model exists, and its server has no such route.
    """
    request = _request_of(response)
    path = request.url.path if request is not None else ""
    route = f"{request.method} {path}" if request is not None else "the request"
    url = str(request.url) if request is not None else ""
    said = reason or "not found"
    if from_swap:
        message = (
            f"llama-swap has no model {model!r} (404: {said})"
            if model
            else f"llama-swap answered 404 for {route}: {said}"
        )
        return NotFoundError(message, body=body, url=url, model=model)
    if body.strip() == GO_NOT_FOUND and not is_model_route(path):
        return NotFoundError(
            f"llama-swap has no route {route} ({GO_NOT_FOUND}): check the path, or upgrade "
            "llama-swap if the endpoint is newer than this build",
            body=body,
            url=url,
            model=model,
            route=path,
        )
    whose = f"model {model!r} exists, but its server" if model else "the model server"
    return NotFoundError(
        f"{whose} has no route {route} (404: {said}): that server cannot answer this kind "
        "of request; send it to a model whose server can",
        body=body,
        url=url,
        model=model,
        route=path,
    )


def lists_available(error: NotFoundError) -> bool:
    """Whether ``error`` is about an unknown model, so the ids llama-swap serves help."""
    return error.model is not None and error.route is None and not error.available


def with_available(error: NotFoundError, available: Sequence[str]) -> NotFoundError:
    """``error`` itself, now naming the ids llama-swap serves (``available`` and message).

    Changed in place, so an error that is also the OpenAI SDK's (or LangChain's) class
    stays that class.
    """
    if not available:
        return error
    message = f"{error.message}; this llama-swap serves: {', '.join(available)}"
    error.available = tuple(available)
    error.message = message
    error.args = (message,)
    return error


def is_model_route(path: str) -> bool:
    """True for a path llama-swap forwards to a model's server (see :data:`MODEL_ROUTES`)."""
    return "/upstream/" in path or any(path.endswith(route) for route in MODEL_ROUTES)


# Failures after the connection was made: llama-swap was reached, then the connection ended
# before a complete answer (it was stopped or restarted mid-request, or a proxy cut it).
_DROPPED = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError, httpx.CloseError)


def closed_client(exc: BaseException) -> bool:
    """True for httpx's refusal to send on a client that was closed."""
    return isinstance(exc, RuntimeError) and "client has been closed" in str(exc)


def transport_error(
    exc: BaseException, *, base_url: str, where: str, secret: str | None
) -> LlamaSwapError:
    """The typed error for a request that got no answer, saying which way it failed.

    ``where`` is ``"<METHOD> <url>"``. A connection never made is "could not reach"; one
    that was made and then dropped says so, because llama-swap *was* running; a closed
    client says that it is closed.
    """
    detail = scrub(f"{type(exc).__name__}: {exc}", secret)
    if closed_client(exc):
        return LlamaSwapConnectionError(
            f"{where} was not sent: its HTTP client is closed ({detail}); a client passed in "
            "as http_client= is yours to keep open while in use (the provider's own pool "
            "reopens by itself)"
        )
    if isinstance(exc, httpx.PoolTimeout):
        return PoolTimeoutError(
            f"{where} was not sent: it waited for a free connection in this process's pool "
            f"and none came free within the timeout you set ({detail}); llama-swap was not "
            "asked: raise the provider's max_connections= or wait for other requests to end"
        )
    if isinstance(exc, httpx.DecodingError):
        return ResponseDecodeError(
            f"{where}: llama-swap's answer could not be decoded ({detail}); its "
            "Content-Encoding does not match the body (a proxy in between may have altered it)"
        )
    if isinstance(exc, httpx.TimeoutException):
        return LlamaSwapTimeoutError(
            f"{where} did not finish within the timeout you set ({detail}); "
            "a cold model load can take minutes: raise timeout= or leave it unset"
        )
    if _certificate_failure(exc):
        return LlamaSwapConnectionError(
            f"TLS with llama-swap at {base_url} failed on a certificate during {where} "
            f"({detail}): if llama-swap's certificate is self-signed or from a private CA, "
            "pass verify='/path/to/ca.pem' (or an ssl.SSLContext) to the provider or class; "
            "if llama-swap asks for a client certificate, pass cert="
        )
    if isinstance(exc, _DROPPED):
        # Under TLS 1.3 a server that wants a client certificate closes after the
        # handshake, so a missing one looks like this drop.
        mtls = (
            "; over https, a server that requires a client certificate also closes like "
            "this when none is sent: pass cert="
            if base_url.startswith("https:") and "without sending a response" in detail
            else ""
        )
        return LlamaSwapConnectionError(
            f"llama-swap at {base_url} dropped the connection during {where} ({detail}): it "
            "was reached, then the connection closed before a complete answer (llama-swap "
            "stopped or restarted mid-request, or a proxy in between closed it); the request "
            f"may have run: llama-swap's log (GET /logs) tells{mtls}"
        )
    return LlamaSwapConnectionError(
        f"could not reach llama-swap at {base_url} for {where} ({detail}); check that "
        f"llama-swap is running and listening there: curl {base_url}/health"
    )


def _certificate_failure(exc: BaseException) -> bool:
    """True when a TLS handshake failed over a certificate (ours or the server's)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        if isinstance(seen, ssl.SSLError) and "CERTIFICATE" in str(seen).upper():
            return True
        seen = seen.__cause__ or seen.__context__
    text = str(exc).upper()
    return "SSL" in text and "CERTIFICATE" in text


def json_body(response: httpx.Response, *, what: str) -> Any:
    """Parse a 2xx JSON body, or raise :class:`ResponseDecodeError` saying what was sent."""
    try:
        return response.json()
    except (ValueError, UnicodeDecodeError) as exc:
        text = scrub(_text(response), request_secret(response.request))
        raise ResponseDecodeError(
            f"{what} did not return JSON ({exc.__class__.__name__}: {exc}); "
            f"got {response.headers.get('content-type', 'no content-type')}: "
            f"{text[:120]!r}",
            url=str(response.request.url) if response.request is not None else "",
            body=text[:200],
        ) from None


def is_go_not_found(response: httpx.Response) -> bool:
    """True for Go's bare mux 404: the route itself is missing (an older llama-swap)."""
    return response.status_code == 404 and _text(response).strip() == GO_NOT_FOUND


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date; ``None`` if unusable.

    The one parser: the retry layer waits this long and :class:`RateLimitError` reports it.
    """
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - datetime.now(timezone.utc)).total_seconds()
        return max(seconds, 0.0)
    return seconds if seconds >= 0 and seconds == seconds else None


def _request_of(response: httpx.Response) -> httpx.Request | None:
    try:
        return response.request
    except RuntimeError:  # a response built by hand, never sent
        return None


def _text(response: httpx.Response) -> str:
    try:
        return response.text
    except (UnicodeDecodeError, LookupError, httpx.ResponseNotRead):
        return ""
