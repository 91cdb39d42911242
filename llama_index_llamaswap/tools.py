"""``LlamaSwapImageToolSpec``: image generation through llama-swap as a LlamaIndex tool.

The tool returns LlamaIndex content blocks: a one-line text summary first (the only part
a text-only agent model sees, since tool messages go out as text) and then one
``ImageBlock`` per image with its bytes and MIME type, which ``ToolOutput.blocks`` and
``raw_output`` keep for the caller. :func:`to_image_block` turns any generated image
into an ``ImageBlock`` for a vision model's ``ChatMessage``.

With ``edits=True`` the spec also offers ``edit_image``. The agent names the picture to
change by the id the earlier ``generate_image`` or ``edit_image`` summary gave
(``image-1``...; the spec remembers its last images) or by a file path inside
``input_dirs``, never any other file. A separate tool rather than an optional input on
``generate_image``: "draw" and "change this picture" are different requests, and a small
model fills two plain schemas more reliably than one whose meaning shifts with a field.

No ``from __future__ import annotations`` here: LlamaIndex builds the tool's argument
schema from the runtime annotations of the tool methods.
"""

from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

from llama_index.core.base.llms.types import ImageBlock, TextBlock
from llama_index.core.bridge.pydantic import BaseModel, Field
from llama_index.core.tools.tool_spec.base import SPEC_FUNCTION_TYPE, BaseToolSpec
from llama_index.core.tools.types import ToolMetadata
from typing_extensions import Unpack

from llama_index_llamaswap._common import ConnectionOptions, HasProvider, connect
from llamaswap import GeneratedImage, ImageResult
from llamaswap.images import normalize_size

DEFAULT_MAX_IMAGES = 4
REMEMBERED_IMAGES = 16  # the edit tool finds the spec's last images by id

TOOL_DESCRIPTION = (
    "Generate images from a text description. Returns the images; "
    "call it once per request and describe the picture in the prompt."
)


class GenerateImageArgs(BaseModel):
    """The arguments a model may pass to ``generate_image`` (its JSON schema)."""

    prompt: str = Field(description="What the image should show, in plain words.")
    size: str | None = Field(
        default=None, description='Image size as WIDTHxHEIGHT in pixels, e.g. "512x512".'
    )
    n: int = Field(default=1, ge=1, description="How many images to generate.")
    negative_prompt: str | None = Field(default=None, description="What the image should not show.")
    seed: int | None = Field(default=None, description="A seed to make the image reproducible.")


EDIT_DESCRIPTION = (
    "Edit an existing image as a text instruction says (change colours, add or remove "
    "things). Name the image by the id an earlier generate_image or edit_image result gave "
    "(e.g. image-1). Returns the edited images."
)


class EditImageArgs(BaseModel):
    """The arguments a model may pass to ``edit_image`` (its JSON schema)."""

    image: str = Field(
        description="The id of the image to edit (e.g. image-1, from an earlier result), "
        "or the path of an image file."
    )
    prompt: str = Field(description="What to change in the image, in plain words.")
    mask: str | None = Field(
        default=None, description="The id or path of a mask image marking where to edit."
    )
    size: str | None = Field(
        default=None, description='Size of the result as WIDTHxHEIGHT in pixels, e.g. "512x512".'
    )
    n: int = Field(default=1, ge=1, description="How many edited versions to make.")
    seed: int | None = Field(default=None, description="A seed to make the edit reproducible.")


def to_image_block(image: GeneratedImage | ImageResult, *, detail: str | None = None) -> ImageBlock:
    """A generated image as a LlamaIndex ``ImageBlock`` (bytes and MIME type).

    Accepts one :class:`~llamaswap.GeneratedImage` or an :class:`~llamaswap.ImageResult`
    holding exactly one image, so ``to_image_block(provider.generate_image(...))`` goes
    straight into ``ChatMessage(role="user", blocks=[block, TextBlock(text=...)])``.
    ``detail`` is passed on for vision models that read it.
    """
    if isinstance(image, ImageResult):
        if len(image) != 1:
            raise ValueError(
                f"this ImageResult holds {len(image)} images; pass one (result[0]) "
                "or use to_image_blocks(result)"
            )
        image = image[0]
    if not isinstance(image, GeneratedImage):
        raise TypeError(f"expected a llamaswap GeneratedImage or ImageResult, got {image!r}")
    return ImageBlock(image=image.data, image_mimetype=image.mime_type, detail=detail)


def to_image_blocks(
    images: ImageResult | Iterable[GeneratedImage], *, detail: str | None = None
) -> list[ImageBlock]:
    """Every image of a result as an ``ImageBlock``, in order."""
    return [to_image_block(image, detail=detail) for image in images]


