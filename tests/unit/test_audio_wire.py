"""Audio requests on the wire (transcriptions, speech, voices), pinned offline."""

from __future__ import annotations

import io
import json
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from llamaswap import (
    APIError,
    LlamaSwapProvider,
    NotFoundError,
    ResponseDecodeError,
    SpeechResult,
    Transcription,
    TranscriptSegment,
    UnsupportedFeatureError,
)
from llamaswap_rig.upstreams.whisper import parse_form

KEY = "sk-audio-secret-7"


def tiny_wav() -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(b"\x00\x01" * 1600)
    return buffer.getvalue()


Route = Callable[[httpx.Request], httpx.Response] | httpx.Response


class Recorder:
    def __init__(self, routes: dict[tuple[str, str], Route]) -> None:
        self.routes = routes
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        route = self.routes.get((request.method, request.url.path))
        if route is None:
            return httpx.Response(404, text="404 page not found")
        return route(request) if callable(route) else route


def provider_for(rec: Recorder) -> LlamaSwapProvider:
    return LlamaSwapProvider(
        f"llama-swap://{KEY}@127.0.0.1:18080",
        http_client=httpx.Client(transport=httpx.MockTransport(rec)),
        async_http_client=httpx.AsyncClient(transport=httpx.MockTransport(rec)),
    )


def form_of(request: httpx.Request) -> tuple[dict[str, str], dict[str, bytes]]:
    return parse_form(request.headers["content-type"], request.read())


VERBOSE = {
    "task": "transcribe",
    "language": "english",
    "duration": 2.5,
    "text": " Hello there. General Kenobi.",
    "segments": [
        {"id": 0, "text": " Hello there.", "start": 0.0, "end": 1.1, "tokens": [1]},
        {"id": 1, "text": " General Kenobi.", "start": 1.3, "end": 2.4, "tokens": [2]},
    ],
}


# -- transcribe ------------------------------------------------------------------------------


def test_transcribe_posts_multipart_with_model_file_and_verbose_json() -> None:
    rec = Recorder({("POST", "/v1/audio/transcriptions"): httpx.Response(200, json=VERBOSE)})
    audio = tiny_wav()
    result = provider_for(rec).transcribe(audio, model="whisper", language="en", prompt="Kenobi")

    request = rec.requests[0]
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert request.headers["authorization"] == f"Bearer {KEY}"
    fields, files = form_of(request)
    # llama-swap reads the model from the form's "model" field (modelPostFormRoutes).
    assert fields == {
        "model": "whisper",
        "response_format": "verbose_json",
        "language": "en",
        "prompt": "Kenobi",
    }
    assert files == {"file": audio}
    assert b'filename="audio.wav"' in request.content
    assert b"Content-Type: audio/wav" in request.content

    assert result == Transcription(
        text="Hello there. General Kenobi.",
        segments=(
            TranscriptSegment(id=0, start=0.0, end=1.1, text="Hello there."),
            TranscriptSegment(id=1, start=1.3, end=2.4, text="General Kenobi."),
        ),
        language="english",
        duration=2.5,
        model="whisper",
    )
    assert str(result) == "Hello there. General Kenobi."


def test_transcribe_leaves_out_unset_options_and_reads_plain_json() -> None:
    answer = httpx.Response(200, json={"text": " hi"})
    rec = Recorder({("POST", "/v1/audio/transcriptions"): answer})
    result = provider_for(rec).transcribe(tiny_wav(), model="whisper")
    fields, _ = form_of(rec.requests[0])
    assert fields == {"model": "whisper", "response_format": "verbose_json"}
    assert result.text == "hi"
    assert result.segments == ()
    assert result.language is None


def test_transcribe_reads_a_plain_text_answer() -> None:
    rec = Recorder(
        {
            ("POST", "/v1/audio/transcriptions"): httpx.Response(
                200, text="just text\n", headers={"content-type": "text/plain; charset=utf-8"}
            )
        }
    )
    assert provider_for(rec).transcribe(tiny_wav(), model="w").text == "just text"


def test_transcribe_sends_a_path_under_its_own_name_and_a_speech_result(tmp_path: Path) -> None:
    rec = Recorder({("POST", "/v1/audio/transcriptions"): httpx.Response(200, json={"text": "x"})})
    path = tmp_path / "meeting.wav"
    path.write_bytes(tiny_wav())
    provider = provider_for(rec)
    provider.transcribe(path, model="w")
    provider.transcribe(str(path), model="w")
    provider.transcribe(SpeechResult(data=tiny_wav(), mime_type="audio/wav"), model="w")
    names = [r.content.split(b'filename="', 1)[1].split(b'"', 1)[0] for r in rec.requests]
    assert names == [b"meeting.wav", b"meeting.wav", b"speech.wav"]
    assert all(form_of(r)[1]["file"] == tiny_wav() for r in rec.requests)


