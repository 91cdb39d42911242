"""Speech in and out: transcription, text-to-speech and voice requests and their results.

llama-swap routes ``POST /v1/audio/transcriptions`` (multipart, the model in the ``model``
form field) to a whisper.cpp style server, ``POST /v1/audio/speech`` (JSON) to an
OpenAI-style speech server, and ``GET /v1/audio/voices?model=`` to the same. Transcriptions
ask for ``verbose_json`` so segments come back when the server has them; a server that only
sends ``{"text"}`` (or plain text) still gives a :class:`Transcription`, without segments.
Speech comes back as bytes with a MIME type, saved to a file in one call.
"""

from __future__ import annotations

import base64
import io
import wave
from collections.abc import Mapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

from llamaswap.errors import ResponseDecodeError

SPEECH_FORMATS: dict[str, str] = {
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}
"""The ``response_format`` values of the OpenAI speech API, and the MIME type of each."""

_EXTENSIONS = {
    "audio/mpeg": ".mp3",
    "audio/ogg": ".ogg",
    "audio/aac": ".aac",
    "audio/flac": ".flac",
    "audio/wav": ".wav",
    "audio/pcm": ".pcm",
    "audio/webm": ".webm",
    "audio/mp4": ".m4a",
}
# Content types servers send for the same things.
_MIME_ALIASES = {
    "audio/x-wav": "audio/wav",
    "audio/wave": "audio/wav",
    "audio/vnd.wave": "audio/wav",
    "audio/mp3": "audio/mpeg",
    "audio/x-flac": "audio/flac",
    "audio/opus": "audio/ogg",
    "audio/l16": "audio/pcm",
}


@dataclass(frozen=True)
class SpeechResult:
    """Spoken audio: its bytes and what they are.

    Attributes:
        data: the encoded audio file (WAV, MP3, ...), or raw samples for ``pcm``.
        mime_type: from the bytes' signature, else the server's content type.
        model: the model id the request named.
        text: the text that was spoken.
        voice: the voice asked for, if any.
    """

    data: bytes = field(repr=False)
    mime_type: str
    model: str = ""
    text: str = field(default="", repr=False)
    voice: str | None = None

    @property
    def extension(self) -> str:
        """A file extension for :attr:`mime_type` (``.wav``, ``.mp3``, ...)."""
        return _EXTENSIONS.get(self.mime_type, ".bin")

    @property
    def duration(self) -> float | None:
        """Seconds of audio for a WAV answer (read from its header); ``None`` otherwise."""
        if self.mime_type != "audio/wav":
            return None
        try:
            with wave.open(io.BytesIO(self.data)) as wav:
                frames: int = wav.getnframes()
                rate: int = wav.getframerate()
                return frames / float(rate)
        except (wave.Error, EOFError, ZeroDivisionError):
            return None

    def save(self, path: str | PathLike[str]) -> Path:
        """Write the bytes to ``path`` (a directory gets ``speech<ext>``); return the path."""
        target = Path(path)
        if target.is_dir():
            target = target / f"speech{self.extension}"
        target.write_bytes(self.data)
        return target

    def to_base64(self) -> str:
        """The audio bytes as base64 text."""
        return base64.b64encode(self.data).decode("ascii")

    def _repr_html_(self) -> str:
        # An audio player in a notebook, for the formats browsers play.
        if self.mime_type not in ("audio/wav", "audio/mpeg", "audio/ogg", "audio/flac"):
            return f"<code>{self!r}</code>"
        return f'<audio controls src="data:{self.mime_type};base64,{self.to_base64()}"></audio>'

    def __repr__(self) -> str:
        return (
            f"SpeechResult(mime_type={self.mime_type!r}, bytes={len(self.data)}, "
            f"model={self.model!r}, voice={self.voice!r})"
        )


