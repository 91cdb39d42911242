"""Every provider operation, written once for sync and async callers.

An operation is a generator: it yields the :class:`~llamaswap._wire.Call` it needs sent
and receives the ``httpx.Response`` back (transport failures are thrown into it as
:class:`~llamaswap.errors.LlamaSwapError`). The provider drives it with a blocking or an
awaiting loop, so retries, fallbacks and error mapping live in one place.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn, TypeVar
from urllib.parse import quote, urlsplit

import httpx

from llamaswap._wire import (
    USE_CLIENT_DEFAULT,
    Call,
    encode_form,
    error_from_response,
    is_go_not_found,
    json_body,
    lists_available,
    model_path,
    scrub,
    server_message,
    with_available,
)
from llamaswap.errors import (
    APIError,
    AuthenticationError,
    LlamaSwapError,
    NotFoundError,
    PoolTimeoutError,
    ResponseDecodeError,
    UnsupportedFeatureError,
)
from llamaswap.features import check_endpoint, require_endpoint

if TYPE_CHECKING:  # annotations only: each operation imports the room it reads answers with
    from llamaswap.audio import AudioInput, SpeechResult, Transcription
    from llamaswap.host import HardwareInfo, ModelProps, Profiles
    from llamaswap.images import ImageInput, ImageResult
    from llamaswap.metrics import Metrics
    from llamaswap.records import ModelInfo, RunningModel, VersionInfo
    from llamaswap.rerank import RerankResult

T = TypeVar("T")
Op = Generator[Call, httpx.Response, T]


class Target(NamedTuple):
    """Where operations send requests, and the key to scrub from anything shown.

    A named tuple: cheaper to build at import than a frozen dataclass (issue 14).
    """

    base_url: str
    secret: str | None = None

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def __repr__(self) -> str:
        """The address only: the key never appears in a repr."""
        shown = "'***'" if self.secret else "None"
        return f"Target(base_url={self.base_url!r}, secret={shown})"


def fail(target: Target, response: httpx.Response, model: str | None = None) -> Op[NoReturn]:
    """Raise the typed error for ``response``; an unknown model lists the known ids."""
    error = error_from_response(response, model=model, secret=target.secret)
    if isinstance(error, NotFoundError) and lists_available(error):
        error = with_available(error, (yield from _known_ids(target)))
    raise error


def _known_ids(target: Target) -> Op[list[str]]:
    return [m.id for m in (yield from listed(target))]


def listed(
    target: Target, timeout: Any = USE_CLIENT_DEFAULT, *, quiet: bool = True
) -> Op[list[ModelInfo]]:
    """``GET /v1/models``, parsed: the one fetch of the model list.

    ``quiet`` (for hints inside another operation) answers ``[]`` when llama-swap cannot
    say; otherwise a failure raises the typed error.
    """
    from llamaswap.records import parse_models

    try:
        response = yield Call("GET", target.url("/v1/models"), timeout=timeout)
        if response.is_error:
            if quiet:
                return []
            yield from fail(target, response)
        return parse_models(json_body(response, what="GET /v1/models"), url=str(response.url))
    except LlamaSwapError:
        if quiet:
            return []
        raise


def list_models(target: Target, timeout: Any = USE_CLIENT_DEFAULT) -> Op[list[ModelInfo]]:
    return (yield from listed(target, timeout, quiet=False))


def route(model: str, models: list[ModelInfo]) -> ModelInfo | None:
    """The listed record ``model`` names, by llama-swap's routing rule, or ``None``.

    An id or alias matches its record; a bare name matches the ``peer/model`` record when
    exactly one peer lists it.
    """
    for info in models:
        if info.id == model or model in info.aliases:
            return info
    bare = [m for m in models if m.type == "peer" and m.peer_id and m.id == f"{m.peer_id}/{model}"]
    return bare[0] if len(bare) == 1 else None


def get_model(target: Target, model: str, timeout: Any = USE_CLIENT_DEFAULT) -> Op[ModelInfo]:
    return pick(model, (yield from listed(target, timeout, quiet=False)))


def pick(model: str, models: list[ModelInfo]) -> ModelInfo:
    """:func:`route`, or :class:`NotFoundError` naming what llama-swap lists."""
    info = route(model, models)
    if info is None:
        ids = [m.id for m in models]
        raise NotFoundError(
            f"llama-swap lists no model {model!r}; it lists: {', '.join(ids) or 'nothing'}",
            model=model,
            available=ids,
        )
    return info


def running(target: Target, timeout: Any = USE_CLIENT_DEFAULT) -> Op[list[RunningModel]]:
    from llamaswap.records import parse_running

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

    A peer's model (``peer/model``) is different: llama-swap forwards that request to the
    peer's root, so the answer is the peer llama-swap's own ``/health`` and nothing was
    loaded. Then a model-dispatched GET (``/props?model=<id>``) is sent, which llama-swap
    forwards with the peer's own id, so the peer swaps the model in before answering.
    """
    path = f"/upstream/{model_path(model)}/health"
    yield from _refuse_prefix_routed(target, model)
    response = yield Call("GET", target.url(path), timeout=timeout, model=model)
    if _is_swap_health(response):
        yield from _load_on_peer(target, model, timeout)
        return None
    if response.status_code < 400:
        return None
    reason, from_swap = server_message(response.text)
    if response.status_code == 404 and not (from_swap or "model not found" in reason):
        return None  # the model server itself has no /health, but it answered
    yield from fail(target, response, model)


