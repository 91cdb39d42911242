"""Speech *test upstream* speaking an OpenAI-style speech API. NOT a text-to-speech model.

``POST /v1/audio/speech`` (``{"model", "input", "voice", "response_format"}``) answers with a
deterministic 16 kHz WAV (or raw ``pcm``) that encodes the input in the tone code of
:mod:`llamaswap_rig.upstreams.tones`, which the whisper test upstream reads back; no words
are synthesized. ``GET``/``POST /v1/audio/voices`` list the voices (each a loudness). Where
a real server would default to mp3, this one defaults to wav (it has no mp3 encoder) and
answers 400 for mp3, opus, aac and flac. An input containing ``__fail_speech__`` answers
500, for error-path tests.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # rig/, when run as a script
from llamaswap_rig.upstreams._base import UpstreamHandler, UpstreamServer, serve
from llamaswap_rig.upstreams.tones import encode_wav, pcm_bytes

NAME = "speech test upstream (OpenAI-style speech API; not a text-to-speech model)"
VOICES = {"tone": 0.5, "soft": 0.2, "loud": 0.9}  # voice -> amplitude
DEFAULT_VOICE = "tone"
FORMATS = {"wav": "audio/wav", "pcm": "audio/pcm"}
FAIL_WORD = "__fail_speech__"


def _error(status: int, message: str, param: str | None = None) -> dict[str, Any]:
    kind = "invalid_request_error" if status < 500 else "server_error"
    return {"error": {"message": message, "type": kind, "param": param, "code": status}}


class Handler(UpstreamHandler):
    tag = "tts"
    server_version = "llamaswap-rig-tts/1"
    name = NAME
    voices: tuple[str, ...] = tuple(VOICES)
    default_voice = DEFAULT_VOICE

    def synthesize(self, text: str, voice: str, fmt: str) -> bytes:
        """``text`` as ``fmt`` (wav or pcm); the real-model ``espeak`` upstream overrides this."""
        amplitude = VOICES[voice]
        return encode_wav(text, amplitude) if fmt == "wav" else pcm_bytes(text, amplitude)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path == "/health":
            self._send_json(200, {"status": "ok", "upstream": self.name})
        elif parts.path == "/v1/audio/voices":
            model = (parse_qs(parts.query).get("model") or [""])[0]
            self._send_json(200, {"voices": list(self.voices), "model": model})
        else:
            self._send_json(404, _error(404, f"no route {parts.path}"))

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if path == "/v1/audio/voices":
            self._send_json(200, {"voices": list(self.voices)})
            return
        if path != "/v1/audio/speech":
            self._send_json(404, _error(404, f"no route {path}"))
            return
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError as exc:
            self._send_json(400, _error(400, f"invalid JSON body: {exc}"))
            return
        if not isinstance(body, dict):
            self._send_json(400, _error(400, "body must be a JSON object"))
            return
        text = body.get("input")
        if not isinstance(text, str) or not text.strip():
            self._send_json(400, _error(400, "input is required and must not be empty", "input"))
            return
        voice = body.get("voice") or self.default_voice
        if voice not in self.voices:
            message = f"voice {voice!r} not found; available: {', '.join(self.voices)}"
            self._send_json(400, _error(400, message, "voice"))
            return
        fmt = body.get("response_format") or "wav"
        if fmt not in FORMATS:
            message = f"response_format {fmt!r} is not supported here; use wav or pcm"
            self._send_json(400, _error(400, message, "response_format"))
            return
        if FAIL_WORD in text:
            self._send_json(500, _error(500, f"synthesis failed: input contains {FAIL_WORD}"))
            return
        data = self.synthesize(text, voice, fmt)
        self.send_response(200)
        self.send_header("Content-Type", FORMATS[fmt])
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=NAME)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    return serve(UpstreamServer((args.host, args.port), Handler), tag="tts", name=NAME)


if __name__ == "__main__":
    raise SystemExit(main())