def test_transcribe_extra_fields_are_sent_and_may_not_override() -> None:
    rec = Recorder({("POST", "/v1/audio/transcriptions"): httpx.Response(200, json={"text": "x"})})
    provider = provider_for(rec)
    provider.transcribe(tiny_wav(), model="w", extra={"temperature": 0.2, "translate": True})
    fields, _ = form_of(rec.requests[0])
    assert fields["temperature"] == "0.2"
    assert fields["translate"] == "true"
    with pytest.raises(ValueError, match="may not override 'model'"):
        provider.transcribe(tiny_wav(), model="w", extra={"model": "other"})


@pytest.mark.parametrize(
    ("audio", "message"),
    [
        (b"", "the audio is empty"),
        ("/no/such/file.wav", "cannot read the audio file '/no/such/file.wav'"),
        (12, "audio must be bytes, a file path or a SpeechResult"),
    ],
)
def test_transcribe_bad_audio_says_what_to_pass(audio: Any, message: str) -> None:
    rec = Recorder({})
    with pytest.raises((ValueError, TypeError), match=message):
        provider_for(rec).transcribe(audio, model="w")
    assert rec.requests == []  # nothing sent


def test_transcribe_needs_a_model() -> None:
    with pytest.raises(ValueError, match="speech-to-text"):
        provider_for(Recorder({})).transcribe(tiny_wav(), model=" ")


def test_whisper_error_in_a_200_answer_raises_with_its_reason() -> None:
    body = {"error": "failed to read audio data"}
    rec = Recorder({("POST", "/v1/audio/transcriptions"): httpx.Response(200, json=body)})
    with pytest.raises(APIError, match="refused the audio: failed to read audio data"):
        provider_for(rec).transcribe(b"not audio", model="whisper")


def test_transcription_segment_without_times_is_a_decode_error() -> None:
    body = {"text": "x", "segments": [{"id": 0, "text": "x"}]}
    rec = Recorder({("POST", "/v1/audio/transcriptions"): httpx.Response(200, json=body)})
    with pytest.raises(ResponseDecodeError, match=r"segment 0 .* lacks"):
        provider_for(rec).transcribe(tiny_wav(), model="w")


def test_unknown_model_is_not_found_with_the_known_ids() -> None:
    models = {"object": "list", "data": [{"id": "whisper", "object": "model"}]}
    rec = Recorder(
        {
            ("POST", "/v1/audio/transcriptions"): httpx.Response(
                404, json={"src": "llama-swap", "error": "model not found"}
            ),
            ("GET", "/v1/models"): httpx.Response(200, json=models),
        }
    )
    with pytest.raises(NotFoundError) as info:
        provider_for(rec).transcribe(tiny_wav(), model="wisper")
    assert list(info.value.available) == ["whisper"]


def test_a_llama_swap_without_the_audio_routes_is_unsupported() -> None:
    rec = Recorder({})  # Go's bare 404 for every path
    provider = provider_for(rec)
    with pytest.raises(UnsupportedFeatureError, match="POST /v1/audio/transcriptions"):
        provider.transcribe(tiny_wav(), model="w")
    with pytest.raises(UnsupportedFeatureError, match="POST /v1/audio/speech"):
        provider.speech("hi", model="tts")
    with pytest.raises(UnsupportedFeatureError, match="GET /v1/audio/voices"):
        provider.voices("tts")


# -- speech ----------------------------------------------------------------------------------


def test_speech_posts_json_and_returns_bytes_with_mime_type(tmp_path: Path) -> None:
    wav = tiny_wav()
    rec = Recorder(
        {
            ("POST", "/v1/audio/speech"): httpx.Response(
                200, content=wav, headers={"content-type": "audio/wav"}
            )
        }
    )
    result = provider_for(rec).speech("Hello", model="tts", voice="soft", format="WAV")
    assert json.loads(rec.requests[0].content) == {
        "model": "tts",
        "input": "Hello",
        "voice": "soft",
        "response_format": "wav",
    }
    assert result.data == wav
    assert result.mime_type == "audio/wav"
    assert result.extension == ".wav"
    assert result.duration == pytest.approx(0.1)
    assert (result.model, result.text, result.voice) == ("tts", "Hello", "soft")
    assert result.save(tmp_path / "a.wav").read_bytes() == wav
    assert result.save(tmp_path) == tmp_path / "speech.wav"
    assert "Hello" not in repr(result)  # the text can be long; the repr stays short