def _is_swap_health(response: httpx.Response) -> bool:
    """True for llama-swap's own ``GET /health`` answer (``200 text/plain OK``)."""
    return (
        response.status_code == 200
        and response.headers.get("content-type", "").startswith("text/plain")
        and response.text.strip() == "OK"
    )


def _load_on_peer(target: Target, model: str, timeout: Any) -> Op[None]:
    """Make the peer that serves ``model`` load it (see :func:`load`)."""
    url = target.url(f"/props?model={quote(model, safe='')}")
    response = yield Call("GET", url, timeout=timeout, model=model)
    if response.status_code < 400:
        return None
    reason, from_swap = server_message(response.text)
    if response.status_code == 404 and not from_swap:
        return None  # the model server has no /props, but the peer loaded it to ask
    status, body, url = response.status_code, scrub(response.text, target.secret), str(response.url)
    detail = f"({status}: {scrub(reason, target.secret) or 'no reason given'})"
    if status == 401:
        raise AuthenticationError(
            f"{model!r} is a peer's model and the peer refused this llama-swap's key for it "
            f"{detail}: check apiKey in this llama-swap's peers: section",
            status_code=status,
            body=body,
            url=url,
        )
    if status == 404:
        raise NotFoundError(
            f"{model!r} is a peer's model and the peer does not serve it {detail}: check the "
            "models in this llama-swap's peers: section against the peer's /v1/models",
            status_code=status,
            body=body,
            url=url,
            model=model,
        )
    yield from fail(target, response, model)


def _peer_record(target: Target, model: str) -> Op[ModelInfo | None]:
    """The listed peer record ``model`` routes to (see :func:`route`), or ``None``."""
    info = route(model, (yield from listed(target)))
    return info if info is not None and info.type == "peer" else None


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
    yield from _refuse_prefix_routed(target, model)
    response = yield Call("POST", target.url(path), timeout=timeout, model=model)
    if is_go_not_found(response) or response.status_code == 405:
        raise UnsupportedFeatureError(
            "this llama-swap has no per-model unload (POST /api/models/unload/<id>); "
            "upgrade llama-swap, or call unload() without a model to unload all models",
            status_code=response.status_code,
            body=response.text,
            url=str(response.url),
        )
    if response.status_code == 404:
        peer = yield from _peer_record(target, model)
        if peer is not None:
            # llama-swap answers 404 for a peer's model: it never stops a peer's processes.
            raise NotFoundError(
                f"{model!r} is served by peer {peer.peer_id!r} ({peer.id}); llama-swap only "
                "unloads its own models and never stops a peer's (404: model not found): "
                "unload it on the peer's llama-swap",
                status_code=404,
                body=scrub(response.text, target.secret),
                url=str(response.url),
                model=model,
            )
    if response.is_error:
        yield from fail(target, response, model)
    return None


