"""Speech and transcription through llama-swap on REAL models: eSpeak NG and PocketSphinx.

``espeak`` synthesizes English and ``asr`` recognizes it with PocketSphinx's general US English
model, so transcripts are imperfect (about 60 % of the words of the sentences below come back,
measured; see docs/rig-models.md). The tests assert what a user relies on and what holds with
that margin: a transcript is recognisably the sentence that was spoken, and an audio loader over
recordings feeds a retriever that finds the right one. Exact transcripts are asserted only on
the deterministic ``tts``/``whisper`` test upstreams (test_audio_rig.py).
"""

from __future__ import annotations

import io
import re
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.vectorstores import InMemoryVectorStore

from langchain_llamaswap import LlamaSwapAudioLoader, LlamaSwapEmbeddings
from llamaswap import LlamaSwapProvider
from llamaswap_rig.pytest_plugin import _start, _stop
from llamaswap_rig.runner import Rig

SENTENCES = [
    "The weather is sunny and warm today.",
    "Please open the kitchen window.",
    "My brother bought a new red car.",
    "We will meet at the library tomorrow morning.",
    "The children are playing football in the park.",
    "She drinks a cup of coffee every day.",
    "Turn off the lights before you leave the house.",
    "The train to London leaves at seven o'clock.",
    "I like to read books about history.",
    "The dog is sleeping under the table.",
]
FUNCTION_WORDS = frozenset(
    {"a", "about", "an", "and", "are", "at", "before", "every", "i", "in", "is", "my"}
    | {"of", "off", "on", "she", "the", "to", "we", "will", "you"}
)


def content_words(text: str) -> set[str]:
    return set(re.findall(r"[a-z']+", text.lower())) - FUNCTION_WORDS


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    # one resident group: speaking, hearing and embedding do not swap each other out
    started = _start("real-audio", models=("espeak", "asr", "embed"), groups=True, verbose=False)
    yield started
    _stop("real-audio")


@pytest.fixture
def provider(rig: Rig) -> Iterator[LlamaSwapProvider]:
    with LlamaSwapProvider(rig.dsn) as p:
        yield p


def test_espeak_speaks_16khz_wav_in_each_listed_voice(provider: LlamaSwapProvider) -> None:
    voices = provider.voices("espeak")
    assert "en-us+klatt3" in voices and len(voices) > 1
    short = provider.speech("Hello.", model="espeak", format="wav")
    longer = provider.speech(
        "Hello. This sentence takes a good deal longer to say.", model="espeak"
    )
    for speech in (short, longer):
        assert speech.mime_type == "audio/wav"
        with wave.open(io.BytesIO(speech.data)) as wav:
            assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 16000)
    assert short.duration is not None and longer.duration is not None
    assert longer.duration > 2 * short.duration  # the audio is the text, not a fixed clip
    other = provider.speech("Hello.", model="espeak", voice=voices[-1], format="wav")
    assert other.data != short.data


def test_a_transcript_is_recognisably_the_sentence_that_was_spoken(
    provider: LlamaSwapProvider,
) -> None:
    """Each transcript shares more content words with its sentence than with any other."""
    recognised = 0
    heard_words = said_words = 0
    for index, sentence in enumerate(SENTENCES):
        speech = provider.speech(sentence, model="espeak", format="wav")
        transcript = provider.transcribe(speech, model="asr", language="en")
        assert transcript.text.strip()
        heard = content_words(transcript.text)
        overlaps = [len(heard & content_words(s)) for s in SENTENCES]
        best = max(overlaps)
        recognised += overlaps[index] == best and overlaps.count(best) == 1
        heard_words += overlaps[index]
        said_words += len(content_words(sentence))
    # measured: 9 of 10 recognised (one ties on "car"), half of the content words recovered
    assert recognised >= 7, f"only {recognised} of {len(SENTENCES)} sentences recognised"
    assert heard_words >= said_words // 3


def test_segments_follow_the_pauses_between_spoken_sentences(
    provider: LlamaSwapProvider,
) -> None:
    speech = provider.speech(
        "The weather is sunny and warm today. Turn off the lights before you leave the house.",
        model="espeak",
    )
    transcript = provider.transcribe(speech, model="asr")
    assert len(transcript.segments) == 2
    first, second = transcript.segments
    assert 0 <= first.start < first.end < second.start < second.end
    assert speech.duration is not None and second.end <= speech.duration
    assert content_words(first.text) & content_words(SENTENCES[0])
    assert content_words(second.text) & content_words(SENTENCES[6])


RECORDINGS = {
    "weather.wav": SENTENCES[0],
    "library.wav": SENTENCES[3],
    "coffee.wav": SENTENCES[5],
}


def test_audio_loader_over_real_speech_feeds_a_retriever_that_finds_the_recording(
    rig: Rig, provider: LlamaSwapProvider, tmp_path: Path
) -> None:
    paths = [
        provider.speech(text, model="espeak", format="wav").save(tmp_path / name)
        for name, text in RECORDINGS.items()
    ]
    docs = LlamaSwapAudioLoader(paths, model="asr", dsn=rig.dsn, language="en").load()
    assert [Path(d.metadata["source"]).name for d in docs] == list(RECORDINGS)
    store = InMemoryVectorStore(LlamaSwapEmbeddings(model="embed", dsn=rig.dsn))
    store.add_documents(docs)
    for question, expected in [
        ("What is the weather like today?", "weather.wav"),
        ("Where do we meet tomorrow?", "library.wav"),
        ("How much coffee does she drink?", "coffee.wav"),
    ]:
        (best,) = store.similarity_search(question, k=1)
        assert Path(best.metadata["source"]).name == expected, (question, best.page_content)
