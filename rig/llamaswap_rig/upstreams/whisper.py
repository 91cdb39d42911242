"""Transcription *test upstream* speaking whisper.cpp server's API. NOT a speech model.

It answers whisper.cpp server's inference route (``--inference-path``, default
``/inference``; the rig sets ``/v1/audio/transcriptions`` as llama-swap users do) with a
multipart form: ``file`` plus ``response_format`` (``json``, ``text``, ``verbose_json``,
``srt``, ``vtt``), ``language``, ``prompt`` and ``temperature``. It only understands the
tone code the speech test upstream writes (:mod:`llamaswap_rig.upstreams.tones`), decoding
the samples back to text, one segment per sentence with its times. Like whisper.cpp it
answers a missing file or unreadable audio with 200 and ``{"error": ...}``. ``prompt`` is
accepted and ignored (whisper.cpp uses it to steer spelling).
"""

from __future__ import annotations

import argparse
import sys
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # rig/, when run as a script
from llamaswap_rig.upstreams._base import UpstreamHandler, UpstreamServer, serve
from llamaswap_rig.upstreams.tones import RATE, Segment, decode_segments, read_wav

NAME = "whisper test upstream (whisper.cpp server API; not a speech model)"
FORMATS = ("json", "text", "verbose_json", "srt", "vtt")
# whisper.cpp reports the language by its full name in verbose_json.
LANGUAGES = {"en": "english", "de": "german", "fr": "french", "es": "spanish", "auto": "english"}


class Settings:
    inference_path = "/inference"


def parse_form(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, bytes]]:
    """Plain fields and file parts of a multipart/form-data body."""
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode("latin-1") + body
    )
    fields: dict[str, str] = {}
    files: dict[str, bytes] = {}
    if not message.is_multipart():
        return fields, files
    for part in message.iter_parts():
        assert isinstance(part, Message)
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        if part.get_filename() is not None:
            files[name] = data
        else:
            fields[name] = data.decode("utf-8", "replace")
    return fields, files


def _stamp(seconds: float, sep: str) -> str:
    ms = round(seconds * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def render(fmt: str, segments: list[Segment], language: str, duration: float) -> Any:
    """The answer in ``fmt``: a JSON object, or text for text/srt/vtt."""
    text = "".join(f" {seg.text}" for seg in segments)
    if fmt == "json":
        return {"text": text}
    if fmt == "text":
        return text.strip() + "\n"
    if fmt == "srt":
        return "".join(
            f"{i + 1}\n{_stamp(seg.start, ',')} --> {_stamp(seg.end, ',')}\n{seg.text}\n\n"
            for i, seg in enumerate(segments)
        )
    if fmt == "vtt":
        return "WEBVTT\n\n" + "".join(
            f"{_stamp(seg.start, '.')} --> {_stamp(seg.end, '.')}\n{seg.text}\n\n"
            for seg in segments
        )
    return {
        "task": "transcribe",
        "language": language,
        "duration": duration,
        "text": text,
        "segments": [
            {
                "id": i,
                "text": f" {seg.text}",
                "start": seg.start,
                "end": seg.end,
                "tokens": [],
                "temperature": 0.0,
                "avg_logprob": 0.0,
                "no_speech_prob": 0.0,
            }
            for i, seg in enumerate(segments)
        ],
        "detected_language": language,
        "detected_language_probability": 1.0,
    }


class Handler(UpstreamHandler):
    tag = "whisper"
    server_version = "llamaswap-rig-whisper/1"

    def segments(self, samples: list[int]) -> list[Segment]:
        """What the 16 kHz samples say; the real-model ``asr`` upstream overrides this."""
        return decode_segments(samples)

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/health":
            self._send_json(200, {"status": "ok"})
        else:
            self._send_json(404, {"error": f"no route {path}"})

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if path != Settings.inference_path:
            self._send_json(404, {"error": f"no route {path}"})
            return
        fields, files = parse_form(self.headers.get("Content-Type", ""), raw)
        if "file" not in files:
            self._send_json(200, {"error": "no 'file' field in the request"})
            return
        fmt = fields.get("response_format") or "json"
        if fmt not in FORMATS:
            self._send_json(400, {"error": f"unsupported response_format {fmt!r}"})
            return
        try:
            samples = read_wav(files["file"])
        except ValueError as exc:
            self._send_json(200, {"error": f"failed to read audio data ({exc})"})
            return
        code = (fields.get("language") or "en").lower()
        language = LANGUAGES.get(code, code)
        answer = render(fmt, self.segments(samples), language, len(samples) / RATE)
        if isinstance(answer, str):
            data = answer.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        else:
            self._send_json(200, answer)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=NAME)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--inference-path", default="/inference")
    args = parser.parse_args(argv)
    Settings.inference_path = args.inference_path
    return serve(UpstreamServer((args.host, args.port), Handler), tag="whisper", name=NAME)


if __name__ == "__main__":
    raise SystemExit(main())
