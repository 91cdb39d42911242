"""``LlamaSwapImageTool`` and ``LlamaSwapImageEditTool``: images through llama-swap as tools.

The model calling the tool gets a short text; the images themselves (bytes, MIME type,
file paths) travel as the tool message's ``artifact``, so no base64 bloats the chat
unless the caller asks for image content blocks (for a multimodal agent model).

Editing is its own tool (``edit_image``) rather than an optional input on
``generate_image``: an agent picks a tool by its name and description, and "edit this
file" and "draw this" are different requests with different required arguments (an edit
needs an image path). Two small schemas are easier for a model to fill correctly than one
schema whose meaning changes with an optional field.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal, TypedDict

from langchain_core.callbacks import (
    AsyncCallbackManagerForToolRun,
    CallbackManagerForToolRun,
)
from langchain_core.messages import HumanMessage
from langchain_core.messages.content import ImageContentBlock, create_image_block
from langchain_core.tools import BaseTool, ToolException
from langchain_core.utils import secret_from_env
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)
from typing_extensions import Self

from langchain_llamaswap._common import LlamaSwapConnection
from llamaswap import (
    ENV_API_KEY,
    GeneratedImage,
    ImageResult,
    LlamaSwapError,
)
from llamaswap.errors import APIError
from llamaswap.images import image_from_bytes, normalize_size

MAX_IMAGES_PER_CALL = 4


class ImageGenerationInput(BaseModel):
    """Arguments of the image tool: what the image server takes."""

    prompt: str = Field(description="What the image should show, in plain words.")
    size: str | None = Field(
        default=None,
        description="Image size as WIDTHxHEIGHT in pixels, e.g. '512x512'. "
        "Leave out for the server's default.",
    )
    n: int = Field(
        default=1,
        ge=1,
        le=MAX_IMAGES_PER_CALL,
        description=f"How many images to generate (1-{MAX_IMAGES_PER_CALL}).",
    )
    negative_prompt: str | None = Field(default=None, description="What the image should not show.")
    seed: int | None = Field(
        default=None, description="A seed, to get the same image again for the same prompt."
    )

    @field_validator("prompt")
    @classmethod
    def _prompt_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("prompt must describe the image; it is empty")
        return value

    @field_validator("size")
    @classmethod
    def _size_shape(cls, value: str | None) -> str | None:
        return None if value is None else normalize_size(value)


class ImageEditInput(BaseModel):
    """Arguments of the edit tool: the image file to change and how."""

    image: str = Field(
        description="Path of the image file to edit, as an earlier generate_image or "
        "edit_image result named it."
    )
    prompt: str = Field(description="What to change in the image, in plain words.")
    mask: str | None = Field(
        default=None,
        description="Path of a mask image marking where to edit. Leave out to let the "
        "image model decide.",
    )
    size: str | None = Field(
        default=None,
        description="Size of the result as WIDTHxHEIGHT in pixels, e.g. '512x512'. "
        "Leave out to keep the server's default.",
    )
    n: int = Field(
        default=1,
        ge=1,
        le=MAX_IMAGES_PER_CALL,
        description=f"How many edited versions to make (1-{MAX_IMAGES_PER_CALL}).",
    )
    seed: int | None = Field(
        default=None, description="A seed, to get the same result again for the same edit."
    )

    @field_validator("prompt", "image")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("size")
    @classmethod
    def _size_shape(cls, value: str | None) -> str | None:
        return None if value is None else normalize_size(value)


class GeneratedImageInfo(TypedDict):
    """One image in the tool's artifact."""

    data: bytes
    mime_type: str
    path: str | None
    revised_prompt: str | None


class ImageArtifact(TypedDict):
    """The tool's artifact: the images and what was asked for."""

    model: str
    prompt: str
    size: str | None
    seed: int | None
    images: list[GeneratedImageInfo]


def _explain_validation_error(error: ValidationError) -> str:
    """Turn a pydantic error into text the calling model can act on."""
    return _invalid_arguments(error, "generate_image")


def _explain_edit_validation_error(error: ValidationError) -> str:
    """:func:`_explain_validation_error` for the edit tool."""
    return _invalid_arguments(error, "edit_image")


def _invalid_arguments(error: ValidationError, tool: str) -> str:
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item.get("loc", ())) or "arguments"
        message = str(item.get("msg", "invalid value"))
        message = message.removeprefix("Value error, ")
        problems.append(f"{where}: {message}")
    return (
        f"{tool} was called with invalid arguments: "
        + "; ".join(problems)
        + ". Fix the arguments and call the tool again."
    )


