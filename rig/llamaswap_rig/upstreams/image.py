"""Image *test upstream* speaking stable-diffusion.cpp's server API. NOT a diffusion model.

It answers ``POST /v1/images/generations`` (and the SDAPI ``/sdapi/v1/txt2img``) with real PNG
files whose pixels are a deterministic function of prompt, seed and image index, so the
integrations can be tested end to end through llama-swap without a multi-GB diffusion model.
``--delay`` imitates a slow render; a prompt containing ``--fail-prompt`` (default
``__fail_render__``) makes the render fail with a 500, and ``__die_now__`` kills the process.
A prompt ``__url__ <url>`` answers with that URL instead of image bytes (as a server that
stores its renders elsewhere does), so clients' fetch of image URLs can be tested.

``POST /v1/images/edits`` takes OpenAI's multipart form (``image`` or ``image[]`` and an
optional ``mask`` file, ``prompt``, ``n``, ``size``, ``seed``). Its pixels derive from the
prompt and the input's bytes, and the PNG's ``Comment`` names the sha256 of the image and
mask it received (``edit-of=<hex>; mask=<hex>``), so a client test can see its bytes arrived
intact. Without ``size`` a PNG input keeps its own width and height.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import struct
import sys
import time
import zlib
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # rig/, when run as a script
from llamaswap_rig.upstreams._base import UpstreamHandler, UpstreamServer, serve

NAME = "image test upstream (stable-diffusion.cpp server API; not a diffusion model)"
MIN_SIDE, MAX_SIDE, MAX_N = 8, 2048, 8
GRID = 8  # the picture is a GRID x GRID mosaic of colours drawn from the hash stream
EXTRA_ARGS = re.compile(r"<sd_cpp_extra_args>(.*?)</sd_cpp_extra_args>", re.DOTALL)


class Settings:
    delay = 0.0
    fail_prompt = "__fail_render__"
    model = "sd-test"


class BadRequestError(ValueError):
    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def _colour_stream(seed_material: bytes, count: int) -> list[bytes]:
    out: list[bytes] = []
    block = hashlib.sha256(seed_material).digest()
    while len(out) < count:
        out.extend(block[i : i + 3] for i in range(0, 30, 3))
        block = hashlib.sha256(block).digest()
    return out[:count]


def render_png(
    prompt: str, seed: int, index: int, width: int, height: int, note: str = ""
) -> bytes:
    """Deterministic RGB PNG: same (prompt, seed, index, size, note) gives the same bytes."""
    colours = _colour_stream(f"{prompt}\x00{seed}\x00{index}\x00{note}".encode(), GRID * GRID)
    col_edges = [width * c // GRID for c in range(GRID + 1)]
    row_edges = [height * r // GRID for r in range(GRID + 1)]
    raw = bytearray()
    for gy in range(GRID):
        row = b"\x00" + b"".join(
            colours[gy * GRID + gx] * (col_edges[gx + 1] - col_edges[gx]) for gx in range(GRID)
        )
        raw += row * (row_edges[gy + 1] - row_edges[gy])
    text = f"prompt={prompt}; seed={seed}; index={index}; {note}{NAME}".encode("latin-1", "replace")
    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)),
            _png_chunk(b"tEXt", b"Comment\x00" + text),
            _png_chunk(b"IDAT", zlib.compress(bytes(raw), 6)),
            _png_chunk(b"IEND", b""),
        )
    )


def _parse_size(size: Any) -> tuple[int, int]:
    if size is None:
        return 512, 512
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", size) if isinstance(size, str) else None
    if m is None:
        raise BadRequestError(f"size must look like 'WIDTHxHEIGHT', got {size!r}", "size")
    w, h = int(m.group(1)), int(m.group(2))
    if not (MIN_SIDE <= w <= MAX_SIDE and MIN_SIDE <= h <= MAX_SIDE):
        raise BadRequestError(
            f"size sides must be within {MIN_SIDE}..{MAX_SIDE}, got {w}x{h}", "size"
        )
    return w, h


def _parse_request(body: dict[str, Any]) -> dict[str, Any]:
    prompt = body.get("prompt")
    if not isinstance(prompt, str):
        raise BadRequestError("prompt is required and must be a string", "prompt")
    extra: dict[str, Any] = {}
    m = EXTRA_ARGS.search(prompt)
    if m:  # sd.cpp's server reads extra generation args embedded in the prompt
        try:
            parsed = json.loads(m.group(1))
        except json.JSONDecodeError as exc:
            raise BadRequestError(f"bad sd_cpp_extra_args JSON: {exc}", "prompt") from exc
        if isinstance(parsed, dict):
            extra = parsed
        prompt = EXTRA_ARGS.sub("", prompt)
    prompt = prompt.strip()
    if not prompt:
        raise BadRequestError("prompt must not be empty", "prompt")
    n = body.get("n", 1)
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_N:
        raise BadRequestError(f"n must be an integer within 1..{MAX_N}, got {n!r}", "n")
    seed = body.get("seed", extra.get("seed", 42))
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise BadRequestError("seed must be an integer", "seed")
    if seed < 0:  # sd.cpp draws a random seed for -1; a test upstream stays deterministic
        seed = 42
    fmt = body.get("response_format", "b64_json")
    if fmt not in (None, "b64_json"):
        raise BadRequestError("only response_format 'b64_json' is supported", "response_format")
    out_fmt = body.get("output_format", "png")
    if out_fmt not in (None, "png"):
        raise BadRequestError("this test upstream only writes png", "output_format")
    width, height = _parse_size(body.get("size"))
    if "width" in extra or "height" in extra:
        width, height = _parse_size(f"{extra.get('width', width)}x{extra.get('height', height)}")
    return {
        "prompt": prompt,
        "n": n,
        "seed": seed,
        "width": width,
        "height": height,
        "negative_prompt": str(body.get("negative_prompt") or extra.get("negative_prompt") or ""),
    }


def _error(
    message: str, etype: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": etype, "param": param, "code": code}}


class Handler(UpstreamHandler):
    tag = "image"
    server_version = "llamaswap-rig-image/1"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/health":
            self._send_json(200, {"status": "ok", "upstream": NAME})
        elif path in ("/v1/models", "/models"):
            self._send_json(
                200,
                {
                    "object": "list",
                    "data": [
                        {"id": Settings.model, "object": "model", "owned_by": "llamaswap-rig"}
                    ],
                },
            )
        elif path == "/sdapi/v1/loras":
            self._send_json(200, {"loras": []})
        else:
            self._send_json(404, _error(f"no route {path}", "invalid_request_error"))

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/v1/images/edits":
            self._edit()
            return
        if path not in ("/v1/images/generations", "/sdapi/v1/txt2img"):
            self._discard_body()
            self._send_json(404, _error(f"no route {path}", "invalid_request_error"))
            return
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
            if not isinstance(body, dict):
                raise BadRequestError("body must be a JSON object")
            if path == "/sdapi/v1/txt2img":
                body = {
                    "prompt": body.get("prompt"),
                    "n": body.get("batch_size", 1),
                    "seed": body.get("seed", 42),
                    "size": f"{body.get('width', 512)}x{body.get('height', 512)}",
                    "negative_prompt": body.get("negative_prompt"),
                }
            req = _parse_request(body)
        except json.JSONDecodeError as exc:
            self._send_json(400, _error(f"invalid JSON body: {exc}", "invalid_request_error"))
            return
        except BadRequestError as exc:
            self._send_json(
                400, _error(str(exc), "invalid_request_error", exc.param, "bad_request")
            )
            return
        if "__die_now__" in req["prompt"]:
            sys.stderr.write("[image] __die_now__: exiting before answering\n")
            sys.stderr.flush()
            os._exit(3)
        if Settings.delay > 0:
            time.sleep(Settings.delay)
        if Settings.fail_prompt and Settings.fail_prompt in req["prompt"]:
            self._send_json(
                500,
                _error(
                    f"render failed: prompt contains {Settings.fail_prompt!r} ({NAME})",
                    "server_error",
                    None,
                    "render_failed",
                ),
            )
            return
        url = re.search(r"__url__ (\S+)", req["prompt"])
        if url:
            self._send_json(200, {"created": int(time.time()), "data": [{"url": url.group(1)}]})
            return
        images = [
            base64.b64encode(
                render_png(req["prompt"], req["seed"], i, req["width"], req["height"])
            ).decode()
            for i in range(req["n"])
        ]
        if path == "/sdapi/v1/txt2img":
            self._send_json(
                200,
                {
                    "images": images,
                    "parameters": body,
                    "info": json.dumps({"seed": req["seed"], "upstream": NAME}),
                },
            )
            return
        self._send_json(
            200,
            {
                "created": int(time.time()),
                "data": [{"b64_json": img} for img in images],
                "output_format": "png",
                "x_test_upstream": NAME,
            },
        )

    def _edit(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            fields, files = parse_form(self.headers.get("Content-Type", ""), raw)
            image = files.get("image") or files.get("image[]")
            if not image:
                raise BadRequestError("the form has no 'image' file to edit", "image")
            body: dict[str, Any] = {"prompt": fields.get("prompt")}
            for key in ("n", "seed"):
                if key in fields:
                    try:
                        body[key] = int(fields[key])
                    except ValueError:
                        raise BadRequestError(f"{key} must be an integer", key) from None
            body["size"] = fields.get("size") or _png_size(image)
            body["response_format"] = fields.get("response_format", "b64_json")
            req = _parse_request(body)
        except BadRequestError as exc:
            self._send_json(
                400, _error(str(exc), "invalid_request_error", exc.param, "bad_request")
            )
            return
        note = f"edit-of={hashlib.sha256(image).hexdigest()}; "
        if files.get("mask"):
            note += f"mask={hashlib.sha256(files['mask']).hexdigest()}; "
        images = [
            base64.b64encode(
                render_png(req["prompt"], req["seed"], i, req["width"], req["height"], note)
            ).decode()
            for i in range(req["n"])
        ]
        self._send_json(
            200,
            {
                "created": int(time.time()),
                "data": [{"b64_json": img} for img in images],
                "output_format": "png",
                "x_test_upstream": NAME,
            },
        )


def parse_form(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, bytes]]:
    """Text fields and file parts of a ``multipart/form-data`` body."""
    if "multipart/form-data" not in content_type:
        raise BadRequestError("send the edit as multipart/form-data")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    msg = BytesParser(policy=HTTP).parsebytes(head + body)
    fields: dict[str, str] = {}
    files: dict[str, bytes] = {}
    for part in msg.iter_parts() if msg.is_multipart() else ():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if not isinstance(name, str) or not isinstance(payload, bytes):
            continue
        if part.get_filename() is not None:
            files[name] = payload
        else:
            fields[name] = payload.decode("utf-8", "replace")
    return fields, files


def _png_size(data: bytes) -> str | None:
    """``WxH`` of a PNG from its IHDR chunk; ``None`` for anything else."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return f"{width}x{height}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=NAME)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds per render request")
    parser.add_argument(
        "--fail-prompt",
        default="__fail_render__",
        help="prompt substring that makes the render fail with a 500",
    )
    parser.add_argument("--model", default="sd-test")
    args = parser.parse_args(argv)
    Settings.delay, Settings.fail_prompt, Settings.model = args.delay, args.fail_prompt, args.model

    return serve(UpstreamServer((args.host, args.port), Handler), tag="image", name=NAME)


if __name__ == "__main__":
    raise SystemExit(main())
