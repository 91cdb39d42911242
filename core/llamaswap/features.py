"""Which llama-swap release added each endpoint, and the error for a build without one.

llama-swap releases are plain increasing integers (``v78`` ... ``v250``), and older
builds answer a route they lack with the router's bare ``404 page not found`` (or, since
the ``net/http`` mux of ``v218``, ``405`` when only another method is registered on the
path). :func:`check_endpoint` turns that answer into an
:class:`~llamaswap.UnsupportedFeatureError` naming the endpoint and the release that
added it, so every operation says the same thing the same way.

The releases come from llama-swap's git history: the first tag containing the commit
that registered the route.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from types import MappingProxyType

import httpx

from llamaswap._wire import MODEL_ROUTES, Call, is_go_not_found, scrub
from llamaswap.errors import UnsupportedFeatureError

ENDPOINT_SINCE: Mapping[str, str] = MappingProxyType(
    {
        "POST /v1/embeddings": "v78",
        "POST /v1/rerank": "v78",
        "POST /v1/audio/speech": "v81",
        "POST /v1/audio/transcriptions": "v94",
        "GET /running": "v94",
        "POST /rerank": "v143",
        "POST /v1/reranking": "v143",
        "POST /reranking": "v155",
        "POST /api/models/unload/{model}": "v161",
        "GET /api/version": "v173",
        "POST /v1/images/generations": "v180",
        "POST /v1/images/edits": "v181",
        "POST /v1/audio/voices": "v181",
        "GET /v1/audio/voices": "v188",
        "GET /metrics": "v212",
        "GET /v1/models capabilities": "v225",
        "GET /props": "v234",
        "POST /api/inflight/{id}/cancel": "v235",
        "GET /api/profiles": "v241",
        "PUT /api/profiles/active": "v241",
        "GET /api/hardware": "v247",
    }
)
"""``"METHOD /path"`` -> the first llama-swap release that serves it.

Path parameters are written ``{name}``. ``GET /v1/models capabilities`` is not a route
but the ``architecture``/``capabilities``/``supported_parameters``/``context_length``
fields of the model listing.
"""

_GO_METHOD_NOT_ALLOWED = "Method Not Allowed"


def endpoint_since(endpoint: str) -> str | None:
    """The llama-swap release that added ``endpoint`` (``"POST /v1/rerank"``), if known."""
    return ENDPOINT_SINCE.get(endpoint)


def route_missing(response: httpx.Response) -> bool:
    """True when llama-swap itself has no such route (not a model server's 404).

    Go's bare ``404 page not found`` (every release), or Go's ``405 Method Not Allowed``
    (a build that registers the path for another method only).
    """
    if is_go_not_found(response):
        return True
    return response.status_code == 405 and response.text.strip() == _GO_METHOD_NOT_ALLOWED


def unsupported_endpoint(
    endpoint: str, response: httpx.Response | None = None, *, secret: str | None = None
) -> UnsupportedFeatureError:
    """The :class:`~llamaswap.UnsupportedFeatureError` for a build that lacks ``endpoint``.

    The message names the endpoint and, when :data:`ENDPOINT_SINCE` knows it, the
    release that added it, and says to upgrade. ``secret`` is scrubbed from the body kept.
    """
    since = endpoint_since(endpoint)
    added = f"added in llama-swap {since}" if since else "not served by this build"
    upgrade = f"upgrade llama-swap to {since} or newer" if since else "upgrade llama-swap"
    status = response.status_code if response is not None else 404
    return UnsupportedFeatureError(
        f"this llama-swap has no {endpoint} ({added}; it answered {status}): {upgrade}",
        status_code=status,
        body=scrub(response.text, secret) if response is not None else "",
        url=str(response.request.url) if response is not None and _has_request(response) else "",
        endpoint=endpoint,
        since=since,
    )


def check_endpoint(endpoint: str, response: httpx.Response, *, secret: str | None = None) -> None:
    """Raise :class:`~llamaswap.UnsupportedFeatureError` if llama-swap lacks ``endpoint``.

    Call it on the answer to ``endpoint`` before mapping other errors::

        response = yield Call("POST", target.url("/v1/rerank"), json=body, model=model)
        check_endpoint("POST /v1/rerank", response, secret=target.secret)
        if response.is_error:
            yield from fail(target, response, model)

    A model server's own 404 (a chat model asked to rerank) is left to the caller. On a
    model-dispatched route (``/v1/rerank``, ``/props`` ...) a model server written in Go
    answers a path it lacks with the same bare 404 as llama-swap: there use
    :func:`require_endpoint`, which asks llama-swap once more to tell the two apart.
    """
    if route_missing(response):
        raise unsupported_endpoint(endpoint, response, secret=secret)


def require_endpoint(
    endpoint: str, response: httpx.Response, *, secret: str | None = None
) -> Generator[Call, httpx.Response, None]:
    """:func:`check_endpoint` for any route, model-dispatched ones included (``yield from``).

    When a model-dispatched route got a bare Go 404, the same method and path are sent
    again with no body and no model. llama-swap answers that itself, from any release
    that has the route (an error naming the missing model, never the bare 404, and
    nothing is loaded), so a second bare 404 means the route is missing; anything else
    means the first 404 was the model server's, which is left to the caller::

        response = yield Call("POST", target.url("/v1/rerank"), json=body, model=model)
        yield from require_endpoint("POST /v1/rerank", response, secret=target.secret)
    """
    if not route_missing(response):
        return None
    if not _has_request(response) or not _model_dispatched(response.request.url.path):
        raise unsupported_endpoint(endpoint, response, secret=secret)
    request = response.request
    probe = yield Call(request.method, str(request.url.copy_with(query=None)))
    if route_missing(probe):
        raise unsupported_endpoint(endpoint, probe, secret=secret)
    return None


def _model_dispatched(path: str) -> bool:
    """True for a model-dispatched route, also under a base URL with a path prefix."""
    return any(path.endswith(route) for route in MODEL_ROUTES)


def _has_request(response: httpx.Response) -> bool:
    try:
        response.request  # noqa: B018 - raises when the response was built without one
    except RuntimeError:
        return False
    return True