class LlamaSwapImageTool(LlamaSwapConnection, BaseTool):
    """Generate images with an image model behind llama-swap (``/v1/images/generations``).

    The tool returns ``(content, artifact)`` (``response_format="content_and_artifact"``):
    ``content`` is a short description for the model; ``artifact`` is an
    :class:`ImageArtifact` dict with each image's ``data`` (bytes), ``mime_type`` and
    ``path`` (set when ``output_dir`` is). Set ``image_blocks=True`` to also put the
    images into the content as LangChain image blocks, for a multimodal agent model.

    Invalid arguments (an empty prompt, a size that is malformed or not in ``sizes``)
    come back to the model as an error text it can correct; a render the server refuses
    or fails raises :class:`~langchain_core.tools.ToolException` carrying the server's
    reason (set ``handle_tool_error=True`` to hand that to the model instead).

    Setup:
        ```bash
        pip install "llamaswap[langchain]"
        export LLAMASWAP_DSN="llama-swap://127.0.0.1:8080"
        ```

    Instantiate:
        ```python
        from langchain_llamaswap import LlamaSwapImageTool

        tool = LlamaSwapImageTool(model="sd", output_dir="renders", sizes=["512x512"])
        ```

    Invoke directly with args:
        ```python
        tool.invoke({"prompt": "a lighthouse at dusk", "size": "512x512"})
        ```

    Invoke with a tool call (as an agent does):
        ```python
        msg = tool.invoke(
            {
                "type": "tool_call",
                "id": "call-1",
                "name": "generate_image",
                "args": {"prompt": "a lighthouse at dusk"},
            }
        )
        msg.content  # "Generated 1 image ... saved to renders/..."
        msg.artifact["images"][0]["data"]  # PNG bytes
        ```

    Async:
        ```python
        await tool.ainvoke({"prompt": "a lighthouse at dusk"})
        ```

    Show the image to a vision model:
        ```python
        from langchain_llamaswap import image_message

        image = tool.provider.generate_image("a red square", model="sd")[0]
        vision_model.invoke([image_message(image, "What colour is this?")])
        ```
    """

    name: str = "generate_image"
    description: str = (
        "Generate an image from a text description. Returns a short confirmation; "
        "the image itself is delivered to the user."
    )
    args_schema: Any = ImageGenerationInput
    response_format: Literal["content", "content_and_artifact"] = "content_and_artifact"
    handle_validation_error: Any = _explain_validation_error

    model: str
    """The llama-swap id of the image model."""

    api_key: SecretStr | str | None = Field(
        default_factory=secret_from_env(ENV_API_KEY, default=None)
    )
    """The llama-swap key; outranks a key in the DSN, which outranks ``$LLAMASWAP_API_KEY``."""

    base_url: str | None = None
    """A plain llama-swap address (no key), instead of ``dsn`` (not both)."""

    output_dir: Path | str | None = None
    """Save every image here (created if missing) and report the paths."""

    image_blocks: bool = False
    """Also return the images as image content blocks (base64) in the message content."""

    sizes: Sequence[str] | None = None
    """The sizes the model may ask for; advertised in the tool schema and enforced."""

    default_size: str | None = None
    """The size used when the call gives none (else the image server's default)."""

    extra: dict[str, Any] = Field(default_factory=dict)
    """More body fields for the image server (e.g. ``{"steps": 20}``)."""

    timeout: float | None = None
    """Seconds to wait for a render; ``None``: as long as it takes (renders can be slow)."""

    model_config = ConfigDict(arbitrary_types_allowed=True, protected_namespaces=())

    _verb: ClassVar[str] = "Generated"
    _task: ClassVar[str] = "image generation"

    @model_validator(mode="after")
    def _check_and_schema(self) -> Self:
        _ = self.provider  # a malformed DSN fails here, as for the other classes
        if isinstance(self.output_dir, str):
            self.output_dir = Path(self.output_dir)
        if self.default_size is not None:
            self.default_size = normalize_size(self.default_size)
        if self.sizes:
            allowed = tuple(normalize_size(s) for s in self.sizes)
            self.sizes = allowed
            if self.default_size is not None and self.default_size not in allowed:
                raise ValueError(f"default_size {self.default_size!r} is not one of {allowed}")
            if self.args_schema in (ImageGenerationInput, ImageEditInput):
                self.args_schema = _schema_with_sizes(allowed, self.args_schema)
        return self

    def _request(
        self, size: str | None, negative_prompt: str | None, seed: int | None
    ) -> dict[str, Any]:
        request: dict[str, Any] = {
            "size": size or self.default_size,
            "negative_prompt": negative_prompt,
            "seed": seed,
            "extra": dict(self.extra) or None,
        }
        # None keeps the provider's timeout: connecting stays bounded, rendering is not.
        if self.timeout is not None:
            request["timeout"] = self.timeout
        return request

    def _run(
        self,
        prompt: str,
        size: str | None = None,
        n: int = 1,
        negative_prompt: str | None = None,
        seed: int | None = None,
        run_manager: CallbackManagerForToolRun | None = None,
    ) -> tuple[str | list[str | dict[str, Any]], ImageArtifact]:
        request = self._request(size, negative_prompt, seed)
        try:
            result = self.provider.generate_image(prompt, model=self.model, n=n, **request)
        except (LlamaSwapError, ValueError) as exc:
            raise _tool_error(exc, self.model, self._task) from exc
        return self._answer(result, prompt, request["size"], seed)

    async def _arun(
        self,
        prompt: str,
        size: str | None = None,
        n: int = 1,
        negative_prompt: str | None = None,
        seed: int | None = None,
        run_manager: AsyncCallbackManagerForToolRun | None = None,
    ) -> tuple[str | list[str | dict[str, Any]], ImageArtifact]:
        request = self._request(size, negative_prompt, seed)
        try:
            result = await self.provider.agenerate_image(prompt, model=self.model, n=n, **request)
        except (LlamaSwapError, ValueError) as exc:
            raise _tool_error(exc, self.model, self._task) from exc
        return self._answer(result, prompt, request["size"], seed)

    def _answer(
        self, result: ImageResult, prompt: str, size: str | None, seed: int | None
    ) -> tuple[str | list[str | dict[str, Any]], ImageArtifact]:
        paths: list[Path | None] = [None] * len(result)
        if self.output_dir is not None:
            stem = f"{_slug(prompt)}-{uuid.uuid4().hex[:8]}"
            paths = list(result.save(self.output_dir, stem=stem))
        images: list[GeneratedImageInfo] = [
            {
                "data": image.data,
                "mime_type": image.mime_type,
                "path": str(path) if path is not None else None,
                "revised_prompt": image.revised_prompt,
            }
            for image, path in zip(result, paths, strict=True)
        ]
        artifact: ImageArtifact = {
            "model": self.model,
            "prompt": prompt,
            "size": size,
            "seed": seed,
            "images": images,
        }
        count = f"{len(images)} image" + ("s" if len(images) != 1 else "")
        kinds = ", ".join(sorted({image["mime_type"] for image in images}))
        text = (
            f"{self._verb} {count} ({kinds}{', ' + size if size else ''}) with model {self.model!r}"
        )
        saved = [image["path"] for image in images if image["path"]]
        text += f"; saved to {', '.join(saved)}." if saved else "; delivered as an attachment."
        if not self.image_blocks:
            return text, artifact
        content: list[str | dict[str, Any]] = [{"type": "text", "text": text}]
        content.extend(dict(image_content_block(image)) for image in result)
        return content, artifact