@dataclass(frozen=True)
class TranscriptSegment:
    """One timed stretch of a transcription.

    Attributes:
        id: the segment's index as the server numbered it.
        start: where it starts, in seconds from the beginning of the audio.
        end: where it ends, in seconds.
        text: what was said in it.
    """

    id: int
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Transcription:
    """What a transcription call returned.

    Attributes:
        text: the whole transcript.
        segments: timed segments, when the server sent them (``verbose_json``).
        language: the language the server reports, if it does.
        duration: the audio's length in seconds, if the server reports it.
        model: the model id the request named.
    """

    text: str
    segments: tuple[TranscriptSegment, ...] = ()
    language: str | None = None
    duration: float | None = None
    model: str = ""

    def __str__(self) -> str:
        return self.text


AudioInput = bytes | bytearray | memoryview | str | PathLike[str] | SpeechResult
"""What :meth:`~llamaswap.LlamaSwapProvider.transcribe` takes: bytes, a path, or speech."""


def read_audio(audio: AudioInput) -> tuple[bytes, str]:
    """The audio bytes and a file name for the upload; errors say what to pass instead."""
    if isinstance(audio, SpeechResult):
        data, name = audio.data, f"speech{audio.extension}"
    elif isinstance(audio, bytes | bytearray | memoryview):
        data = bytes(audio)
        name = f"audio{_EXTENSIONS.get(sniff_audio(data) or '', '.bin')}"
    elif isinstance(audio, str | PathLike):
        path = Path(audio)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ValueError(
                f"cannot read the audio file {str(path)!r} ({exc.strerror or exc}); "
                "pass the path of a readable audio file, or the audio bytes"
            ) from None
        name = path.name
    else:
        raise TypeError(
            f"audio must be bytes, a file path or a SpeechResult, got {type(audio).__name__}"
        )
    if not data:
        raise ValueError("the audio is empty (0 bytes); pass a WAV, MP3, FLAC or OGG file")
    return data, name


