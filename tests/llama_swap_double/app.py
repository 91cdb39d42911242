"""HTTP surface of the llama-swap test double (aiohttp), routed like Go's ServeMux.

One catch-all aiohttp route feeds :meth:`DoubleServer.dispatch`, which matches
method + path itself so unknown paths get Go's ``404 page not found`` and known
paths with the wrong method get ``405`` with an ``Allow`` header.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, quote_plus, unquote

import aiohttp
from aiohttp import web

from . import BUILD_DATE, COMMIT, VERSION
from .auth import authorized
from .config import Capabilities, Config, ModelConfig
from .errors import (
    NO_MODEL,
    NO_ROUTER,
    UNAUTHORIZED,
    LoadError,
    SwapError,
    error_response,
    go_float_duration,
    go_json,
    go_text,
    json_error_body,
    method_not_allowed,
    not_found,
    sorted_map,
    too_many_requests,
)
from .events import EventBus, InflightEntry, InflightTracker, sse_frame
from .hardware import detect as detect_hardware
from .loading import LoadingStream
from .logs import Logs
from .perf import Monitor
from .process import READY
from .proxy import (
    ProxyHooks,
    UpstreamUnavailableError,
    bad_gateway,
    new_session,
    open_upstream,
    relay,
)
from .requests_util import apply_filters, extract_model, rewrite_json_model
from .scheduler import Router, TooManyRequestsError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

MODEL_POST_JSON = [
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
    "/v1/images/generations",
    "/sdapi/v1/txt2img",
    "/sdapi/v1/img2img",
    "/audioapi/v1/tasks/run",
    "/v/chat/completions",
    "/v/responses",
    "/v/completions",
    "/v/messages",
    "/v/messages/count_tokens",
    "/v/embeddings",
    "/v/rerank",
    "/v/reranking",
]
MODEL_POST_FORM = ["/v1/audio/transcriptions", "/v1/images/edits"]
MODEL_GET = ["/v1/audio/voices", "/sdapi/v1/loras", "/props"]
MODEL_PATHS = set(MODEL_POST_JSON) | set(MODEL_POST_FORM) | set(MODEL_GET)
NOT_ACCESS_LOGGED = {"/wol-health", "/api/performance", "/metrics"}


def _caps_render(
    caps: Capabilities | None,
) -> tuple[dict[str, Any], dict[str, Any], list[str], int]:
    """architecture, capabilities map, supported_parameters, context_length (like v250)."""
    if caps is None:
        return {}, {}, [], 0
    arch: dict[str, Any] = {}
    if caps.inputs:
        arch["input_modalities"] = caps.inputs
    if caps.outputs:
        arch["output_modalities"] = caps.outputs
    if caps.inputs and caps.outputs:
        arch["modality"] = "+".join(caps.inputs) + "->" + "+".join(caps.outputs)
    cmap: dict[str, Any] = {}
    ins, outs = set(caps.inputs), set(caps.outputs)
    if "image" in ins:
        cmap["vision"] = True
    if "audio" in ins and "text" in outs:
        cmap["audio_transcriptions"] = True
    if "text" in ins and "audio" in outs:
        cmap["audio_speech"] = True
    if "text" in ins and "image" in outs:
        cmap["image_generation"] = True
    if "image" in ins and "image" in outs:
        cmap["image_to_image"] = True
    params: list[str] = []
    if caps.tools:
        cmap["function_calling"] = True
        params = ["tools", "tool_choice"]
    if caps.reranker:
        cmap["reranker"] = True
    return sorted_map(arch), sorted_map(cmap), params, max(caps.context, 0)


class DoubleServer:
    """Everything one running test double owns: config, processes, events, HTTP routes."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.envelope = cfg.double_error_envelope
        self.logs = Logs(cfg.log_to_stdout, cfg.log_level)
        self.log = self.logs.log
        self.bus = EventBus()
        self.inflight = InflightTracker(self.bus)
        self.active_profile = ""  # none; forgotten on restart, like v250
        self.hardware = detect_hardware(VERSION)  # once at startup, like v250
        self.monitor = None if cfg.performance_disabled else Monitor(cfg.performance_every)
        self.router = Router(cfg, self.logs, self._on_state)
        self.session: aiohttp.ClientSession | None = None
        self._stream_tasks: set[asyncio.Task[Any]] = set()
        self.logs.proxy.subscribe(lambda d: self._log_event("proxy", d))
        self.logs.upstream.subscribe(lambda d: self._log_event("upstream", d))
        self.exact: dict[str, dict[str, Handler]] = {}
        self._build_routes()

    # -- events ----------------------------------------------------------------
    def _log_event(self, source: str, data: bytes) -> None:
        self.bus.emit("logData", {"source": source, "data": data.decode("utf-8", "replace")})

    def _on_state(self, model_id: str, old: str, new: str) -> None:
        self.bus.emit("modelStatus", self.model_status())

    def model_status(self) -> list[dict[str, Any]]:
        """The ``modelStatus`` event payload: all local models, then peer models."""
        running = self.router.running_models()
        out: list[dict[str, Any]] = []
        for mid in sorted(self.cfg.models):
            mc = self.cfg.models[mid]
            rec: dict[str, Any] = {
                "id": mid,
                "name": mc.name,
                "description": mc.description,
                "state": running.get(mid, "stopped"),
                "unlisted": mc.unlisted,
                "peerID": "",
            }
            if mc.aliases:
                rec["aliases"] = mc.aliases
            _, cmap, _, ctx = _caps_render(mc.capabilities)
            if cmap:
                rec["capabilities"] = cmap
            if ctx:
                rec["context_length"] = ctx
            out.append(rec)
        for pid, peer in self.cfg.peers.items():
            for model in peer.models:
                out.append(
                    {
                        "id": f"{pid}/{model}",
                        "name": "",
                        "description": "",
                        "state": "",
                        "unlisted": False,
                        "peerID": pid,
                    }
                )
        return out

    # -- lifecycle -------------------------------------------------------------
    async def startup(self) -> None:
        """Create the upstream HTTP client and run preloads."""
        self.session = new_session()
        self.log.info(f"llama-swap test double {VERSION} starting")
        if self.monitor is None:
            self.log.info("performance monitoring is disabled")
        else:
            self.monitor.start()
        for name in self.cfg.preload:
            real = self.cfg.real_model_name(name)
            if real is None:
                self.log.warn(f"preload: model {name} is not a local model, skipping")
                continue
            self._spawn(self._preload(real))

    async def _preload(self, model_id: str) -> None:
        self.log.info(f"preloading model: {model_id}")
        try:
            lease = self.router.admit(model_id)
        except SwapError as err:
            self.log.error(f"failed to preload model {model_id}: {err.message}")
            return
        try:
            await self.router.wait_ready(lease)
        except LoadError as err:
            self.log.error(f"failed to preload model {model_id}: {err.message}")
        finally:
            lease.release()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._stream_tasks.add(task)
        task.add_done_callback(self._stream_tasks.discard)

    async def shutdown(self) -> None:
        """Close event streams, stop every upstream, close the client."""
        self.log.info("shutting down, stopping all upstreams")
        self.bus.close_all()
        if self.monitor is not None:
            await self.monitor.stop()
        await self.router.shutdown()
        if self.session is not None:
            await self.session.close()

    # -- dispatch --------------------------------------------------------------
    def _build_routes(self) -> None:
        def add(method: str, path: str, handler: Handler) -> None:
            self.exact.setdefault(path, {})[method] = handler

        for path in MODEL_POST_JSON + MODEL_POST_FORM:
            add("POST", path, self.handle_model)
        for path in MODEL_GET:
            add("GET", path, self.handle_model)
        add("GET", "/v1/models", self.handle_list_models)
        add("GET", "/models", self.handle_list_models)
        add("GET", "/logs", self.handle_logs)
        add("GET", "/logs/stream", self.handle_log_stream)
        add("GET", "/health", self.handle_health)
        add("GET", "/wol-health", self.handle_health)
        add("GET", "/", self.handle_root)
        add("GET", "/favicon.ico", self.handle_404)
        add("GET", "/metrics", self.handle_metrics)
        add("GET", "/unload", self.handle_unload)
        add("GET", "/running", self.handle_running)
        add("GET", "/upstream", self.handle_upstream_redirect)
        add("POST", "/api/models/unload", self.handle_api_unload_all)
        add("GET", "/api/profiles", self.handle_profiles)
        add("PUT", "/api/profiles/active", self.handle_active_profile)
        add("GET", "/api/events", self.handle_events)
        add("GET", "/api/metrics/activity", self.handle_activity)
        add("GET", "/api/metrics/stats", self.handle_stats)
        add("GET", "/api/performance", self.handle_performance)
        add("GET", "/api/version", self.handle_version)
        add("GET", "/api/hardware", self.handle_hardware)

    def _match(self, request: web.Request) -> Handler | web.StreamResponse:
        path = request.path
        method = "GET" if request.method == "HEAD" else request.method
        methods = self.exact.get(path)
        if methods is not None:
            handler = methods.get(method)
            if handler is not None:
                return handler
        if path.startswith("/upstream/"):
            return self.handle_upstream
        if path == "/comfyui" or path.startswith("/comfyui/"):
            return self.handle_comfyui
        prefixed: list[tuple[str, str, Handler]] = [
            ("GET", "/logs/stream/", self.handle_log_stream),
            ("POST", "/api/models/unload/", self.handle_api_unload_model),
            ("GET", "/api/captures/", self.handle_capture),
            ("GET", "/ui/", self.handle_404),
        ]
        allowed: set[str] = set(methods or {})
        for pmethod, prefix, handler in prefixed:
            if path.startswith(prefix):
                if pmethod == method:
                    return handler
                allowed.add(pmethod)
        if path.startswith("/api/inflight/") and path.endswith("/cancel"):
            if method == "POST":
                return self.handle_cancel_inflight
            allowed.add("POST")
        if allowed:
            if "GET" in allowed:
                allowed.add("HEAD")
            return method_not_allowed(sorted(allowed))
        return not_found()

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        """Entry point for every request: CORS preflight, auth, route, access log."""
        started = time.monotonic()
        response = await self._dispatch(request)
        if request.path not in NOT_ACCESS_LOGGED:
            size = getattr(response, "body_length", 0)
            ua = request.headers.get("User-Agent", "")
            self.log.info(
                f'Request {request.remote} "{request.method} {request.raw_path} '
                f'HTTP/{request.version.major}.{request.version.minor}" {response.status} '
                f'{size} "{ua}" {go_float_duration(time.monotonic() - started)}'
            )
        return response

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        if request.method == "OPTIONS":
            return self._cors_preflight(request)
        matched = self._match(request)
        if isinstance(matched, web.StreamResponse):
            return matched
        if not authorized(request, self.cfg.api_keys):
            return error_response(
                request,
                401,
                UNAUTHORIZED,
                self.envelope,
                headers={"WWW-Authenticate": 'Basic realm="llama-swap"'},
            )
        return await matched(request)

    def _cors_preflight(self, request: web.Request) -> web.Response:
        req_headers = request.headers.get("Access-Control-Request-Headers", "")
        tokens = [h.strip() for h in req_headers.split(",") if h.strip()]
        valid = [t for t in tokens if all(c.isalnum() or c in "!#$%&'*+-.^_`|~" for c in t)]
        default = "Content-Type, Authorization, Accept, X-Requested-With"
        allow = ", ".join(valid) if req_headers else default
        return web.Response(
            status=204,
            headers={
                "Access-Control-Allow-Origin": "*",
                "Access-Control-Allow-Methods": "GET, POST, PUT, PATCH, DELETE, OPTIONS",
                "Access-Control-Allow-Headers": allow,
                "Access-Control-Max-Age": "86400",
            },
        )

    def error(
        self, request: web.Request, status: int, message: str, code: str | None = None
    ) -> web.Response:
        """A llama-swap-originated error in the configured shape."""
        return error_response(request, status, message, self.envelope, code)

    def _swap_error(self, request: web.Request, err: SwapError) -> web.Response:
        if isinstance(err, TooManyRequestsError):
            return too_many_requests(self.envelope)
        return self.error(request, err.status, err.message, err.code)

    # -- model routes ----------------------------------------------------------
    async def handle_model(self, request: web.Request) -> web.StreamResponse:
        """POST/GET model-dispatched routes: resolve model, then local or peer."""
        body = await request.read()
        model, streaming = extract_model(request, body)
        pins = self._active_pins()
        if model and model in pins:
            # v250 CreateProfileMiddleware: the pinned name becomes its target ("" blanks it)
            if request.method == "GET":
                request = request.clone(
                    rel_url=request.path + "?" + _go_query_set(request, "model", pins[model])
                )
            else:
                body = rewrite_json_model(body, pins[model])
            model = pins[model]
        if not model:
            return self.error(request, 404, NO_MODEL)
        path = request.path
        if path.startswith("/v/"):
            path = path[2:]
        if path.startswith("/audioapi"):
            path = path[len("/audioapi") :]
        qs = request.query_string
        target_path = path + (f"?{qs}" if qs else "")
        real = self.cfg.real_model_name(model)
        if real is not None:
            mc = self.cfg.models[real]
            body = apply_filters(request, body, model, mc)
            return await self.serve_local(request, real, body, target_path, streaming, path, True)
        peer = self.cfg.resolve_peer_model(model)
        if peer is not None:
            if model != peer[1] and request.method == "GET":
                # v250 ReplaceRequestModel: GET routes get ?model= rewritten (Go's sorted
                # url.Values.Encode), so the peer sees its own id.
                target_path = path + "?" + _go_query_set(request, "model", peer[1])
            elif model != peer[1]:
                body = rewrite_json_model(body, peer[1])
            return await self.serve_peer(request, peer[0], peer[1], body, target_path, True)
        return self.error(request, 404, NO_ROUTER)

    def _track(self, request: web.Request, model_id: str, track: bool) -> InflightEntry | None:
        if not track:
            return None
        task = asyncio.current_task()
        remote = request.headers.get("X-Real-IP") or (
            request.headers.get("X-Forwarded-For", "").split(",")[0].strip()
            or (request.remote or "")
        )
        return self.inflight.add(
            model_id,
            request.path,
            request.method,
            request.headers,
            remote,
            cancel=task.cancel if task is not None else None,
        )

    def _hooks(
        self, entry: InflightEntry | None, extra: dict[str, str] | None = None
    ) -> ProxyHooks:
        hooks = ProxyHooks(extra_headers=extra or {})
        if entry is not None:
            hooks.on_headers = lambda h: self.inflight.set_response_headers(entry, h)
            hooks.on_bytes = lambda n: self.inflight.add_bytes(entry, n)
        return hooks

    async def serve_local(
        self,
        request: web.Request,
        model_id: str,
        body: bytes,
        target: str,
        streaming: bool,
        route_path: str,
        track: bool,
    ) -> web.StreamResponse:
        """Admit, load/swap if needed (optionally streaming loading state), then proxy."""
        mc: ModelConfig = self.cfg.models[model_id]
        proc = self.router.processes[model_id]
        entry = self._track(request, model_id, track)
        try:
            try:
                lease = self.router.admit(model_id)
            except SwapError as err:
                return self._swap_error(request, err)
            try:
                loading: LoadingStream | None = None
                if (
                    streaming
                    and mc.send_loading_state
                    and route_path.startswith("/v1/chat/completions")
                    and proc.state != READY
                ):
                    loading = LoadingStream(request, model_id)
                    await loading.begin()
                try:
                    await self.router.wait_ready(lease)
                except LoadError as err:
                    if loading is None:
                        return self.error(request, err.status, err.message)
                    await loading.finish()
                    body_err = json_error_body(err.status, err.message, self.envelope)
                    await loading.append_raw(body_err)
                    await loading.close()
                    return loading.response
                if loading is not None:
                    await loading.finish()
                assert self.session is not None
                url = mc.proxy.rstrip("/") + target
                hooks = self._hooks(entry)
                try:
                    upstream = await open_upstream(self.session, request, url, body, hooks)
                except UpstreamUnavailableError as err:
                    self.log.warn(f"<{model_id}> proxy error: {err}")
                    if loading is not None:
                        await loading.close()
                        return loading.response
                    return bad_gateway()
                return await relay(request, upstream, hooks, loading.response if loading else None)
            finally:
                lease.release()
        finally:
            if entry is not None:
                self.inflight.remove(entry)

    async def serve_peer(
        self,
        request: web.Request,
        peer_id: str,
        peer_model: str,
        body: bytes,
        target: str,
        track: bool,
    ) -> web.StreamResponse:
        """Forward to a peer: no queue, no swap; inject the peer's apiKey."""
        peer = self.cfg.peers[peer_id]
        entry = self._track(request, f"{peer_id}/{peer_model}", track)
        extra: dict[str, str] = {}
        if peer.api_key:
            extra = {"Authorization": f"Bearer {peer.api_key}", "x-api-key": peer.api_key}
        hooks = self._hooks(entry, extra)
        self.log.debug(f"peer: routing model to peer {peer_id} as {peer_model}")
        try:
            assert self.session is not None
            try:
                upstream = await open_upstream(
                    self.session, request, peer.proxy + target, body, hooks
                )
            except UpstreamUnavailableError as err:
                message = f"peer proxy error: {_go_dial_error(err)}"
                if self.envelope:
                    # main-0bdb372's peer ErrorHandler renders through SendResponse.
                    return self.error(request, 502, message)
                # v250's peer ReverseProxy ErrorHandler uses http.Error: plain text, not JSON.
                return go_text(502, message + "\n", {"X-Content-Type-Options": "nosniff"})
            return await relay(request, upstream, hooks)
        finally:
            if entry is not None:
                self.inflight.remove(entry)

    async def handle_upstream(self, request: web.Request) -> web.StreamResponse:
        """``/upstream/<model>/<path>``: raw passthrough that loads the model."""
        decoded = request.path[len("/upstream") :]
        found = self.cfg.model_in_path(decoded)
        if found is None:
            return self.error(request, 404, "model not found")
        search, model_id, remaining = found
        qs = request.query_string
        if remaining == "/" and not request.path.endswith("/"):
            location = f"/upstream/{search}/" + (f"?{qs}" if qs else "")
            return _redirect(request, location, 301 if request.method in ("GET", "HEAD") else 308)
        raw_path = request.raw_path.split("?", 1)[0]
        escaped_remaining = _escaped_suffix(raw_path, "/upstream/" + search)
        target = (escaped_remaining or remaining) + (f"?{qs}" if qs else "")
        real = self.cfg.real_model_name(model_id)
        if real is not None:
            ignored = any(p.match(remaining) for p in self.cfg.ignore_paths)
            if ignored and self.router.processes[real].state != READY:
                return self.error(
                    request,
                    409,
                    f"model {real} is not loaded; path matches upstream.ignorePaths",
                )
            body = await request.read()
            streaming = request.query.get("stream", "") == "true"
            track = remaining in MODEL_PATHS
            return await self.serve_local(request, real, body, target, streaming, remaining, track)
        peer = self.cfg.resolve_peer_model(model_id)
        if peer is not None:
            body = await request.read()
            if search != peer[1] and remaining.startswith("/upstream/"):
                # v250 quirk (ReplaceRequestModel on a path that still starts with
                # /upstream/): the peer gets /upstream/<its model id> + the remaining path.
                target = quote(f"/upstream/{peer[1]}{remaining}", safe=_GO_PATH_SAFE) + (
                    f"?{qs}" if qs else ""
                )
            return await self.serve_peer(request, peer[0], peer[1], body, target, False)
        return self.error(request, 404, f"no router for model {model_id}")

    async def handle_comfyui(self, request: web.Request) -> web.StreamResponse:
        """Only the not-configured answer; the double does not special-case ComfyUI."""
        if request.path == "/comfyui":
            qs = request.query_string
            return _redirect(request, "/comfyui/" + (f"?{qs}" if qs else ""), 301)
        return self.error(request, 404, "local model comfyui_auto not found")

    # -- listing ---------------------------------------------------------------
    def _record(
        self,
        rid: str,
        created: int,
        name: str,
        description: str,
        metadata: dict[str, Any],
        caps: Capabilities | None,
        status: str,
        internal: dict[str, Any],
    ) -> dict[str, Any]:
        arch, cmap, params, ctx = _caps_render(caps)
        rec: dict[str, Any] = {
            "id": rid,
            "object": "model",
            "created": created,
            "owned_by": "llama-swap",
        }
        if name.strip():
            rec["name"] = name.strip()
        if description.strip():
            rec["description"] = description.strip()
        if arch:
            rec["architecture"] = arch
        if cmap:
            rec["capabilities"] = cmap
        if params:
            rec["supported_parameters"] = params
        if ctx:
            rec["context_length"] = ctx
        md = dict(metadata)
        if caps is not None:
            for key in ("architecture", "capabilities", "supported_parameters", "context_length"):
                md.pop(key, None)
        md.update(internal)
        meta: dict[str, Any] = {}
        if md:
            meta["llamaswap"] = sorted_map(md)
        if ctx:
            meta["n_ctx"] = ctx
        if meta:
            rec["meta"] = meta
        rec["status"] = {"value": status}
        return rec

    async def handle_list_models(self, request: web.Request) -> web.StreamResponse:
        """``GET /v1/models``: local models, optional alias records, peer models; sorted."""
        created = int(time.time())
        running = self.router.running_models()
        data: list[dict[str, Any]] = []
        for mid, mc in self.cfg.models.items():
            if mc.unlisted:
                continue
            status = "loaded" if mid in running else "unloaded"
            internal: dict[str, Any] = {"type": "model"}
            if mc.aliases:
                internal["aliases"] = mc.aliases
            data.append(
                self._record(
                    mid,
                    created,
                    mc.name,
                    mc.description,
                    mc.metadata,
                    mc.capabilities,
                    status,
                    internal,
                )
            )
            if self.cfg.include_aliases_in_list:
                for alias in mc.aliases:
                    if alias.strip():
                        data.append(
                            self._record(
                                alias.strip(),
                                created,
                                mc.name,
                                mc.description,
                                mc.metadata,
                                mc.capabilities,
                                status,
                                {"type": "alias", "modelID": mid},
                            )
                        )
        for pid, peer in self.cfg.peers.items():
            for model in peer.models:
                data.append(
                    self._record(
                        f"{pid}/{model}",
                        created,
                        f"{pid}: {model}",
                        "",
                        {},
                        None,
                        "unloaded",
                        {"type": "peer", "peerID": pid},
                    )
                )
        listed = {str(r["id"]) for r in data} | set(self.cfg.aliases) | set(self.cfg.models)
        for pin, target in self._active_pins().items():
            if target and pin not in listed:
                data.append(
                    self._record(pin, created, "", "", {}, None, "unloaded", {"type": "profile"})
                )
        data.sort(key=lambda r: str(r["id"]))
        headers = {"Content-Type": "application/json"}
        origin = request.headers.get("Origin")
        if origin:
            headers["Access-Control-Allow-Origin"] = origin
        return web.Response(body=go_json({"data": data, "object": "list"}, True), headers=headers)

    async def handle_running(self, request: web.Request) -> web.StreamResponse:
        """``GET /running``: non-stopped local processes."""
        items = []
        for mid, state in sorted(self.router.running_models().items()):
            mc = self.cfg.models[mid]
            items.append(
                {
                    "model": mid,
                    "state": state,
                    "cmd": mc.cmd,
                    "proxy": mc.proxy,
                    "ttl": mc.ttl,
                    "name": mc.name,
                    "description": mc.description,
                }
            )
        return _json({"running": items})

    # -- unload ----------------------------------------------------------------
    async def handle_unload(self, request: web.Request) -> web.StreamResponse:
        """``GET /unload``: stop all local models, text ``OK``."""
        await self.router.unload()
        return go_text(200, "OK")

    async def handle_api_unload_all(self, request: web.Request) -> web.StreamResponse:
        """``POST /api/models/unload``: stop all, ``{"msg":"ok"}``."""
        await self.router.unload()
        return _json({"msg": "ok"})

    async def handle_api_unload_model(self, request: web.Request) -> web.StreamResponse:
        """``POST /api/models/unload/{model...}``: stop one (ID or alias), text ``OK``."""
        requested = request.path[len("/api/models/unload/") :].lstrip("/")
        real = self.cfg.real_model_name(requested)
        if real is None:
            return self.error(request, 404, "model not found")
        await self.router.unload([real])
        return go_text(200, "OK")

    # -- events and logs -------------------------------------------------------
    async def handle_events(self, request: web.Request) -> web.StreamResponse:
        """``GET /api/events``: SSE of modelStatus/logData/inflight/... envelopes."""
        resp = web.StreamResponse(status=200)
        resp.headers.update(
            {
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "Connection": "keep-alive",
                "X-Content-Type-Options": "nosniff",
                "X-Accel-Buffering": "no",
            }
        )
        queue = self.bus.subscribe()
        try:
            await resp.prepare(request)
            initial = [
                ("logData", {"source": "proxy", "data": self._text(self.logs.proxy.history())}),
                (
                    "logData",
                    {"source": "upstream", "data": self._text(self.logs.upstream.history())},
                ),
                ("modelStatus", self.model_status()),
                ("uiConfig", self.cfg.ui),
                ("profileChanged", {"active": self.active_profile or None}),
                ("inflight", self.inflight.snapshot()),
            ]
            for msg_type, data in initial:
                await resp.write(sse_frame(msg_type, data))
            while True:
                item = await queue.get()
                if item is None:
                    break
                await resp.write(sse_frame(*item))
        except (ConnectionError, RuntimeError):
            pass
        finally:
            self.bus.unsubscribe(queue)
        with contextlib.suppress(ConnectionError, RuntimeError):
            await resp.write_eof()
        return resp

    @staticmethod
    def _text(data: bytes) -> str:
        return data.decode("utf-8", "replace")

    async def handle_logs(self, request: web.Request) -> web.StreamResponse:
        """``GET /logs``: combined history as text (302 to the UI for browsers)."""
        if "text/html" in request.headers.get("Accept", ""):
            return _redirect(request, "/ui/", 302)
        return web.Response(
            body=self.logs.combined.history(),
            headers={"Content-Type": "text/plain; charset=utf-8"},
        )

    async def handle_log_stream(self, request: web.Request) -> web.StreamResponse:
        """``GET /logs/stream[/<id>]``: chunked live tail, history first."""
        which = request.path[len("/logs/stream") :].lstrip("/")
        if which == "":
            monitor = self.logs.combined
        elif which == "proxy":
            monitor = self.logs.proxy
        elif which == "upstream":
            monitor = self.logs.upstream
        else:
            real = self.cfg.real_model_name(which)
            if real is None:
                return self.error(
                    request, 400, "invalid logger. Use 'proxy', 'upstream' or a model's ID"
                )
            monitor = self.logs.for_model(real)
        resp = web.StreamResponse(status=200)
        resp.headers["Content-Type"] = "text/plain"
        resp.headers["X-Content-Type-Options"] = "nosniff"
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        remove = monitor.subscribe(queue.put_nowait)
        closer = self.bus.subscribe()
        try:
            await resp.prepare(request)
            if "no-history" not in request.query:
                await resp.write(monitor.history())
            while True:
                getter = asyncio.ensure_future(queue.get())
                closed = asyncio.ensure_future(closer.get())
                done, pending = await asyncio.wait(
                    {getter, closed}, return_when=asyncio.FIRST_COMPLETED
                )
                for p in pending:
                    p.cancel()
                if getter in done:
                    chunk = getter.result()
                    if chunk:
                        await resp.write(chunk)
                if closed in done and closed.result() is None:
                    break
        except (ConnectionError, RuntimeError):
            pass
        finally:
            remove()
            self.bus.unsubscribe(closer)
        return resp

    # -- small endpoints ---------------------------------------------------------
    async def handle_health(self, request: web.Request) -> web.StreamResponse:
        """``GET /health``: 200 ``OK``, never authenticated."""
        return go_text(200, "OK")

    async def handle_root(self, request: web.Request) -> web.StreamResponse:
        """``GET /`` -> 302 ``/ui``."""
        return _redirect(request, "/ui", 302)

    async def handle_upstream_redirect(self, request: web.Request) -> web.StreamResponse:
        """``GET /upstream`` -> 302 ``/ui/models``."""
        return _redirect(request, "/ui/models", 302)

    async def handle_404(self, request: web.Request) -> web.StreamResponse:
        """The double has no UI build, like a binary built without ``embed_ui``."""
        return not_found()

    async def handle_metrics(self, request: web.Request) -> web.StreamResponse:
        """``GET /metrics``: the monitor's latest host sample (see :mod:`.perf`), else 503."""
        if self.monitor is None:
            return go_text(503, "# performance monitor not available\n")
        return web.Response(
            body=self.monitor.render().encode(),
            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
        )

    async def handle_performance(self, request: web.Request) -> web.StreamResponse:
        """Performance monitor disabled."""
        return _json({"enabled": False}, 503)

    async def handle_hardware(self, request: web.Request) -> web.StreamResponse:
        """``GET /api/hardware``: the startup snapshot (see :mod:`.hardware`), else 503."""
        if self.hardware is None:
            return self.error(request, 503, "hardware detection unavailable")
        return _json(self.hardware)

    async def handle_version(self, request: web.Request) -> web.StreamResponse:
        """``GET /api/version``: identifies the test double."""
        return _json({"build_date": BUILD_DATE, "commit": COMMIT, "version": VERSION})

    def _active_pins(self) -> dict[str, str]:
        profile = self.cfg.profiles.get(self.active_profile)
        return profile.pins if profile is not None else {}

    async def handle_profiles(self, request: web.Request) -> web.StreamResponse:
        """``GET /api/profiles``: every profile (sorted by id) and the active one."""
        profiles = [
            {"id": pid, "description": p.description, "pins": p.pins}
            for pid, p in sorted(self.cfg.profiles.items())
        ]
        return _json({"active": self.active_profile or None, "profiles": profiles})

    async def handle_active_profile(self, request: web.Request) -> web.StreamResponse:
        """``PUT /api/profiles/active``: ``{"name": "<profile>"}`` or ``{"name": null}``."""
        try:
            doc = await request.json()
        except ValueError:
            return self.error(request, 400, "invalid profile request")
        if not isinstance(doc, dict):
            return self.error(request, 400, "invalid profile request")
        if "name" not in doc:
            return self.error(request, 400, "profile name is required")
        name = doc["name"]
        if name is not None and not isinstance(name, str):
            return self.error(request, 400, "profile name must be a string or null")
        if name and name not in self.cfg.profiles:
            return self.error(request, 404, f'profile "{name}" not found')
        if (name or "") != self.active_profile:
            self.active_profile = name or ""
            self.log.info(f'active profile changed to "{self.active_profile}"')
            self.bus.emit("profileChanged", {"active": self.active_profile or None})
        return _json({"active": self.active_profile or None})

    async def handle_cancel_inflight(self, request: web.Request) -> web.StreamResponse:
        """``POST /api/inflight/{id}/cancel``: abort a tracked request."""
        entry_id = request.path[len("/api/inflight/") : -len("/cancel")]
        if not entry_id or not self.inflight.cancel(entry_id):
            return self.error(request, 404, "inflight request not found")
        return _json({"msg": "ok"})

    async def handle_activity(self, request: web.Request) -> web.StreamResponse:
        """No activity store in the double: always an empty page."""
        return _json({"data": [], "limit": 25, "page": 1, "total": 0, "total_pages": 0})

    async def handle_stats(self, request: web.Request) -> web.StreamResponse:
        """No activity store in the double: zero totals."""
        return _json(
            {
                "gen_histogram": None,
                "prompt_histogram": None,
                "total_cache_tokens": 0,
                "total_input_tokens": 0,
                "total_output_tokens": 0,
                "total_requests": 0,
            }
        )

    async def handle_capture(self, request: web.Request) -> web.StreamResponse:
        """No captures are stored by the double."""
        raw = request.path[len("/api/captures/") :]
        if not raw.isdigit():
            return self.error(request, 400, "invalid capture ID")
        return self.error(request, 404, "capture not found")


