"""Every provider operation, written once for sync and async callers.

An operation is a generator: it yields the :class:`~llamaswap._wire.Call` it needs sent
and receives the ``httpx.Response`` back (transport failures are thrown into it as
:class:`~llamaswap.errors.LlamaSwapError`). The provider drives it with a blocking or an
awaiting loop, so retries, fallbacks and error mapping live in one place.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar
from urllib.parse import urlsplit

import httpx

from llamaswap._wire import (
    USE_CLIENT_DEFAULT,
    Call,
    error_from_response,
    is_go_not_found,
    json_body,
    model_path,
    server_message,
)
from llamaswap.errors import (
    LlamaSwapError,
    NotFoundError,
    UnsupportedFeatureError,
)
from llamaswap.images import (
    GeneratedImage,
    ImageResult,
    PendingImage,
    build_image_request,
    image_from_bytes,
    parse_image_response,
)
from llamaswap.records import (
    ModelInfo,
    RunningModel,
    VersionInfo,
    parse_models,
    parse_running,
    parse_version,
)

T = TypeVar("T")
Op = Generator[Call, httpx.Response, T]


@dataclass(frozen=True)
class Target:
    """Where operations send requests, and the key to scrub from anything shown."""

    base_url: str
    secret: str | None = None

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"


def fail(target: Target, response: httpx.Response, model: str | None = None) -> Op[NoReturn]:
    """Raise the typed error for ``response``; an unknown model lists the known ids."""
    error = error_from_response(response, model=model, secret=target.secret)
    if isinstance(error, NotFoundError) and model:
        available = yield from _known_ids(target)
        if available:
            error = NotFoundError(
                f"{error.message}; this llama-swap serves: {', '.join(available)}",
                status_code=error.status_code,
                body=error.body,
                url=error.url,
                model=model,
                available=available,
            )
    raise error


def _known_ids(target: Target) -> Op[list[str]]:
    try:
        response = yield Call("GET", target.url("/v1/models"))
    except LlamaSwapError:
        return []
    if response.is_error:
        return []
    try:
        return [m.id for m in parse_models(response.json())]
    except (LlamaSwapError, ValueError):
        return []


def list_models(target: Target, timeout: Any = USE_CLIENT_DEFAULT) -> Op[list[ModelInfo]]:
    response = yield Call("GET", target.url("/v1/models"), timeout=timeout)
    if response.is_error:
        yield from fail(target, response)
    return parse_models(json_body(response, what="GET /v1/models"), url=str(response.url))


def running(target: Target, timeout: Any = USE_CLIENT_DEFAULT) -> Op[list[RunningModel]]:
    response = yield Call("GET", target.url("/running"), timeout=timeout)
    if response.is_error:
        yield from fail(target, response)
    return parse_running(json_body(response, what="GET /running"), url=str(response.url))


def load(target: Target, model: str, timeout: Any = USE_CLIENT_DEFAULT) -> Op[None]:
    """Swap ``model`` in and wait until it is ready.

    llama-swap has no load endpoint; any request under ``/upstream/<id>/`` starts the
    model and is held until its health check passes, so ``/upstream/<id>/health`` is the
    known way. A 404 that llama-swap wrote means an unknown id; any other answer came
    from the model's own server, which is therefore up.
    """
    path = f"/upstream/{model_path(model)}/health"
    response = yield Call("GET", target.url(path), timeout=timeout, model=model)
    if response.status_code < 400:
        return None
    reason, from_swap = server_message(response.text)
    if response.status_code == 404 and not (from_swap or "model not found" in reason):
        return None  # the model server itself has no /health, but it answered
    yield from fail(target, response, model)


def unload(target: Target, model: str | None = None, timeout: Any = USE_CLIENT_DEFAULT) -> Op[None]:
    """Stop one model, or every local model when ``model`` is ``None``."""
    if model is None:
        response = yield Call("POST", target.url("/api/models/unload"), timeout=timeout)
        if is_go_not_found(response) or response.status_code == 405:
            # Releases before the /api/models routes only had GET /unload.
            response = yield Call("GET", target.url("/unload"), timeout=timeout)
        if response.is_error:
            yield from fail(target, response)
        return None
    path = f"/api/models/unload/{model_path(model)}"
    response = yield Call("POST", target.url(path), timeout=timeout, model=model)
    if is_go_not_found(response) or response.status_code == 405:
        raise UnsupportedFeatureError(
            "this llama-swap has no per-model unload (POST /api/models/unload/<id>); "
            "upgrade llama-swap, or call unload() without a model to unload all models",
            status_code=response.status_code,
            body=response.text,
            url=str(response.url),
        )
    if response.is_error:
        yield from fail(target, response, model)
    return None


def health(target: Target, timeout: Any = USE_CLIENT_DEFAULT) -> Op[bool]:
    try:
        response = yield Call("GET", target.url("/health"), timeout=timeout, auth=False)
    except LlamaSwapError:
        return False
    return response.status_code == 200


def version(target: Target, timeout: Any = USE_CLIENT_DEFAULT) -> Op[VersionInfo]:
    response = yield Call("GET", target.url("/api/version"), timeout=timeout)
    if is_go_not_found(response):
        raise UnsupportedFeatureError(
            "this llama-swap has no GET /api/version (an older release); upgrade llama-swap",
            status_code=404,
            body=response.text,
            url=str(response.url),
        )
    if response.is_error:
        yield from fail(target, response)
    return parse_version(json_body(response, what="GET /api/version"), url=str(response.url))


def generate_image(
    target: Target,
    prompt: str,
    *,
    model: str,
    size: str | None,
    n: int,
    negative_prompt: str | None,
    seed: int | None,
    extra: dict[str, Any] | None,
    timeout: Any = USE_CLIENT_DEFAULT,
) -> Op[ImageResult]:
    body = build_image_request(
        prompt,
        model=model,
        size=size,
        n=n,
        negative_prompt=negative_prompt,
        seed=seed,
        extra=extra,
    )
    response = yield Call(
        "POST", target.url("/v1/images/generations"), json=body, timeout=timeout, model=model
    )
    if response.is_error:
        yield from fail(target, response, model)
    items, created = parse_image_response(
        json_body(response, what="POST /v1/images/generations"), url=str(response.url)
    )
    images: list[GeneratedImage] = []
    for item in items:
        if isinstance(item, PendingImage):
            fetched = yield Call(
                "GET", item.url, timeout=timeout, auth=_same_origin(item.url, target.base_url)
            )
            if fetched.is_error:
                yield from fail(target, fetched)
            images.append(image_from_bytes(fetched.content, item.revised_prompt))
        else:
            images.append(item)
    return ImageResult(images=tuple(images), model=model, created=created)


def _same_origin(url: str, base_url: str) -> bool:
    a, b = urlsplit(url), urlsplit(base_url)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)