def _refuse_prefix_routed(target: Target, model: str) -> Op[None]:
    """Raise :class:`NotFoundError` for an id llama-swap's path routes would misread.

    ``/upstream/<id>/...`` and ``/api/models/unload/<id>`` find the model by the longest
    leading path segments that name one, so an unlisted ``qwen/x``, ``qwen/`` or ``/qwen``
    would load or unload ``qwen``. Only ids with a ``/`` can be misread; for those the
    model list is asked first, and an unlisted id that a listed one prefixes, or that has
    an empty or dot segment, is refused with the ids llama-swap serves.
    """
    if "/" not in model:
        return None
    models = yield from listed(target)  # [] when it cannot say: let the real request speak
    names = {m.id for m in models} | {a for m in models for a in m.aliases}
    if not models or model in names:
        return None
    prefix = next(
        (n for n in sorted(names, key=len, reverse=True) if model.startswith(n + "/")), None
    )
    odd = any(part in ("", ".", "..") for part in model.split("/"))
    if prefix is None and not odd:
        return None
    ids = [m.id for m in models]
    why = (
        f"llama-swap would route it to {prefix!r} by its leading path segment"
        if prefix is not None
        else "an id with an empty, '.' or '..' segment cannot be addressed in a URL path"
    )
    raise NotFoundError(
        f"llama-swap lists no model {model!r} ({why}); it lists: {', '.join(ids)}",
        model=model,
        available=ids,
    )


LOG_SOURCES = ("proxy", "upstream")


def logs(target: Target, timeout: Any = USE_CLIENT_DEFAULT) -> Op[str]:
    """llama-swap's combined log history (``GET /logs``, plain text)."""
    response = yield Call("GET", target.url("/logs"), timeout=timeout)
    if response.is_error:
        yield from fail(target, response)
    return response.text


def log_stream_path(source: str | None, *, history: bool) -> str:
    """``/logs/stream[/<source>]``, with ``?no-history`` when only new lines are wanted."""
    path = "/logs/stream" if source is None else f"/logs/stream/{model_path(source)}"
    return path if history else f"{path}?no-history"


def check_log_source(target: Target, source: str | None) -> Op[None]:
    """Refuse a model id llama-swap's log route would misread (see _refuse_prefix_routed)."""
    if source is not None and source not in LOG_SOURCES:
        yield from _refuse_prefix_routed(target, source)


def log_stream_failed(target: Target, response: httpx.Response, source: str | None) -> Op[NoReturn]:
    """Raise for a failed ``/logs/stream`` answer; an unknown source lists the valid ones.

    llama-swap answers an unknown source with 400 ``invalid logger``, which is a
    :class:`NotFoundError` here, listing ``proxy``, ``upstream`` and the model ids.
    """
    reason, _from_swap = server_message(response.text)
    if response.status_code == 400 and source is not None and "invalid logger" in reason:
        known = yield from _known_ids(target)
        choices = [*LOG_SOURCES, *known]
        raise NotFoundError(
            f"llama-swap has no log {source!r} (400: {scrub(reason, target.secret)}); "
            f"it has: {', '.join(choices)}",
            status_code=400,
            body=scrub(response.text, target.secret),
            url=str(response.url),
            model=source,
            available=choices,
        )
    yield from fail(target, response)
    raise AssertionError("fail() always raises")  # for type checkers


def health(target: Target, timeout: Any = USE_CLIENT_DEFAULT) -> Op[bool]:
    try:
        response = yield Call("GET", target.url("/health"), timeout=timeout, auth=False)
    except PoolTimeoutError:
        raise  # a busy local pool says nothing about llama-swap: never report it down
    except LlamaSwapError:
        return False
    return response.status_code == 200