_REDIRECT_TEXT = {301: "Moved Permanently", 302: "Found", 308: "Permanent Redirect"}


def _redirect(request: web.Request, location: str, status: int) -> web.Response:
    """Like Go's ``http.Redirect``: small HTML body for GET/HEAD only."""
    headers = {"Location": location}
    if request.method not in ("GET", "HEAD"):
        return web.Response(status=status, headers=headers)
    headers["Content-Type"] = "text/html; charset=utf-8"
    body = f'<a href="{location}">{_REDIRECT_TEXT[status]}</a>.\n\n'
    return web.Response(status=status, headers=headers, body=body.encode())


def _json(obj: Any, status: int = 200) -> web.Response:
    return web.Response(
        status=status, body=go_json(obj, True), headers={"Content-Type": "application/json"}
    )


def _escaped_suffix(escaped: str, decoded_prefix: str) -> str:
    """The part of an escaped path after a decoded prefix (keeps e.g. %2F intact)."""
    raw_i = 0
    pre_i = 0
    while raw_i < len(escaped) and pre_i < len(decoded_prefix):
        end = raw_i + 3 if escaped[raw_i] == "%" else raw_i + 1
        piece = unquote(escaped[raw_i:end])
        if not decoded_prefix.startswith(piece, pre_i):
            return ""
        raw_i = end
        pre_i += len(piece)
    if pre_i != len(decoded_prefix):
        return ""
    rest = escaped[raw_i:]
    # v250 forwards the rest as a path of its own: ``model%2F/x`` -> ``/%2F/x``.
    return rest if rest.startswith("/") or not rest else "/" + rest


_GO_PATH_SAFE = "/!$&'()*+,;=:@"  # what Go's URL.EscapedPath leaves unescaped besides unreserved


def _go_query_set(request: web.Request, key: str, value: str) -> str:
    """The query with ``key`` set to ``value``, encoded like Go's ``url.Values.Encode``."""
    pairs = [(k, v) for k, v in request.query.items() if k != key] + [(key, value)]
    pairs.sort(key=lambda kv: kv[0])  # stable: repeated keys keep their order
    return "&".join(f"{quote_plus(k)}={quote_plus(v)}" for k, v in pairs)


def _go_dial_error(err: UpstreamUnavailableError) -> str:
    cause = err.__cause__
    if isinstance(cause, aiohttp.ClientConnectorError):
        return f"dial tcp {cause.host}:{cause.port}: connect: connection refused"
    return str(err)


def build_app(server: DoubleServer) -> web.Application:
    """The aiohttp application wrapping :class:`DoubleServer`."""
    app = web.Application(client_max_size=1024**4)
    app.router.add_route("*", r"/{tail:(?s:.*)}", server.dispatch)  # ids may hold %0A
    return app
