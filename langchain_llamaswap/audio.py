"""Speech and transcription through llama-swap for LangChain: a speech tool, a parser, a loader.

``LlamaSwapSpeechTool`` speaks text with a text-to-speech model and hands the audio back as
the tool message's ``artifact`` (the calling model only reads a short confirmation).
``LlamaSwapAudioParser`` is a ``BaseBlobParser`` that transcribes audio blobs with a
whisper model into ``Document``s (for ``GenericLoader``); ``LlamaSwapAudioLoader`` does
the same for a list of files.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any, Literal, TypedDict

from langchain_core.callbacks import (
    AsyncCallbackManagerForToolRun,
    CallbackManagerForToolRun,
)
from langchain_core.document_loaders import BaseBlobParser, BaseLoader, Blob
from langchain_core.documents import Document
from langchain_core.messages.content import AudioContentBlock, create_audio_block
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

from langchain_llamaswap._common import LlamaSwapConnection, resolve_provider
from llamaswap import (
    ENV_API_KEY,
    LlamaSwapError,
    LlamaSwapProvider,
    SpeechResult,
    Transcription,
)
from llamaswap.audio import check_format
from llamaswap.errors import APIError
from llamaswap.pool import (
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_KEEPALIVE_CONNECTIONS,
    CertArg,
    VerifyArg,
)

# -- the speech tool -------------------------------------------------------------------------


class SpeechInput(BaseModel):
    """Arguments of the speech tool."""

    text: str = Field(description="The exact words to say out loud.")
    voice: str | None = Field(
        default=None, description="The voice to speak with; leave out for the default voice."
    )

    @field_validator("text")
    @classmethod
    def _text_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text must hold the words to speak; it is empty")
        return value


class SpeechArtifact(TypedDict):
    """The speech tool's artifact: the audio and what was spoken."""

    model: str
    text: str
    voice: str | None
    mime_type: str
    data: bytes
    path: str | None
    duration: float | None


def _explain_validation_error(error: ValidationError) -> str:
    """Turn a pydantic error into text the calling model can act on."""
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item.get("loc", ())) or "arguments"
        problems.append(
            f"{where}: {str(item.get('msg', 'invalid value')).removeprefix('Value error, ')}"
        )
    return (
        "speak was called with invalid arguments: "
        + "; ".join(problems)
        + ". Fix the arguments and call the tool again."
    )