def version(target: Target, timeout: Any = USE_CLIENT_DEFAULT) -> Op[VersionInfo]:
    from llamaswap.records import parse_version

    response = yield Call("GET", target.url("/api/version"), timeout=timeout)
    check_endpoint("GET /api/version", response, secret=target.secret)
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
    from llamaswap.images import build_image_request

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
    return (
        yield from _image_result(target, response, model, timeout, "POST /v1/images/generations")
    )


def _image_result(
    target: Target, response: httpx.Response, model: str, timeout: Any, endpoint: str
) -> Op[ImageResult]:
    """Read an images answer (generations or edits), fetching any http URLs it names."""
    from llamaswap.images import (
        GeneratedImage,
        ImageResult,
        PendingImage,
        image_from_bytes,
        parse_image_response,
    )

    if response.is_error:
        yield from fail(target, response, model)
    body = json_body(response, what=endpoint)
    items, created = parse_image_response(body, url=str(response.url))
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


def edit_image(
    target: Target,
    image: ImageInput,
    prompt: str,
    *,
    model: str,
    mask: ImageInput | None,
    size: str | None,
    n: int,
    seed: int | None,
    extra: dict[str, Any] | None,
    timeout: Any = USE_CLIENT_DEFAULT,
) -> Op[ImageResult]:
    from llamaswap.images import build_edit_form

    form = build_edit_form(
        image, prompt, model=model, mask=mask, size=size, n=n, seed=seed, extra=extra
    )
    response = yield Call(
        "POST",
        target.url("/v1/images/edits"),
        content=form.content,
        content_type=form.content_type,
        timeout=timeout,
        model=model,
    )
    yield from require_endpoint("POST /v1/images/edits", response, secret=target.secret)
    return (yield from _image_result(target, response, model, timeout, "POST /v1/images/edits"))


def rerank(
    target: Target,
    query: str,
    documents: Sequence[str],
    *,
    model: str,
    top_n: int | None,
    timeout: Any = USE_CLIENT_DEFAULT,
) -> Op[list[RerankResult]]:
    from llamaswap.rerank import RERANK_PATH, build_rerank_request, parse_rerank_response

    body = build_rerank_request(query, documents, model=model, top_n=top_n)
    response = yield Call("POST", target.url(RERANK_PATH), json=body, timeout=timeout, model=model)
    yield from require_endpoint(f"POST {RERANK_PATH}", response, secret=target.secret)
    if response.is_error:
        yield from fail(target, response, model)
    answer = json_body(response, what=f"POST {RERANK_PATH}")
    return parse_rerank_response(answer, body["documents"], top_n=top_n, url=str(response.url))


# -- audio ---------------------------------------------------------------------------------


def transcribe(
    target: Target,
    audio: AudioInput,
    *,
    model: str,
    language: str | None,
    prompt: str | None,
    extra: dict[str, Any] | None,
    timeout: Any = USE_CLIENT_DEFAULT,
) -> Op[Transcription]:
    """``POST /v1/audio/transcriptions``: llama-swap reads the model from the form."""
    from llamaswap.audio import (
        build_transcription_form,
        parse_transcription,
        read_audio,
        sniff_audio,
    )

    form = build_transcription_form(model=model, language=language, prompt=prompt, extra=extra)
    data, name = read_audio(audio)
    file = (name, data, sniff_audio(data) or "application/octet-stream")
    encoded = encode_form(form, [("file", file)])
    response = yield Call(
        "POST",
        target.url("/v1/audio/transcriptions"),
        content=encoded.content,
        content_type=encoded.content_type,
        timeout=timeout,
        model=model,
    )
    yield from require_endpoint("POST /v1/audio/transcriptions", response, secret=target.secret)
    if response.is_error:
        yield from fail(target, response, model)
    what = "POST /v1/audio/transcriptions"
    if response.headers.get("content-type", "").startswith("text/plain"):
        return parse_transcription(response.text, model=model, url=str(response.url))
    body = json_body(response, what=what)
    if isinstance(body, dict) and isinstance(body.get("error"), str) and "text" not in body:
        # whisper.cpp's server reports a missing file or unreadable audio with a 200.
        reason = scrub(body["error"], target.secret)
        raise APIError(
            f"the transcription server for model {model!r} refused the audio: {reason}",
            status_code=response.status_code,
            body=scrub(response.text, target.secret),
            url=str(response.url),
        )
    return parse_transcription(body, model=model, url=str(response.url))