def test_speech_without_options_sends_only_model_and_input() -> None:
    rec = Recorder(
        {("POST", "/v1/audio/speech"): httpx.Response(200, content=b"ID3\x04rest-of-mp3")}
    )
    result = provider_for(rec).speech("Hi", model="tts")
    assert json.loads(rec.requests[0].content) == {"model": "tts", "input": "Hi"}
    assert result.mime_type == "audio/mpeg"  # sniffed: no content type was sent


def test_speech_pcm_takes_its_mime_type_from_the_format() -> None:
    rec = Recorder({("POST", "/v1/audio/speech"): httpx.Response(200, content=b"\x00\x01" * 8)})
    assert provider_for(rec).speech("Hi", model="tts", format="pcm").mime_type == "audio/pcm"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"text": "  "}, "text must be a non-empty string"),
        ({"format": "ogg"}, "unknown audio format 'ogg'; use one of: mp3, opus, aac, flac, wav"),
        ({"voice": ""}, "voice must name a voice"),
        ({"model": ""}, "text-to-speech model"),
    ],
)
def test_speech_bad_input_says_what_to_fix(kwargs: dict[str, Any], message: str) -> None:
    rec = Recorder({})
    args: dict[str, Any] = {"text": "hi", "model": "tts", **kwargs}
    with pytest.raises(ValueError, match=message):
        provider_for(rec).speech(args.pop("text"), **args)
    assert rec.requests == []


def test_speech_answered_with_json_is_a_decode_error() -> None:
    # llama-swap's own cmd/simple-responder answers {"message": "ok"}: that is no audio.
    rec = Recorder({("POST", "/v1/audio/speech"): httpx.Response(200, json={"message": "ok"})})
    with pytest.raises(ResponseDecodeError, match="application/json instead of audio"):
        provider_for(rec).speech("hi", model="tts")


def test_speech_server_refusal_carries_its_reason_without_the_key() -> None:
    body = {"error": {"message": f"voice 'x' not found (key {KEY})", "type": "invalid"}}
    rec = Recorder({("POST", "/v1/audio/speech"): httpx.Response(400, json=body)})
    with pytest.raises(APIError) as info:
        provider_for(rec).speech("hi", model="tts", voice="x")
    assert info.value.status_code == 400
    assert "voice 'x' not found" in str(info.value)
    assert KEY not in str(info.value) and KEY not in info.value.body


# -- voices ----------------------------------------------------------------------------------


def test_voices_gets_with_the_model_in_the_query() -> None:
    body = {"voices": ["af_bella", {"id": "am_adam"}, {"name": "bf_emma"}]}
    rec = Recorder({("GET", "/v1/audio/voices"): httpx.Response(200, json=body)})
    assert provider_for(rec).voices("kokoro/v1") == ["af_bella", "am_adam", "bf_emma"]
    # llama-swap reads a GET route's model from ?model= (modelGetRoutes).
    assert rec.requests[0].url.params["model"] == "kokoro/v1"
    assert rec.requests[0].url.raw_path == b"/v1/audio/voices?model=kokoro%2Fv1"


def test_voices_of_a_bare_list_and_bad_answers() -> None:
    rec = Recorder({("GET", "/v1/audio/voices"): httpx.Response(200, json=["a", "b"])})
    assert provider_for(rec).voices("tts") == ["a", "b"]
    rec = Recorder({("GET", "/v1/audio/voices"): httpx.Response(200, json={"voices": [3]})})
    with pytest.raises(ResponseDecodeError, match="voice 0 in the answer"):
        provider_for(rec).voices("tts")


async def test_async_twins_send_the_same_requests() -> None:
    wav = tiny_wav()
    rec = Recorder(
        {
            ("POST", "/v1/audio/transcriptions"): httpx.Response(200, json=VERBOSE),
            ("POST", "/v1/audio/speech"): httpx.Response(200, content=wav),
            ("GET", "/v1/audio/voices"): httpx.Response(200, json={"voices": ["v"]}),
        }
    )
    provider = provider_for(rec)
    transcript = await provider.atranscribe(wav, model="whisper", language="en")
    speech = await provider.aspeech("Hi", model="tts", format="wav")
    assert await provider.avoices("tts") == ["v"]
    assert [s.text for s in transcript.segments] == ["Hello there.", "General Kenobi."]
    assert form_of(rec.requests[0])[0]["language"] == "en"
    assert speech.data == wav and speech.mime_type == "audio/wav"
    assert json.loads(rec.requests[1].content)["response_format"] == "wav"
    await provider.aclose()
