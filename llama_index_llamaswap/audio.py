"""Speech and transcription through llama-swap for LlamaIndex: a tool spec and a reader.

``LlamaSwapSpeechToolSpec`` gives an agent ``speak`` (text to an ``AudioBlock``) and, when
a whisper model and an audio folder are named, ``transcribe_audio`` for files in that
folder. ``LlamaSwapAudioReader`` is a ``BaseReader`` that transcribes audio files into
``Document``s, alone or as a ``SimpleDirectoryReader`` file extractor.

No ``from __future__ import annotations`` here: LlamaIndex builds the tools' argument
schemas from the runtime annotations of the tool methods.
"""

import base64
from collections.abc import Iterable, Sequence
from os import PathLike
from pathlib import Path
from typing import Any, Literal

from llama_index.core.base.llms.types import AudioBlock, TextBlock
from llama_index.core.readers.base import BaseReader
from llama_index.core.schema import Document
from llama_index.core.tools.tool_spec.base import SPEC_FUNCTION_TYPE, BaseToolSpec
from typing_extensions import Unpack

from llama_index_llamaswap._common import ConnectionOptions, HasProvider, connect
from llamaswap import SpeechResult, Transcription
from llamaswap.audio import check_format

# Metadata that stays out of the text embedded and shown to the LLM: long or numeric.
_HIDDEN_METADATA = ["segments", "duration", "start", "end", "segment", "model"]


def to_audio_block(speech: SpeechResult) -> AudioBlock:
    """Spoken audio as a LlamaIndex ``AudioBlock`` (base64 inside, bytes from ``resolve_audio``)."""
    return AudioBlock(audio=base64.b64encode(speech.data), format=speech.extension.lstrip("."))