class LlamaSwapImageEditTool(LlamaSwapImageTool):
    """Edit image files with an image model behind llama-swap (``/v1/images/edits``).

    The model names the image (and optionally a mask) by path, as an earlier
    ``generate_image`` or ``edit_image`` result reported it; the result comes back as
    :class:`LlamaSwapImageTool`'s does (short text, :class:`ImageArtifact` with the bytes).
    The tool reads only files inside ``input_dirs`` (default: ``output_dir``), so a model
    cannot make it send any other file on the machine; set ``output_dir`` to the image
    tool's so edits can follow renders. A path outside, or no such file, raises
    :class:`~langchain_core.tools.ToolException` saying which folders are allowed.

    Instantiate:
        ```python
        from langchain_llamaswap import LlamaSwapImageEditTool, LlamaSwapImageTool

        draw = LlamaSwapImageTool(model="sd", output_dir="renders")
        edit = LlamaSwapImageEditTool(model="sd", output_dir="renders")
        ```

    Invoke:
        ```python
        edit.invoke({"image": "renders/fox.png", "prompt": "make the fox blue"})
        ```
    """

    name: str = "edit_image"
    description: str = (
        "Edit an existing image file as a text instruction says (change colours, add or "
        "remove things). Give the path of the image from an earlier generate_image or "
        "edit_image result. Returns a short confirmation; the edited image is delivered "
        "to the user."
    )
    args_schema: Any = ImageEditInput
    handle_validation_error: Any = _explain_edit_validation_error

    input_dirs: Sequence[Path | str] | None = None
    """Folders the tool may read images from; default ``[output_dir]``."""

    _verb: ClassVar[str] = "Edited"
    _task: ClassVar[str] = "image edit"

    @model_validator(mode="after")
    def _check_input_dirs(self) -> Self:
        dirs = self.input_dirs if self.input_dirs is not None else [self.output_dir or ""]
        self.input_dirs = [Path(d) for d in dirs if str(d)]
        if not self.input_dirs:
            raise ValueError(
                "LlamaSwapImageEditTool reads the images to edit from files: set output_dir "
                "(where the image tool saves renders) or input_dirs (folders it may read)"
            )
        return self

    def _source(self, given: str, what: str) -> bytes:
        """The bytes of an allowed image file; a ToolException says what went wrong."""
        allowed = [Path(d).resolve() for d in self.input_dirs or ()]
        path = Path(given).expanduser()
        candidates = [path] if path.is_absolute() else [path, *(d / path for d in allowed)]
        for candidate in candidates:
            resolved = candidate.resolve()
            if any(resolved.is_relative_to(d) for d in allowed) and resolved.is_file():
                return resolved.read_bytes()
        folders = ", ".join(str(d) for d in allowed)
        raise ToolException(
            f"{what} {given!r} is not an image file in the folders this tool may read "
            f"({folders}); pass the path an earlier generate_image or edit_image result gave"
        )

    def _run(  # type: ignore[override]
        self,
        image: str,
        prompt: str,
        mask: str | None = None,
        size: str | None = None,
        n: int = 1,
        seed: int | None = None,
        run_manager: CallbackManagerForToolRun | None = None,
    ) -> tuple[str | list[str | dict[str, Any]], ImageArtifact]:
        source = self._source(image, "image")
        mask_bytes = self._source(mask, "mask") if mask is not None else None
        request = self._request(size, None, seed)
        request.pop("negative_prompt")
        try:
            result = self.provider.edit_image(
                source, prompt, model=self.model, mask=mask_bytes, n=n, **request
            )
        except (LlamaSwapError, ValueError) as exc:
            raise _tool_error(exc, self.model, self._task) from exc
        return self._answer(result, prompt, request["size"], seed)

    async def _arun(  # type: ignore[override]
        self,
        image: str,
        prompt: str,
        mask: str | None = None,
        size: str | None = None,
        n: int = 1,
        seed: int | None = None,
        run_manager: AsyncCallbackManagerForToolRun | None = None,
    ) -> tuple[str | list[str | dict[str, Any]], ImageArtifact]:
        source = self._source(image, "image")
        mask_bytes = self._source(mask, "mask") if mask is not None else None
        request = self._request(size, None, seed)
        request.pop("negative_prompt")
        try:
            result = await self.provider.aedit_image(
                source, prompt, model=self.model, mask=mask_bytes, n=n, **request
            )
        except (LlamaSwapError, ValueError) as exc:
            raise _tool_error(exc, self.model, self._task) from exc
        return self._answer(result, prompt, request["size"], seed)