def speech(
    target: Target,
    text: str,
    *,
    model: str,
    voice: str | None,
    format: str | None,
    extra: dict[str, Any] | None,
    timeout: Any = USE_CLIENT_DEFAULT,
) -> Op[SpeechResult]:
    """``POST /v1/audio/speech``: JSON in, audio bytes out."""
    from llamaswap.audio import build_speech_request, speech_from_response

    body = build_speech_request(text, model=model, voice=voice, format=format, extra=extra)
    response = yield Call(
        "POST", target.url("/v1/audio/speech"), json=body, timeout=timeout, model=model
    )
    yield from require_endpoint("POST /v1/audio/speech", response, secret=target.secret)
    if response.is_error:
        yield from fail(target, response, model)
    return speech_from_response(
        response.content,
        response.headers.get("content-type", ""),
        model=model,
        text=text,
        voice=voice,
        format=body.get("response_format"),
        url=str(response.url),
    )


def voices(target: Target, model: str, timeout: Any = USE_CLIENT_DEFAULT) -> Op[list[str]]:
    """``GET /v1/audio/voices?model=<id>``: llama-swap reads the model from the query."""
    from llamaswap.audio import parse_voices

    if not isinstance(model, str) or not model.strip():
        raise ValueError("model must name a text-to-speech model configured in llama-swap")
    url = target.url(f"/v1/audio/voices?model={quote(model, safe='')}")
    response = yield Call("GET", url, timeout=timeout, model=model)
    yield from require_endpoint("GET /v1/audio/voices", response, secret=target.secret)
    if response.is_error:
        yield from fail(target, response, model)
    return parse_voices(json_body(response, what="GET /v1/audio/voices"), url=str(response.url))


# -- management extras: profiles, props, metrics, hardware, cancel (issue 13) -------------


def profiles(target: Target, timeout: Any = USE_CLIENT_DEFAULT) -> Op[Profiles]:
    from llamaswap.host import parse_profiles

    response = yield Call("GET", target.url("/api/profiles"), timeout=timeout)
    check_endpoint("GET /api/profiles", response, secret=target.secret)
    if response.is_error:
        yield from fail(target, response)
    return parse_profiles(json_body(response, what="GET /api/profiles"), url=str(response.url))


def set_profile(
    target: Target, name: str | None, timeout: Any = USE_CLIENT_DEFAULT
) -> Op[str | None]:
    """Make ``name`` the active profile (``None``: none); returns the active one."""
    from llamaswap.host import parse_active

    if name is not None and (not isinstance(name, str) or not name):
        raise ValueError(
            f"name must be a profile name (a non-empty string) or None to clear it, got {name!r}"
        )
    url = target.url("/api/profiles/active")
    response = yield Call("PUT", url, json={"name": name}, timeout=timeout)
    check_endpoint("PUT /api/profiles/active", response, secret=target.secret)
    if response.status_code == 404 and server_message(response.text)[1]:
        reason = scrub(server_message(response.text)[0], target.secret)
        known = yield from _profile_names(target)
        raise NotFoundError(
            f"llama-swap has no profile {name!r} (404: {reason}); "
            f"it has: {', '.join(known) or 'no profiles (add profiles: to its config)'}",
            body=scrub(response.text, target.secret),
            url=str(response.url),
            available=known,
        )
    if response.is_error:
        yield from fail(target, response)
    return parse_active(json_body(response, what="PUT /api/profiles/active"), url=url)