class LlamaSwapSpeechTool(LlamaSwapConnection, BaseTool):
    """Speak text with a text-to-speech model behind llama-swap (``/v1/audio/speech``).

    The tool returns ``(content, artifact)`` (``response_format="content_and_artifact"``):
    ``content`` is a one-line confirmation for the model; ``artifact`` is a
    :class:`SpeechArtifact` with the audio ``data`` (bytes), its ``mime_type``, and ``path``
    when ``output_dir`` is set. LangChain keeps audio blocks out of tool message content
    (it would turn them into base64 text), so for a model that listens put the audio into
    a ``HumanMessage`` with :func:`audio_content_block`.

    Invalid arguments (empty text, a voice not in ``voices``) come back to the model as
    text it can correct; a server refusal raises
    :class:`~langchain_core.tools.ToolException` with the server's reason.

    Instantiate:
        ```python
        from langchain_llamaswap import LlamaSwapSpeechTool

        tool = LlamaSwapSpeechTool(model="kokoro", voices=["af_bella", "am_adam"])
        ```

    Invoke with a tool call (as an agent does):
        ```python
        msg = tool.invoke(
            {"type": "tool_call", "id": "1", "name": "speak", "args": {"text": "Hello!"}}
        )
        msg.artifact["data"]  # the audio bytes
        ```
    """

    name: str = "speak"
    description: str = (
        "Say a text out loud: turns the text into speech audio that is played to the user. "
        "Returns a short confirmation."
    )
    args_schema: Any = SpeechInput
    response_format: Literal["content", "content_and_artifact"] = "content_and_artifact"
    handle_validation_error: Any = _explain_validation_error

    model: str
    """The llama-swap id of the text-to-speech model."""

    api_key: SecretStr | str | None = Field(
        default_factory=secret_from_env(ENV_API_KEY, default=None)
    )
    """The llama-swap key; outranks a key in the DSN, which outranks ``$LLAMASWAP_API_KEY``."""

    base_url: str | None = None
    """A plain llama-swap address (no key), instead of ``dsn`` (not both)."""

    voice: str | None = None
    """The voice used when the call names none (else the server's default)."""

    voices: Sequence[str] | None = None
    """The voices the model may pick; advertised in the tool schema and enforced."""

    format: str | None = None
    """``wav``, ``mp3``, ``opus``, ``aac``, ``flac`` or ``pcm``; the server's default if unset."""

    output_dir: Path | str | None = None
    """Save every clip here (created if missing) and report the path."""

    extra: dict[str, Any] = Field(default_factory=dict)
    """More body fields for the speech server (e.g. ``{"speed": 1.2}``)."""

    timeout: float | None = None
    """Seconds to wait; ``None``: as long as it takes (a cold model load can be slow)."""

    model_config = ConfigDict(arbitrary_types_allowed=True, protected_namespaces=())

    @model_validator(mode="after")
    def _check_and_schema(self) -> Self:
        _ = self.provider  # a malformed DSN fails here, as for the other classes
        if isinstance(self.output_dir, str):
            self.output_dir = Path(self.output_dir)
        if self.format is not None:
            self.format = check_format(self.format)
        if self.voices:
            allowed = tuple(self.voices)
            self.voices = allowed
            if self.voice is not None and self.voice not in allowed:
                raise ValueError(f"voice {self.voice!r} is not one of voices {allowed}")
            if self.args_schema is SpeechInput:
                self.args_schema = _schema_with_voices(allowed)
        return self

    def _request(self, voice: str | None) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": self.model,
            "voice": voice or self.voice,
            "format": self.format,
            "extra": dict(self.extra) or None,
        }
        if self.timeout is not None:  # else the provider's: bounded connect, unbounded read
            request["timeout"] = self.timeout
        return request

    def _run(
        self,
        text: str,
        voice: str | None = None,
        run_manager: CallbackManagerForToolRun | None = None,
    ) -> tuple[str, SpeechArtifact]:
        try:
            result = self.provider.speech(text, **self._request(voice))
        except (LlamaSwapError, ValueError) as exc:
            raise _tool_error(exc, self.model) from exc
        return self._answer(result)

    async def _arun(
        self,
        text: str,
        voice: str | None = None,
        run_manager: AsyncCallbackManagerForToolRun | None = None,
    ) -> tuple[str, SpeechArtifact]:
        try:
            result = await self.provider.aspeech(text, **self._request(voice))
        except (LlamaSwapError, ValueError) as exc:
            raise _tool_error(exc, self.model) from exc
        return self._answer(result)

    def _answer(self, result: SpeechResult) -> tuple[str, SpeechArtifact]:
        path: Path | None = None
        if self.output_dir is not None:
            folder = Path(self.output_dir)
            folder.mkdir(parents=True, exist_ok=True)
            path = result.save(folder / f"speech-{uuid.uuid4().hex[:8]}{result.extension}")
        duration = result.duration
        artifact: SpeechArtifact = {
            "model": self.model,
            "text": result.text,
            "voice": result.voice,
            "mime_type": result.mime_type,
            "data": result.data,
            "path": str(path) if path is not None else None,
            "duration": duration,
        }
        length = f", {duration:.1f} s" if duration is not None else ""
        text = (
            f"Spoke {len(result.text)} characters with model {self.model!r} "
            f"({result.mime_type}{length})"
        )
        text += f"; saved to {path}." if path is not None else "; delivered as an attachment."
        return text, artifact


def _schema_with_voices(voices: tuple[str, ...]) -> type[BaseModel]:
    """The input schema with ``voice`` limited to ``voices`` (an enum the model sees)."""
    voice_type: Any = Literal[voices]
    return create_model(
        "SpeechInput",
        __base__=SpeechInput,
        voice=(
            voice_type | None,
            Field(default=None, description=f"The voice, one of: {', '.join(voices)}."),
        ),
    )


def _tool_error(exc: Exception, model: str) -> ToolException:
    reason = (exc.message or f"HTTP {exc.status_code}") if isinstance(exc, APIError) else exc
    return ToolException(f"speech with model {model!r} failed: {reason}")


def audio_content_block(speech: SpeechResult | Mapping[str, Any]) -> AudioContentBlock:
    """A LangChain audio content block (base64), for a ``HumanMessage`` to a listening model.

    Accepts a :class:`llamaswap.SpeechResult` or the speech tool's artifact.
    """
    if not isinstance(speech, SpeechResult):
        data = speech.get("data")
        if not isinstance(data, bytes | bytearray):
            raise TypeError("expected a SpeechResult or a mapping with 'data' bytes")
        speech = SpeechResult(data=bytes(data), mime_type=str(speech.get("mime_type")))
    return create_audio_block(base64=speech.to_base64(), mime_type=speech.mime_type)


# -- transcription into Documents ------------------------------------------------------------