class LlamaSwapSpeechToolSpec(HasProvider, BaseToolSpec):
    """Tools that speak (``speak``) and, optionally, listen (``transcribe_audio``).

    Args:
        model: the llama-swap text-to-speech model id.
        dsn: ``llama-swap://[key@]host[:port]``; defaults to ``$LLAMASWAP_DSN``.
        api_key: the key of a llama-swap with ``apiKeys``; overrides a key in the DSN.
        base_url: a plain address without a key, instead of ``dsn``.
        voice: the voice when the call names none (else the server's default).
        format: ``wav``, ``mp3``, ... (else the server's default).
        transcription_model: a whisper model id; with ``audio_dir`` adds ``transcribe_audio``.
        audio_dir: the only folder ``transcribe_audio`` reads files from.
        timeout: seconds per call; ``None`` (default) waits as long as it takes.

    Example:
        >>> spec = LlamaSwapSpeechToolSpec(model="kokoro")  # doctest: +SKIP
        >>> agent = FunctionAgent(tools=spec.to_tool_list(), llm=llm)  # doctest: +SKIP
    """

    spec_functions: list[SPEC_FUNCTION_TYPE] = [("speak", "aspeak")]  # noqa: RUF012

    def __init__(
        self,
        model: str,
        dsn: str | None = None,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        voice: str | None = None,
        format: str | None = None,
        transcription_model: str | None = None,
        audio_dir: str | PathLike[str] | None = None,
        timeout: float | None = None,
        **connection: Unpack[ConnectionOptions],
    ) -> None:
        if not isinstance(model, str) or not model.strip():
            raise ValueError("model must name a text-to-speech model configured in llama-swap")
        if (transcription_model is None) != (audio_dir is None):
            raise ValueError(
                "transcribe_audio needs both transcription_model (a whisper model id) and "
                "audio_dir (the folder it may read); pass both or neither"
            )
        self.model = model
        self.voice = voice
        self.format = check_format(format) if format is not None else None
        self.transcription_model = transcription_model
        self.audio_dir = Path(audio_dir).resolve() if audio_dir is not None else None
        self.timeout = timeout
        if self.audio_dir is not None:
            if not self.audio_dir.is_dir():
                raise ValueError(f"audio_dir {str(self.audio_dir)!r} is not a folder")
            self.spec_functions = [*self.spec_functions, ("transcribe_audio", "atranscribe_audio")]
        options: dict[str, Any] = dict(connection)
        self._provider, _ = connect(dsn, api_key, base_url, options)
        if options:
            raise TypeError(f"unexpected arguments: {', '.join(sorted(options))}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r}, base_url={self._provider.base_url!r})"

    def _speech_args(self, text: Any, voice: Any) -> dict[str, Any]:
        if not isinstance(text, str) or not text.strip():
            raise ValueError("speak needs the words to say as non-empty text")
        arguments: dict[str, Any] = {
            "model": self.model,
            "voice": voice or self.voice,
            "format": self.format,
        }
        if self.timeout is not None:
            arguments["timeout"] = self.timeout
        return arguments

    def _spoken(self, result: SpeechResult) -> list[TextBlock | AudioBlock]:
        length = f", {result.duration:.1f} s" if result.duration is not None else ""
        summary = TextBlock(
            text=f"Spoke {len(result.text)} characters with {self.model!r} "
            f"({result.mime_type}{length})."
        )
        return [summary, to_audio_block(result)]

    def speak(self, text: str, voice: str | None = None) -> list[TextBlock | AudioBlock]:
        """Say a text out loud; the audio is played to the user.

        Args:
            text: the exact words to say.
            voice: the voice to speak with; leave out for the default voice.
        """
        arguments = self._speech_args(text, voice)
        return self._spoken(self._provider.speech(text, **arguments))

    async def aspeak(self, text: str, voice: str | None = None) -> list[TextBlock | AudioBlock]:
        """Async twin of ``speak``."""
        arguments = self._speech_args(text, voice)
        return self._spoken(await self._provider.aspeech(text, **arguments))

    def _audio_path(self, file_name: Any) -> Path:
        if self.audio_dir is None or self.transcription_model is None:
            raise ValueError("transcribe_audio needs transcription_model and audio_dir")
        if not isinstance(file_name, str) or not file_name.strip():
            raise ValueError("transcribe_audio needs the name of an audio file")
        path = (self.audio_dir / file_name).resolve()
        if not path.is_relative_to(self.audio_dir) or not path.is_file():
            found = sorted(p.name for p in self.audio_dir.iterdir() if p.is_file())
            raise ValueError(
                f"no audio file {file_name!r} in the audio folder; it holds: "
                f"{', '.join(found) or 'nothing'}"
            )
        return path

    def _transcript_args(self) -> dict[str, Any]:
        arguments: dict[str, Any] = {"model": self.transcription_model}
        if self.timeout is not None:
            arguments["timeout"] = self.timeout
        return arguments

    def transcribe_audio(self, file_name: str) -> str:
        """Write down what is said in an audio file from the audio folder.

        Args:
            file_name: the audio file's name, e.g. "meeting.wav".
        """
        path = self._audio_path(file_name)
        return self._provider.transcribe(path, **self._transcript_args()).text

    async def atranscribe_audio(self, file_name: str) -> str:
        """Async twin of ``transcribe_audio``."""
        path = self._audio_path(file_name)
        return (await self._provider.atranscribe(path, **self._transcript_args())).text


class LlamaSwapAudioReader(HasProvider, BaseReader):
    """Transcribe audio files into ``Document``s with a whisper model behind llama-swap.

    ``mode="whole"`` (default) gives one document per file with ``file_path``, ``file_name``,
    ``language``, ``duration`` and ``segments`` (``{"id", "start", "end", "text"}`` dicts) in
    its metadata; ``mode="segments"`` one document per segment with ``start`` and ``end``.
    Segment times, the model and the duration stay out of the text that is embedded or
    shown to the LLM.

    Example:
        >>> reader = LlamaSwapAudioReader(model="whisper")  # doctest: +SKIP
        >>> docs = SimpleDirectoryReader(
        ...     "recordings", file_extractor={".wav": reader}
        ... ).load_data()  # doctest: +SKIP
    """

    def __init__(
        self,
        model: str,
        dsn: str | None = None,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        language: str | None = None,
        prompt: str | None = None,
        mode: Literal["whole", "segments"] = "whole",
        timeout: float | None = None,
        **connection: Unpack[ConnectionOptions],
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
        options: dict[str, Any] = dict(connection)
        self._provider, _ = connect(dsn, api_key, base_url, options)
        if options:
            raise TypeError(f"unexpected arguments: {', '.join(sorted(options))}")

    def _args(self) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "model": self.model,
            "language": self.language,
            "prompt": self.prompt,
        }
        if self.timeout is not None:
            arguments["timeout"] = self.timeout
        return arguments

    def load_data(
        self,
        file: str | PathLike[str] | Sequence[str | PathLike[str]],
        extra_info: dict[str, Any] | None = None,
        **_: Any,
    ) -> list[Document]:
        """Transcribe one file or several (``fs=`` from SimpleDirectoryReader is not used)."""
        return [
            doc
            for path in _paths(file)
            for doc in self._documents(
                self._provider.transcribe(path, **self._args()), path, extra_info
            )
        ]

    async def aload_data(
        self,
        file: str | PathLike[str] | Sequence[str | PathLike[str]],
        extra_info: dict[str, Any] | None = None,
        **_: Any,
    ) -> list[Document]:
        """Async twin of :meth:`load_data`."""
        documents: list[Document] = []
        for path in _paths(file):
            transcript = await self._provider.atranscribe(path, **self._args())
            documents.extend(self._documents(transcript, path, extra_info))
        return documents

    def _documents(
        self, transcript: Transcription, path: Path, extra_info: dict[str, Any] | None
    ) -> Iterable[Document]:
        base = {
            **(extra_info or {}),
            "file_path": str(path),
            "file_name": path.name,
            "model": transcript.model,
            "language": transcript.language,
            "duration": transcript.duration,
        }
        hidden = {
            "excluded_embed_metadata_keys": list(_HIDDEN_METADATA),
            "excluded_llm_metadata_keys": list(_HIDDEN_METADATA),
        }
        if self.mode == "whole":
            segments = [
                {"id": s.id, "start": s.start, "end": s.end, "text": s.text}
                for s in transcript.segments
            ]
            yield Document(text=transcript.text, metadata={**base, "segments": segments}, **hidden)
            return
        for segment in transcript.segments:
            metadata = {**base, "segment": segment.id, "start": segment.start, "end": segment.end}
            yield Document(text=segment.text, metadata=metadata, **hidden)


def _paths(file: str | PathLike[str] | Sequence[str | PathLike[str]]) -> list[Path]:
    paths = [Path(file)] if isinstance(file, str | PathLike) else [Path(f) for f in file]
    if not paths:
        raise ValueError("file must name at least one audio file")
    return paths