def _schema_with_sizes(
    sizes: tuple[str, ...], base: type[BaseModel] = ImageGenerationInput
) -> type[BaseModel]:
    """The input schema with ``size`` limited to ``sizes`` (shown to the model as an enum)."""
    size_type: Any = Literal[sizes]
    return create_model(
        base.__name__,
        __base__=base,
        size=(
            size_type | None,
            Field(default=None, description=f"Image size, one of: {', '.join(sizes)}."),
        ),
    )


def _tool_error(exc: Exception, model: str, task: str = "image generation") -> ToolException:
    if isinstance(exc, APIError):
        reason = exc.message or f"HTTP {exc.status_code}"
        return ToolException(f"{task} with model {model!r} failed: {reason}")
    return ToolException(f"{task} with model {model!r} failed: {exc}")


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:40] or "image"


# -- content blocks ------------------------------------------------------------------------


def image_content_block(image: GeneratedImage | Mapping[str, Any]) -> ImageContentBlock:
    """A LangChain image content block (base64) for a generated image.

    Accepts a :class:`llamaswap.GeneratedImage` or one entry of the tool's artifact
    ``images`` list; put the block in a ``HumanMessage`` for a vision model.
    """
    if isinstance(image, GeneratedImage):
        return create_image_block(base64=image.to_base64(), mime_type=image.mime_type)
    data = image.get("data")
    if not isinstance(data, bytes | bytearray):
        raise TypeError("expected a GeneratedImage or a mapping with 'data' bytes")
    return image_content_block(image_from_bytes(bytes(data)))


def image_message(
    images: GeneratedImage | Mapping[str, Any] | Iterable[GeneratedImage | Mapping[str, Any]],
    text: str | None = None,
) -> HumanMessage:
    """A ``HumanMessage`` holding ``text`` (optional) and the images as content blocks."""
    items: Sequence[GeneratedImage | Mapping[str, Any]] = (
        [images] if isinstance(images, GeneratedImage | Mapping) else list(images)
    )
    content: list[str | dict[str, Any]] = []
    if text:
        content.append({"type": "text", "text": text})
    content.extend(dict(image_content_block(item)) for item in items)
    return HumanMessage(content=content)


def artifact_images(artifact: Mapping[str, Any]) -> list[GeneratedImage]:
    """The tool artifact's images as :class:`llamaswap.GeneratedImage` objects."""
    return [
        GeneratedImage(
            data=bytes(item["data"]),
            mime_type=str(item["mime_type"]),
            revised_prompt=item.get("revised_prompt"),
        )
        for item in artifact.get("images", [])
    ]