class LlamaSwapAudioParser(BaseBlobParser):
    """Transcribe audio blobs into ``Document``s with a whisper model behind llama-swap.

    ``mode="whole"`` (default) gives one document per file whose metadata holds ``source``,
    ``model``, ``language``, ``duration`` and ``segments`` (a list of ``{"id", "start",
    "end", "text"}`` dicts; empty when the server sends none). ``mode="segments"`` gives
    one document per segment with its ``start`` and ``end`` seconds, for retrieval that
    points into the recording.

    Example:
        ```python
        from langchain_community.document_loaders.generic import GenericLoader

        loader = GenericLoader.from_filesystem(
            "recordings", glob="*.wav", parser=LlamaSwapAudioParser(model="whisper")
        )
        ```
    """

    def __init__(
        self,
        model: str,
        *,
        dsn: str | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        language: str | None = None,
        prompt: str | None = None,
        mode: Literal["whole", "segments"] = "whole",
        timeout: float | None = None,
        verify: VerifyArg = True,
        cert: CertArg | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        max_keepalive_connections: int = DEFAULT_MAX_KEEPALIVE_CONNECTIONS,
    ) -> None:
        if not isinstance(model, str) or not model.strip():
            raise ValueError("model must name a whisper model configured in llama-swap")
        if mode not in ("whole", "segments"):
            raise ValueError(f"mode must be 'whole' or 'segments', got {mode!r}")
        self.model = model
        self.language = language
        self.prompt = prompt
        self.mode = mode
        self.timeout = timeout
        self._provider = resolve_provider(
            dsn,
            base_url,
            api_key,
            verify=verify,
            cert=cert,
            max_connections=max_connections,
            max_keepalive_connections=max_keepalive_connections,
        )

    @property
    def provider(self) -> LlamaSwapProvider:
        """The shared :class:`llamaswap.LlamaSwapProvider` for this address."""
        return self._provider

    def _request(self) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": self.model,
            "language": self.language,
            "prompt": self.prompt,
        }
        if self.timeout is not None:
            request["timeout"] = self.timeout
        return request

    def lazy_parse(self, blob: Blob) -> Iterator[Document]:
        """Transcribe one blob."""
        transcript = self._provider.transcribe(_audio_of(blob), **self._request())
        yield from self._documents(transcript, blob)

    async def aparse(self, blob: Blob) -> list[Document]:
        """Async twin of :meth:`parse`."""
        transcript = await self._provider.atranscribe(_audio_of(blob), **self._request())
        return list(self._documents(transcript, blob))

    def _documents(self, transcript: Transcription, blob: Blob) -> Iterator[Document]:
        base = {
            "source": blob.source,
            "model": transcript.model,
            "language": transcript.language,
            "duration": transcript.duration,
        }
        if self.mode == "whole":
            segments = [
                {"id": s.id, "start": s.start, "end": s.end, "text": s.text}
                for s in transcript.segments
            ]
            yield Document(page_content=transcript.text, metadata={**base, "segments": segments})
            return
        for segment in transcript.segments:
            yield Document(
                page_content=segment.text,
                metadata={
                    **base,
                    "segment": segment.id,
                    "start": segment.start,
                    "end": segment.end,
                },
            )


def _audio_of(blob: Blob) -> bytes | Path:
    """The blob's path when it only points at a file (its name travels), else its bytes."""
    if blob.data is None and blob.path is not None:
        return Path(blob.path)
    return blob.as_bytes()


class LlamaSwapAudioLoader(BaseLoader):
    """Load audio files as transcribed ``Document``s (see :class:`LlamaSwapAudioParser`).

    Example:
        ```python
        loader = LlamaSwapAudioLoader(["standup.wav", "retro.wav"], model="whisper")
        docs = loader.load()  # or: await loader.aload()
        ```
    """

    def __init__(
        self,
        file_path: str | PathLike[str] | Sequence[str | PathLike[str]],
        model: str,
        **parser_options: Any,
    ) -> None:
        paths = [file_path] if isinstance(file_path, str | PathLike) else list(file_path)
        if not paths:
            raise ValueError("file_path must name at least one audio file")
        self.file_paths = [Path(p) for p in paths]
        self.parser = LlamaSwapAudioParser(model, **parser_options)

    @property
    def provider(self) -> LlamaSwapProvider:
        """The shared :class:`llamaswap.LlamaSwapProvider` for this address."""
        return self.parser.provider

    def lazy_load(self) -> Iterator[Document]:
        """Transcribe each file in turn."""
        for path in self.file_paths:
            yield from self.parser.lazy_parse(Blob.from_path(path))

    async def alazy_load(self) -> AsyncIterator[Document]:
        """Async twin of :meth:`lazy_load`."""
        for path in self.file_paths:
            for document in await self.parser.aparse(Blob.from_path(path)):
                yield document
