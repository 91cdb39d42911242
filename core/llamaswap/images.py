"""Image generation and edit requests and results (``/v1/images/*``), bytes out.

llama-swap forwards the request to a stable-diffusion.cpp style server. We always ask for
``b64_json`` so the bytes come back in the answer, but read ``url`` answers too (``data:``
URLs inline; http URLs are fetched by the provider). Results are plain bytes with a sniffed
MIME type, that save to a file, show inline in a notebook and turn into a ``data:`` URL for
a vision model in one call. An edit sends the input image (bytes, a path, or an image
this package returned) as a multipart form and returns the same results.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

from llamaswap._wire import FilePart, Form, encode_form
from llamaswap.errors import ResponseDecodeError

MAX_IMAGES_PER_REQUEST = 16
MAX_SIDE = 8192
_SIZE_RE = re.compile(r"^([1-9][0-9]{0,4})x([1-9][0-9]{0,4})$")


@dataclass(frozen=True)
class GeneratedImage:
    """One generated image: its bytes and what they are.

    Attributes:
        data: the encoded image file (PNG, JPEG, ...).
        mime_type: sniffed from the bytes, e.g. ``image/png``.
        revised_prompt: the prompt the server says it used, if it says.
    """

    data: bytes = field(repr=False)
    mime_type: str
    revised_prompt: str | None = None

    @property
    def extension(self) -> str:
        """A file extension for :attr:`mime_type` (``.png``, ``.jpg``, ...)."""
        return _EXTENSIONS.get(self.mime_type, ".bin")

    def to_data_url(self) -> str:
        """The image as a ``data:`` URL, ready for a chat message to a vision model."""
        return f"data:{self.mime_type};base64,{base64.b64encode(self.data).decode('ascii')}"

    def to_base64(self) -> str:
        """The image bytes as base64 text."""
        return base64.b64encode(self.data).decode("ascii")

    def save(self, path: str | PathLike[str]) -> Path:
        """Write the bytes to ``path`` (a directory gets ``image<ext>``); return the path."""
        target = Path(path)
        if target.is_dir():
            target = target / f"image{self.extension}"
        target.write_bytes(self.data)
        return target

    def _repr_png_(self) -> bytes | None:
        return self.data if self.mime_type == "image/png" else None

    def _repr_jpeg_(self) -> bytes | None:
        return self.data if self.mime_type == "image/jpeg" else None

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle: dict[str, Any] = {"text/plain": repr(self)}
        if self.mime_type in ("image/png", "image/jpeg", "image/gif", "image/webp"):
            bundle[self.mime_type] = self.data
        return bundle

    def __repr__(self) -> str:
        return f"GeneratedImage(mime_type={self.mime_type!r}, bytes={len(self.data)})"


@dataclass(frozen=True)
class ImageResult(Sequence[GeneratedImage]):
    """What one image generation call returned; a sequence of :class:`GeneratedImage`.

    Attributes:
        images: the generated images, in the server's order.
        model: the model id the request named.
        created: the server's ``created`` timestamp, if sent.
    """

    images: tuple[GeneratedImage, ...]
    model: str = ""
    created: int | None = None

    def __len__(self) -> int:
        return len(self.images)

    def __iter__(self) -> Iterator[GeneratedImage]:
        return iter(self.images)

    def __getitem__(self, index: Any) -> Any:
        return self.images[index]

    def save(self, directory: str | PathLike[str], stem: str = "image") -> list[Path]:
        """Write every image into ``directory`` as ``<stem>-<n><ext>``; return the paths."""
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        return [
            image.save(folder / f"{stem}-{i}{image.extension}")
            for i, image in enumerate(self.images)
        ]

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        if len(self.images) == 1:
            return self.images[0]._repr_mimebundle_(include, exclude)
        return {"text/plain": repr(self)}


def build_image_request(
    prompt: str,
    *,
    model: str,
    size: str | None = None,
    n: int = 1,
    negative_prompt: str | None = None,
    seed: int | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Validate the arguments and build the JSON body; errors say what to fix."""
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError("prompt must be a non-empty string describing the image")
    if not isinstance(model, str) or not model.strip():
        raise ValueError(
            "model must name an image model configured in llama-swap (see list_models())"
        )
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_IMAGES_PER_REQUEST:
        raise ValueError(f"n must be an integer from 1 to {MAX_IMAGES_PER_REQUEST}, got {n!r}")
    body: dict[str, Any] = {
        "model": model,
        "prompt": prompt,
        "n": n,
        "response_format": "b64_json",
    }
    if size is not None:
        body["size"] = normalize_size(size)
    if negative_prompt is not None:
        if not isinstance(negative_prompt, str):
            raise ValueError("negative_prompt must be a string")
        body["negative_prompt"] = negative_prompt
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        body["seed"] = seed
    for key, value in (extra or {}).items():
        if key in body:
            raise ValueError(f"extra may not override {key!r}; pass it as its own argument")
        body[key] = value
    return body


def normalize_size(size: str) -> str:
    """Check a ``WIDTHxHEIGHT`` size such as ``512x512`` and return it normalized."""
    if not isinstance(size, str):
        raise ValueError(f"size must be a string like '512x512', got {size!r}")
    match = _SIZE_RE.match(size.strip().lower())
    if not match:
        raise ValueError(f"size must look like '512x512' (WIDTHxHEIGHT in pixels), got {size!r}")
    width, height = int(match.group(1)), int(match.group(2))
    if width > MAX_SIDE or height > MAX_SIDE:
        raise ValueError(f"size {size!r} is too large; each side must be at most {MAX_SIDE}")
    return f"{width}x{height}"