def build_transcription_form(
    *,
    model: str,
    language: str | None = None,
    prompt: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """The plain multipart fields of a transcription request (the file goes separately)."""
    _check_model(model, "a speech-to-text (whisper) model")
    form = {"model": model, "response_format": "verbose_json"}
    if language is not None:
        if not isinstance(language, str) or not language.strip():
            raise ValueError(f"language must be a language code such as 'en', got {language!r}")
        form["language"] = language.strip()
    if prompt is not None:
        if not isinstance(prompt, str):
            raise ValueError(f"prompt must be text (words to expect), got {prompt!r}")
        form["prompt"] = prompt
    for key, value in (extra or {}).items():
        if key in form or key == "file":
            raise ValueError(f"extra may not override {key!r}; pass it as its own argument")
        form[key] = value if isinstance(value, str) else _form_value(key, value)
    return form


def _form_value(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise ValueError(f"extra[{key!r}] must be text, a number or a bool, got {value!r}")


def parse_transcription(body: Any, *, model: str, url: str = "") -> Transcription:
    """Read a ``json`` or ``verbose_json`` transcription answer."""
    if isinstance(body, str):  # response_format=text, or a server that ignores the format
        return Transcription(text=body.strip(), model=model)
    if not isinstance(body, Mapping) or not isinstance(body.get("text"), str):
        raise ResponseDecodeError(
            "the transcription server did not return an object with a 'text' string",
            url=url,
            body=repr(body)[:200],
        )
    segments = tuple(
        _segment(item, index, url) for index, item in enumerate(body.get("segments") or [])
    )
    language = body.get("language")
    duration = body.get("duration")
    return Transcription(
        text=body["text"].strip(),
        segments=segments,
        language=language if isinstance(language, str) and language else None,
        duration=float(duration)
        if isinstance(duration, int | float) and not isinstance(duration, bool)
        else None,
        model=model,
    )


def _segment(item: Any, index: int, url: str) -> TranscriptSegment:
    if (
        not isinstance(item, Mapping)
        or not isinstance(item.get("text"), str)
        or not _is_number(item.get("start"))
        or not _is_number(item.get("end"))
    ):
        raise ResponseDecodeError(
            f"segment {index} of the transcription lacks 'text', 'start' or 'end'",
            url=url,
            body=repr(item)[:200],
        )
    seg_id = item.get("id")
    return TranscriptSegment(
        id=seg_id if isinstance(seg_id, int) and not isinstance(seg_id, bool) else index,
        start=float(item["start"]),
        end=float(item["end"]),
        text=item["text"].strip(),
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def build_speech_request(
    text: str,
    *,
    model: str,
    voice: str | None = None,
    format: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Validate the arguments and build the JSON body of a speech request."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("text must be a non-empty string: the words to speak")
    _check_model(model, "a text-to-speech model")
    body: dict[str, Any] = {"model": model, "input": text}
    if voice is not None:
        if not isinstance(voice, str) or not voice.strip():
            raise ValueError(f"voice must name a voice (see voices(model)), got {voice!r}")
        body["voice"] = voice
    if format is not None:
        body["response_format"] = check_format(format)
    for key, value in (extra or {}).items():
        if key in body:
            raise ValueError(f"extra may not override {key!r}; pass it as its own argument")
        body[key] = value
    return body


def check_format(format: str) -> str:
    """A known speech ``response_format`` (``wav``, ``mp3``, ...), lower-cased."""
    name = format.strip().lower() if isinstance(format, str) else format
    if name not in SPEECH_FORMATS:
        raise ValueError(
            f"unknown audio format {format!r}; use one of: {', '.join(SPEECH_FORMATS)}"
        )
    return str(name)


def speech_from_response(
    data: bytes,
    content_type: str,
    *,
    model: str,
    text: str,
    voice: str | None,
    format: str | None,
    url: str = "",
) -> SpeechResult:
    """Wrap a speech answer; refuse one that holds JSON or nothing instead of audio."""
    declared = content_type.split(";", 1)[0].strip().lower()
    if not data:
        raise ResponseDecodeError("the speech server returned no audio (an empty body)", url=url)
    if declared in ("application/json", "text/plain", "text/html"):
        raise ResponseDecodeError(
            f"the speech server answered {declared} instead of audio: "
            f"{data[:120].decode('utf-8', 'replace')!r}",
            url=url,
            body=data[:200].decode("utf-8", "replace"),
        )
    mime = (
        sniff_audio(data)
        or (_MIME_ALIASES.get(declared, declared) if declared.startswith("audio/") else None)
        or (SPEECH_FORMATS[format] if format else None)
        or "application/octet-stream"
    )
    return SpeechResult(data=data, mime_type=mime, model=model, text=text, voice=voice)


def sniff_audio(data: bytes) -> str | None:
    """The MIME type from an audio file's magic bytes, or ``None`` if unknown."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "audio/wav"
    if data.startswith(b"fLaC"):
        return "audio/flac"
    if data.startswith(b"OggS"):
        return "audio/ogg"
    if data.startswith(b"ID3") or data[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return "audio/mpeg"
    if data[:2] in (b"\xff\xf1", b"\xff\xf9"):
        return "audio/aac"
    if data[4:8] == b"ftyp":
        return "audio/mp4"
    if data.startswith(b"\x1a\x45\xdf\xa3"):
        return "audio/webm"
    return None


def parse_voices(body: Any, *, url: str = "") -> list[str]:
    """Voice names from ``{"voices": [...]}`` or a bare list (names or objects with an id)."""
    items = body.get("voices") if isinstance(body, Mapping) else body
    if not isinstance(items, list):
        raise ResponseDecodeError(
            "the speech server did not return a 'voices' list", url=url, body=repr(body)[:200]
        )
    names: list[str] = []
    for index, item in enumerate(items):
        if isinstance(item, str):
            names.append(item)
            continue
        keys = ("id", "voice_id", "name")
        found = (
            next((item[k] for k in keys if isinstance(item.get(k), str)), None)
            if isinstance(item, Mapping)
            else None
        )
        if found is None:
            raise ResponseDecodeError(
                f"voice {index} in the answer is neither a name nor an object with an id",
                url=url,
                body=repr(item)[:200],
            )
        names.append(found)
    return names


def _check_model(model: str, kind: str) -> None:
    if not isinstance(model, str) or not model.strip():
        raise ValueError(f"model must name {kind} configured in llama-swap (see list_models())")