class LlamaSwapImageToolSpec(HasProvider, BaseToolSpec):
    """A tool spec with one tool, ``generate_image``, backed by a llama-swap image model.

    Args:
        model: the llama-swap image model id (for example an sd.cpp server).
        dsn: ``llama-swap://[key@]host[:port]``; defaults to ``$LLAMASWAP_DSN``.
        api_key: the key of a llama-swap with ``apiKeys``; overrides a key in the DSN.
        base_url: a plain address without a key, instead of ``dsn`` (README: Address and key).
        size: default ``WIDTHxHEIGHT`` when the tool call gives none.
        max_images: the most images one tool call may ask for.
        extra: more request fields for the image server (e.g. ``{"steps": 20}``).
        timeout: seconds per render; ``None`` (default) waits as long as it takes.
        edits: also offer ``edit_image`` (``/v1/images/edits``) in :meth:`to_tool_list`.
        input_dirs: folders ``edit_image`` may read image files from (besides the ids of
            the spec's own images); none by default.
        verify, cert, max_connections, max_keepalive_connections: the pool and TLS
            settings of the shared provider (README: Connections, TLS and your own client).

    Example:
        >>> from llama_index.core.agent.workflow import FunctionAgent
        >>> tools = LlamaSwapImageToolSpec(model="sd").to_tool_list()  # doctest: +SKIP
        >>> agent = FunctionAgent(tools=tools, llm=LlamaSwap(model="qwen"))  # doctest: +SKIP
    """

    spec_functions: list[SPEC_FUNCTION_TYPE] = [("generate_image", "agenerate_image")]  # noqa: RUF012

    def __init__(
        self,
        model: str,
        dsn: str | None = None,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        size: str | None = None,
        max_images: int = DEFAULT_MAX_IMAGES,
        extra: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        edits: bool = False,
        input_dirs: Sequence[str | PathLike[str]] = (),
        **connection: Unpack[ConnectionOptions],
    ) -> None:
        if not isinstance(model, str) or not model.strip():
            raise ValueError("model must name an image model configured in llama-swap, e.g. 'sd'")
        if edits:  # an instance list: only specs that asked for edits offer the tool
            self.spec_functions = [*self.spec_functions, ("edit_image", "aedit_image")]
        self.edits = edits
        self.input_dirs = [Path(d).resolve() for d in input_dirs]
        self._images: OrderedDict[str, GeneratedImage] = OrderedDict()
        self._counter = 0
        if isinstance(max_images, bool) or not isinstance(max_images, int) or max_images < 1:
            raise ValueError(f"max_images must be a positive integer, got {max_images!r}")
        self.model = model
        self.size = normalize_size(size) if size is not None else None
        self.max_images = max_images
        self.extra = dict(extra or {})
        self.timeout = timeout
        options: dict[str, Any] = dict(connection)
        self._provider, _ = connect(dsn, api_key, base_url, options)
        if options:
            raise TypeError(f"unexpected arguments: {', '.join(sorted(options))}")

    def get_metadata_from_fn_name(
        self, fn_name: str, spec_functions: list[SPEC_FUNCTION_TYPE] | None = None
    ) -> ToolMetadata | None:
        """A short description and a described schema; small models read both."""
        if fn_name in ("generate_image", "agenerate_image"):
            return ToolMetadata(
                name="generate_image", description=TOOL_DESCRIPTION, fn_schema=GenerateImageArgs
            )
        if fn_name in ("edit_image", "aedit_image"):
            return ToolMetadata(
                name="edit_image", description=EDIT_DESCRIPTION, fn_schema=EditImageArgs
            )
        return super().get_metadata_from_fn_name(fn_name, spec_functions)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r}, base_url={self._provider.base_url!r})"

    def _arguments(
        self,
        prompt: Any,
        size: Any,
        n: Any,
        negative_prompt: Any,
        seed: Any,
        tool: str = "generate_image",
    ) -> dict[str, Any]:
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError(f"{tool} needs a non-empty text prompt describing the image")
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= self.max_images:
            raise ValueError(f"n must be an integer from 1 to {self.max_images}, got {n!r}")
        if size is not None:
            size = normalize_size(size)
        if negative_prompt is not None and not isinstance(negative_prompt, str):
            raise ValueError(f"negative_prompt must be text, got {negative_prompt!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        arguments: dict[str, Any] = {
            "prompt": prompt,
            "model": self.model,
            "size": size if size is not None else self.size,
            "n": n,
            "negative_prompt": negative_prompt or None,
            "seed": seed,
            "extra": self.extra or None,
        }
        if self.timeout is not None:  # else the provider's client: bounded connect only
            arguments["timeout"] = self.timeout
        return arguments

    def _blocks(
        self, result: ImageResult, prompt: str, verb: str = "Generated"
    ) -> list[TextBlock | ImageBlock]:
        kinds = ", ".join(f"{image.mime_type} {len(image.data)} bytes" for image in result)
        noun = "image" if len(result) == 1 else "images"
        text = f"{verb} {len(result)} {noun} with {self.model!r} for {prompt!r} ({kinds})."
        if self.edits:
            text += f" Ids: {', '.join(self._remember(image) for image in result)}."
        return [TextBlock(text=text), *to_image_blocks(result)]

    def _remember(self, image: GeneratedImage) -> str:
        self._counter += 1
        key = f"image-{self._counter}"
        self._images[key] = image
        while len(self._images) > REMEMBERED_IMAGES:
            self._images.popitem(last=False)
        return key

    def image(self, image_id: str) -> GeneratedImage:
        """The image an earlier result named ``image_id`` (``image-1``...)."""
        try:
            return self._images[image_id]
        except KeyError:
            known = ", ".join(self._images) or "none yet"
            raise KeyError(f"no image {image_id!r} (this spec remembers: {known})") from None

    def _source(self, given: Any, what: str) -> GeneratedImage | bytes:
        """An image by id, or the bytes of a file inside ``input_dirs``."""
        if not isinstance(given, str) or not given.strip():
            raise ValueError(f"{what} must name an image: an id such as image-1, or a path")
        if given.strip() in self._images:
            return self._images[given.strip()]
        path = Path(given).expanduser()
        candidates = [path] if path.is_absolute() else [path, *(d / path for d in self.input_dirs)]
        for candidate in candidates:
            resolved = candidate.resolve()
            if any(resolved.is_relative_to(d) for d in self.input_dirs) and resolved.is_file():
                return resolved.read_bytes()
        known = ", ".join(self._images) or "none yet"
        folders = ", ".join(str(d) for d in self.input_dirs) or "none"
        raise ValueError(
            f"{what} {given!r} is neither an image id (known: {known}) nor an image file in "
            f"the folders this tool may read ({folders})"
        )

    def _edit_arguments(
        self, image: Any, prompt: Any, mask: Any, size: Any, n: Any, seed: Any
    ) -> dict[str, Any]:
        arguments = self._arguments(prompt, size, n, None, seed, tool="edit_image")
        del arguments["negative_prompt"]
        arguments["image"] = self._source(image, "image")
        arguments["mask"] = self._source(mask, "mask") if mask is not None else None
        return arguments

    def generate_image(
        self,
        prompt: str,
        size: str | None = None,
        n: int = 1,
        negative_prompt: str | None = None,
        seed: int | None = None,
    ) -> list[TextBlock | ImageBlock]:
        """Generate images from a text description and return them as image blocks.

        Args:
            prompt: what the image should show, in plain words.
            size: image size as WIDTHxHEIGHT in pixels, e.g. "512x512"; optional.
            n: how many images to generate; 1 unless more are asked for.
            negative_prompt: what the image should not show; optional.
            seed: an integer seed to make the image reproducible; optional.
        """
        arguments = self._arguments(prompt, size, n, negative_prompt, seed)
        return self._blocks(self._provider.generate_image(**arguments), prompt)

    async def agenerate_image(
        self,
        prompt: str,
        size: str | None = None,
        n: int = 1,
        negative_prompt: str | None = None,
        seed: int | None = None,
    ) -> list[TextBlock | ImageBlock]:
        """Async twin of ``generate_image`` (same arguments, same blocks)."""
        arguments = self._arguments(prompt, size, n, negative_prompt, seed)
        return self._blocks(await self._provider.agenerate_image(**arguments), prompt)

    def edit_image(
        self,
        image: str,
        prompt: str,
        mask: str | None = None,
        size: str | None = None,
        n: int = 1,
        seed: int | None = None,
    ) -> list[TextBlock | ImageBlock]:
        """Edit an earlier image as a text instruction says; return the edited images.

        Args:
            image: the id of the image to edit (e.g. image-1) or the path of an image file.
            prompt: what to change in the image, in plain words.
            mask: the id or path of a mask image marking where to edit; optional.
            size: size of the result as WIDTHxHEIGHT in pixels; optional.
            n: how many edited versions to make; 1 unless more are asked for.
            seed: an integer seed to make the edit reproducible; optional.
        """
        arguments = self._edit_arguments(image, prompt, mask, size, n, seed)
        return self._blocks(self._provider.edit_image(**arguments), prompt, "Edited")

    async def aedit_image(
        self,
        image: str,
        prompt: str,
        mask: str | None = None,
        size: str | None = None,
        n: int = 1,
        seed: int | None = None,
    ) -> list[TextBlock | ImageBlock]:
        """Async twin of ``edit_image`` (same arguments, same blocks)."""
        arguments = self._edit_arguments(image, prompt, mask, size, n, seed)
        return self._blocks(await self._provider.aedit_image(**arguments), prompt, "Edited")