@dataclass(frozen=True)
class PendingImage:
    """An answer item that only carries an http(s) URL; the provider fetches it."""

    url: str
    revised_prompt: str | None = None


def parse_image_response(
    body: Any, *, url: str = ""
) -> tuple[list[GeneratedImage | PendingImage], int | None]:
    """Read an images answer into images (or URLs still to fetch) and ``created``."""
    if not isinstance(body, Mapping) or not isinstance(body.get("data"), list):
        raise ResponseDecodeError(
            "the image server did not return an object with a 'data' list",
            url=url,
            body=repr(body)[:200],
        )
    items: list[GeneratedImage | PendingImage] = []
    for index, item in enumerate(body["data"]):
        if not isinstance(item, Mapping):
            raise ResponseDecodeError(
                f"image {index} in the answer is not an object", url=url, body=repr(item)[:200]
            )
        revised = item.get("revised_prompt")
        revised = revised if isinstance(revised, str) else None
        if isinstance(item.get("b64_json"), str):
            items.append(image_from_bytes(decode_base64(item["b64_json"], index, url), revised))
        elif isinstance(item.get("url"), str) and item["url"].startswith("data:"):
            items.append(image_from_data_url(item["url"], index, url, revised))
        elif isinstance(item.get("url"), str) and item["url"].startswith(("http://", "https://")):
            items.append(PendingImage(url=item["url"], revised_prompt=revised))
        else:
            raise ResponseDecodeError(
                f"image {index} in the answer has neither 'b64_json' nor a 'url'",
                url=url,
                body=repr(sorted(item))[:200],
            )
    if not items:
        raise ResponseDecodeError("the image server returned no images", url=url)
    created = body.get("created")
    return items, created if isinstance(created, int) and not isinstance(created, bool) else None


def decode_base64(text: str, index: int = 0, url: str = "") -> bytes:
    """Strictly decode base64 image data, with an error that says which image was bad."""
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ResponseDecodeError(
            f"image {index} in the answer is not valid base64 ({exc})", url=url, body=text[:80]
        ) from None
    if not data:
        raise ResponseDecodeError(f"image {index} in the answer is empty", url=url)
    return data


def image_from_data_url(
    data_url: str, index: int = 0, url: str = "", revised_prompt: str | None = None
) -> GeneratedImage:
    """Decode a ``data:<mime>;base64,<data>`` URL."""
    header, comma, payload = data_url.partition(",")
    if not comma or not header.endswith(";base64"):
        raise ResponseDecodeError(
            f"image {index} has a data: URL that is not base64-encoded",
            url=url,
            body=data_url[:80],
        )
    return image_from_bytes(decode_base64(payload, index, url), revised_prompt)


def image_from_bytes(data: bytes, revised_prompt: str | None = None) -> GeneratedImage:
    """Wrap image bytes, sniffing the MIME type from their signature."""
    return GeneratedImage(data=data, mime_type=sniff_mime(data), revised_prompt=revised_prompt)


def sniff_mime(data: bytes) -> str:
    """The MIME type from an image's magic bytes (``application/octet-stream`` if unknown)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    return "application/octet-stream"


_EXTENSIONS = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/webp": ".webp",
    "image/gif": ".gif",
}


ImageInput = bytes | str | PathLike[str] | GeneratedImage
"""An image to edit: its bytes, a path to its file, or an image this package returned."""


def read_image_input(image: Any, *, name: str = "image") -> tuple[bytes, str]:
    """The bytes and MIME type of an image given as bytes, a path or a GeneratedImage."""
    if isinstance(image, GeneratedImage):
        data = image.data
    elif isinstance(image, bytes | bytearray | memoryview):
        data = bytes(image)
    elif isinstance(image, str | PathLike):
        path = Path(image)
        if not path.is_file():
            raise ValueError(
                f"{name} {str(path)!r} is not a file; pass the image's path, its bytes, "
                "or a GeneratedImage"
            )
        data = path.read_bytes()
    else:
        raise ValueError(
            f"{name} must be bytes, a path or a GeneratedImage, got {type(image).__name__}"
        )
    if not data:
        raise ValueError(f"{name} is empty: pass the bytes of a PNG, JPEG or WebP file")
    return data, sniff_mime(data)


def build_edit_form(
    image: ImageInput,
    prompt: str,
    *,
    model: str,
    mask: ImageInput | None = None,
    size: str | None = None,
    n: int = 1,
    seed: int | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Form:
    """Validate the arguments and encode the multipart form OpenAI's edits API names.

    Fields are ``image`` and ``mask`` (files) and ``model``, ``prompt``, ``n``, ``size``,
    ``seed`` and ``response_format=b64_json`` (text); ``extra`` adds text fields.
    """
    body = build_image_request(prompt, model=model, size=size, n=n, seed=seed, extra=extra)
    files: list[tuple[str, FilePart]] = []
    for field_name, given in (("image", image), ("mask", mask)):
        if given is None:
            continue
        data, mime = read_image_input(given, name=field_name)
        files.append((field_name, (f"{field_name}{_EXTENSIONS.get(mime, '.bin')}", data, mime)))
    fields = {key: _form_text(value) for key, value in body.items()}
    return encode_form(fields, files)


def _form_text(value: Any) -> str:
    """A form field's text: strings as they are, everything else as JSON (``true``, ``7``)."""
    return value if isinstance(value, str) else json.dumps(value)