def _profile_names(target: Target) -> Op[list[str]]:
    from llamaswap.host import parse_profiles

    try:
        response = yield Call("GET", target.url("/api/profiles"))
        return [] if response.is_error else list(parse_profiles(response.json()).names)
    except (LlamaSwapError, ValueError):
        return []


def props(target: Target, model: str, timeout: Any = USE_CLIENT_DEFAULT) -> Op[ModelProps]:
    """``GET /props?model=<id>``: llama-swap loads the model and forwards the question."""
    from llamaswap.host import parse_props

    model_path(model)  # the same check every model argument gets
    url = target.url(f"/props?model={quote(model, safe='')}")
    response = yield Call("GET", url, timeout=timeout, model=model)
    yield from require_endpoint("GET /props", response, secret=target.secret)
    if response.is_error:
        yield from fail(target, response, model)
    return parse_props(model, json_body(response, what="GET /props"), url=str(response.url))


def metrics(target: Target, timeout: Any = USE_CLIENT_DEFAULT) -> Op[Metrics]:
    from llamaswap.metrics import parse_prometheus

    response = yield Call("GET", target.url("/metrics"), timeout=timeout)
    check_endpoint("GET /metrics", response, secret=target.secret)
    if response.status_code == 503:
        said = scrub(response.text.strip().lstrip("# "), target.secret)
        raise APIError(
            "llama-swap's performance monitor is off, so GET /metrics has nothing to report "
            f"(503: {said}): remove "
            "'performance: {disabled: true}' from llama-swap's config",
            status_code=503,
            body=scrub(response.text, target.secret),
            url=str(response.url),
        )
    if response.is_error:
        yield from fail(target, response)
    try:
        return parse_prometheus(response.text)
    except ValueError as exc:
        raise ResponseDecodeError(
            f"GET /metrics did not return Prometheus text: {exc}",
            url=str(response.url),
            body=scrub(response.text[:200], target.secret),
        ) from None


def hardware(target: Target, timeout: Any = USE_CLIENT_DEFAULT) -> Op[HardwareInfo]:
    from llamaswap.host import parse_hardware

    response = yield Call("GET", target.url("/api/hardware"), timeout=timeout)
    check_endpoint("GET /api/hardware", response, secret=target.secret)
    if response.status_code == 503:
        reason = scrub(server_message(response.text)[0], target.secret)
        raise APIError(
            f"llama-swap could not detect this host's hardware at startup (503: {reason}); "
            "its log (GET /logs) says why",
            status_code=503,
            body=scrub(response.text, target.secret),
            url=str(response.url),
        )
    if response.is_error:
        yield from fail(target, response)
    return parse_hardware(json_body(response, what="GET /api/hardware"), url=str(response.url))


def cancel(target: Target, inflight_id: str | int, timeout: Any = USE_CLIENT_DEFAULT) -> Op[None]:
    """Cancel one tracked in-flight request (its id comes from an ``InFlight`` event)."""
    if isinstance(inflight_id, bool) or not isinstance(inflight_id, str | int):
        raise TypeError(
            f"inflight_id must be a str or int from an InFlight event, got {inflight_id!r}"
        )
    ident = str(inflight_id).strip()
    if not ident:
        raise ValueError("inflight_id must not be empty: take it from an InFlight event")
    url = target.url(f"/api/inflight/{model_path(ident)}/cancel")
    response = yield Call("POST", url, timeout=timeout)
    check_endpoint("POST /api/inflight/{id}/cancel", response, secret=target.secret)
    if response.status_code == 404 and server_message(response.text)[1]:
        raise NotFoundError(
            f"llama-swap has no in-flight request {ident!r} (404: "
            f"{scrub(server_message(response.text)[0], target.secret)}): it has finished "
            "already, or the id is not one from events() (InFlight)",
            body=scrub(response.text, target.secret),
            url=str(response.url),
        )
    if response.is_error:
        yield from fail(target, response)
    return None
