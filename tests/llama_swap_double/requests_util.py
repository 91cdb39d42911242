"""Model extraction and body filters of the test double (llama-swap §4.7 and §5).

The model is read from the JSON body only when Content-Type says JSON; a JSON
body sent as anything else yields no model (404), exactly like llama-swap.
"""

from __future__ import annotations

import json
import re
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web

from .config import ModelConfig

_LENIENT_MODEL = re.compile(rb'"model"\s*:\s*"((?:[^"\\]|\\.)*)"')
_LENIENT_STREAM = re.compile(rb'"stream"\s*:\s*true')


def _json_body(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


def _gjson_string(value: Any) -> str:
    """Like gjson's ``String()``: numbers and booleans become text, null/missing is ""."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return json.dumps(value)
    return json.dumps(value, separators=(",", ":"))


def multipart_fields(content_type: str, body: bytes) -> dict[str, str]:
    """Plain (non-file) fields of a multipart/form-data body."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    msg = BytesParser(policy=HTTP).parsebytes(head + body)
    out: dict[str, str] = {}
    if not msg.is_multipart():
        return out
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or part.get_filename():
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            out[name] = payload.decode("utf-8", "replace")
    return out


def extract_model(request: web.Request, body: bytes) -> tuple[str, bool]:
    """(model, streaming) from a model-dispatched request; model "" when none."""
    ctype = request.headers.get("Content-Type", "").lower()
    if request.method == "GET":
        return request.query.get("model", ""), request.query.get("stream", "") == "true"
    if "application/json" in ctype:
        doc = _json_body(body)
        if isinstance(doc, dict):
            return _gjson_string(doc.get("model")), doc.get("stream") is True
        match = _LENIENT_MODEL.search(body)
        if match:
            return match.group(1).decode("utf-8", "replace"), bool(_LENIENT_STREAM.search(body))
        return "", False
    if "multipart/form-data" in ctype:
        form = multipart_fields(request.headers.get("Content-Type", ""), body)
        return form.get("model", ""), form.get("stream", "") == "true"
    fields: dict[str, list[str]] = {}
    if "application/x-www-form-urlencoded" in ctype:
        fields = parse_qs(body.decode("utf-8", "replace"))
    model = (fields.get("model") or [request.query.get("model", "")])[0]
    stream = (fields.get("stream") or [request.query.get("stream", "")])[0]
    return model, stream == "true"


def _delete_path(doc: dict[str, Any], path: str) -> bool:
    parts = path.split(".")
    node: Any = doc
    for part in parts[:-1]:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    if isinstance(node, dict) and parts[-1] in node:
        del node[parts[-1]]
        return True
    return False


def rewrite_json_model(body: bytes, model: str) -> bytes:
    """Set the body's ``model`` (peer/profile rewrites); body unchanged if not a JSON object."""
    doc = _json_body(body)
    if not isinstance(doc, dict) or doc.get("model") == model:
        return body
    doc["model"] = model
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def rewrite_multipart_model(content_type: str, body: bytes, model: str) -> bytes:
    """Replace the ``model`` form field's value in a multipart body, bytes otherwise untouched."""
    pattern = re.compile(
        rb'(Content-Disposition:\s*form-data;\s*name="model"\r\n(?:[^\r\n]+\r\n)*\r\n)(.*?)(\r\n--)',
        re.IGNORECASE | re.DOTALL,
    )
    return pattern.sub(lambda m: m.group(1) + model.encode() + m.group(3), body, count=1)


def apply_filters(request: web.Request, body: bytes, requested: str, mc: ModelConfig) -> bytes:
    """useModelName, stripParams, setParams, setParamsByID for a local model's request."""
    ctype = request.headers.get("Content-Type", "").lower()
    if "multipart/form-data" in ctype:
        if mc.use_model_name:
            return rewrite_multipart_model(request.headers["Content-Type"], body, mc.use_model_name)
        return body
    if "application/json" not in ctype or request.method != "POST":
        return body
    by_id = mc.set_params_by_id.get(requested, {})
    if not (mc.use_model_name or mc.strip_params or mc.set_params or by_id):
        return body
    doc = _json_body(body)
    if not isinstance(doc, dict):
        return body
    changed = False
    if mc.use_model_name and doc.get("model") != mc.use_model_name:
        doc["model"] = mc.use_model_name
        changed = True
    for param in mc.strip_params:
        changed = _delete_path(doc, param) or changed
    for params in (mc.set_params, by_id):
        for key, value in params.items():
            if key == "model":
                continue
            doc[key] = value
            changed = True
    if not changed:
        return body
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
