"""Speech-to-text upstream on a REAL model: CMU PocketSphinx, behind whisper.cpp server's API.

The request and response handling is the whisper test upstream's (multipart ``file``;
``json``, ``text``, ``verbose_json``, ``srt``, ``vtt``; whisper.cpp's 200 ``{"error"}`` for
unreadable audio; 16 kHz mono 16-bit WAV only, as whisper.cpp's server without
``--convert``); only the decoding differs: PocketSphinx 5 with the US English acoustic model,
language model and dictionary its wheel ships (installed into ``.rig/pylib`` by
``install_models.py``). Words come back lower case without punctuation, and a pause of
``SEGMENT_GAP_S`` or more starts a new segment. ``language`` and ``prompt`` are accepted and
ignored: the model knows US English only.
"""

from __future__ import annotations

import argparse
import importlib
import re
import struct
import sys
import threading
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # rig/, when run as a script
from llamaswap_rig.paths import PYLIB_DIR
from llamaswap_rig.upstreams import whisper
from llamaswap_rig.upstreams._base import UpstreamServer, serve
from llamaswap_rig.upstreams.tones import RATE, Segment

NAME = "asr upstream (whisper.cpp server API; PocketSphinx US English model)"
FRAMES_PER_S = 100  # PocketSphinx's default frame rate
SEGMENT_GAP_S = 0.3
_ALTERNATE = re.compile(r"\(\d+\)$")  # "read(2)": the dictionary's second pronunciation


def load_decoder() -> Any:
    """A PocketSphinx decoder on the wheel's default US English model, at 16 kHz."""
    if str(PYLIB_DIR) not in sys.path:
        sys.path.insert(0, str(PYLIB_DIR))
    try:
        pocketsphinx = importlib.import_module("pocketsphinx")
    except ImportError as exc:
        raise SystemExit(
            f"asr upstream: cannot import pocketsphinx from {PYLIB_DIR} ({exc}); "
            "run `python rig/llamaswap_rig/install_models.py` first"
        ) from exc
    return pocketsphinx.Decoder(samprate=RATE, loglevel="FATAL")


class Handler(whisper.Handler):
    tag = "asr"
    server_version = "llamaswap-rig-asr/1"
    decoder: Any = None
    lock = threading.Lock()  # one decoder, one utterance at a time

    def segments(self, samples: list[int]) -> list[Segment]:
        pcm = struct.pack(f"<{len(samples)}h", *samples)
        with self.lock:
            self.decoder.start_utt()
            self.decoder.process_raw(pcm, full_utt=True)
            self.decoder.end_utt()
            words = [
                (_ALTERNATE.sub("", seg.word), seg.start_frame, seg.end_frame)
                for seg in self.decoder.seg()
                if not seg.word.startswith(("<", "[", "+"))  # <s>, <sil>, [NOISE], ...
            ]
        out: list[Segment] = []
        group: list[tuple[str, int, int]] = []
        for word in words:
            if group and (word[1] - group[-1][2]) / FRAMES_PER_S >= SEGMENT_GAP_S:
                out.append(_segment(group))
                group = []
            group.append(word)
        if group:
            out.append(_segment(group))
        return out


def _segment(words: list[tuple[str, int, int]]) -> Segment:
    text = " ".join(word for word, _, _ in words)
    return Segment(text, words[0][1] / FRAMES_PER_S, (words[-1][2] + 1) / FRAMES_PER_S)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=NAME)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--inference-path", default="/inference")
    args = parser.parse_args(argv)
    whisper.Settings.inference_path = args.inference_path
    Handler.decoder = load_decoder()  # before listening: /health answers once it can decode
    return serve(UpstreamServer((args.host, args.port), Handler), tag="asr", name=NAME)


if __name__ == "__main__":
    raise SystemExit(main())
