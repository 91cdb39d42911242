"""Generate the llama-swap YAML config the rig runs with.

Chat and embedding models are the real llama.cpp server (launched through xllamacpp by
``upstreams/llamacpp.py``); ``sd``, ``fake-model``, ``rerank``, ``tts`` and ``whisper`` are
the stdlib test upstreams; ``asr`` (PocketSphinx) and ``espeak`` (eSpeak NG) are real speech
models from ``.rig/pylib``; ``broken`` fails to start on purpose. Paths are absolute and the
interpreter is ``sys.executable`` so the config works whatever the current directory of
llama-swap is.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from llamaswap_rig.paths import MODELS_DIR, PYLIB_DIR, UPSTREAMS_DIR

CHAT_GGUF = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
EMBED_GGUF = "all-minilm-l6-v2-f16.gguf"
RUN_ENV = "LLAMASWAP_RIG_RUN"  # set in every upstream's env so leftovers can be found

# Models whose cmd uses ${PORT}; llama-swap hands ports out from startPort in sorted-ID order.
PORTED_MODELS = (
    "embed",
    "fake-model",
    "faulty",
    "misbehaving",
    "qwen",
    "qwen-b",
    "rerank",
    "scripted",
    "sd",
    "tts",
    "whisper",
    # real audio models (issue 13): eSpeak NG and PocketSphinx from .rig/pylib
    "asr",
    "espeak",
)
# Only in rigs that name them: the misbehaving test upstream stays out of the shared rig.
OPT_IN_MODELS = ("misbehaving",)
ALL_MODELS = (*(m for m in PORTED_MODELS if m not in OPT_IN_MODELS), "broken")
CHAT_MODELS = ("qwen", "qwen-b")


def required_files(models_dir: Path = MODELS_DIR) -> list[Path]:
    """Files the real llama.cpp models need; the runner checks them before starting."""
    return [
        models_dir / CHAT_GGUF,
        models_dir / EMBED_GGUF,
        UPSTREAMS_DIR / "llamacpp.py",
        PYLIB_DIR / "xllamacpp",
    ]


def _q(path: Path) -> str:
    return shlex.quote(str(path))


def upstream_ports(start_port: int, models: tuple[str, ...] = ALL_MODELS) -> dict[str, int]:
    """The port llama-swap will give each ported model (sorted IDs, consecutive from start)."""
    ported = sorted(m for m in models if m in PORTED_MODELS)
    return {model: start_port + i for i, model in enumerate(ported)}


def build_config(
    *,
    start_port: int,
    api_keys: list[str] | None = None,
    run_id: str = "manual",
    models: tuple[str, ...] = ALL_MODELS,
    python: str = sys.executable,
    models_dir: Path = MODELS_DIR,
    health_check_timeout: int = 60,
    chat_ctx: int = 2048,
    chat_b_ctx: int = 1024,
    image_delay: float = 0.0,
    fast_tokens: int = 8,
    fast_tps: float = 1000.0,
    fast_load: float = 0.0,
    ttl: int = 0,
    groups: bool = False,
    concurrency_limits: Mapping[str, int] | None = None,
    peers: Mapping[str, Mapping[str, Any]] | None = None,
    send_loading_state: bool = False,
    fake_model_bin: str | None = None,
    management_extras: bool = False,
) -> dict[str, Any]:
    """Build the config dict.

    ``models`` picks a subset (a small rig for process-lifecycle tests). ``groups=True`` keeps
    ``sd``/``fake-model``/``embed`` resident beside the chat model (one ``chat`` swap group and
    one non-exclusive ``aux`` group); the default is llama-swap's one-model-at-a-time.
    ``concurrency_limits`` sets ``concurrencyLimit`` per model id (load tests);
    ``peers`` is written as llama-swap's ``peers:`` section, e.g.
    ``{"far": {"proxy": "http://127.0.0.1:PORT", "apiKey": "...", "models": [...]}}``.
    ``send_loading_state=True`` sets the global ``sendLoadingState`` (load progress streamed).
    ``fake_model_bin`` is llama-swap's own ``cmd/fake-model`` built from the same source; without
    it ``fake-model`` is the stdlib stand-in ``upstreams/fast.py``.
    ``management_extras=True`` adds :data:`RIG_PROFILES` and turns the performance monitor
    on (``/metrics``), for the profile and metrics tests.
    """
    py = shlex.quote(os.path.abspath(python))  # abspath, not resolve: keep the venv symlink
    llamacpp = f"{py} {_q(UPSTREAMS_DIR / 'llamacpp.py')} --port ${{PORT}}"
    env = [f"{RUN_ENV}={run_id}", "PYTHONUNBUFFERED=1"]

    def local(cmd: str, **extra: Any) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "cmd": cmd,
            "proxy": "http://127.0.0.1:${PORT}",
            "checkEndpoint": "/health",
            "env": list(env),
        }
        if ttl:
            entry["ttl"] = ttl
        entry.update(extra)
        return entry

    if fake_model_bin:
        fake_model = local(
            f"{_q(Path(fake_model_bin))} -listen 127.0.0.1:${{PORT}} -tokens {fast_tokens} "
            f"-tps {fast_tps} -load {fast_load}s",
            name="llama-swap fake-model",
            description="llama-swap's own deterministic lorem-ipsum test upstream "
            "(cmd/fake-model); not a language model",
            metadata={"kind": "test-upstream"},
        )
    else:  # no Go build: the stdlib stand-in speaks the same API
        fake_model = local(
            f"{py} {_q(UPSTREAMS_DIR / 'fast.py')} --port ${{PORT}} --tokens {fast_tokens} "
            f"--tps {fast_tps} --load {fast_load}",
            name="Fast test upstream",
            description="Deterministic lorem-ipsum chat test upstream (stands in for "
            "llama-swap cmd/fake-model)",
            metadata={"kind": "test-upstream"},
        )
    all_models: dict[str, dict[str, Any]] = {
        "qwen": local(
            f"{llamacpp} --model {_q(models_dir / CHAT_GGUF)} --ctx-size {chat_ctx}",
            aliases=["coder"],
            name="Qwen2.5 Coder 0.5B",
            description="Qwen2.5-Coder-0.5B-Instruct Q4_K_M on llama.cpp (xllamacpp)",
            metadata={"family": "qwen2.5", "params": "0.5B", "quant": "Q4_K_M", "rig": True},
            capabilities={"in": ["text"], "out": ["text"], "tools": True, "context": chat_ctx},
        ),
        "qwen-b": local(
            f"{llamacpp} --model {_q(models_dir / CHAT_GGUF)} --ctx-size {chat_b_ctx}",
            name="Qwen2.5 Coder 0.5B (second slot)",
            description="Same weights as qwen, a separate model ID so requests force a swap",
            metadata={"family": "qwen2.5", "params": "0.5B", "quant": "Q4_K_M", "slot": "b"},
            capabilities={"in": ["text"], "out": ["text"], "tools": True, "context": chat_b_ctx},
        ),
        "embed": local(
            f"{llamacpp} --model {_q(models_dir / EMBED_GGUF)} --embedding --pooling mean "
            "--ctx-size 512",
            name="all-MiniLM-L6-v2",
            description="sentence-transformers all-MiniLM-L6-v2 F16, 384-dim embeddings",
            metadata={"family": "bert", "dimensions": 384, "rig": True},
            capabilities={"in": ["text"], "context": 512},
        ),
        "sd": local(
            f"{py} {_q(UPSTREAMS_DIR / 'image.py')} --port ${{PORT}} --delay {image_delay}",
            name="Image test upstream",
            description="Deterministic PNG test upstream speaking sd.cpp's server API "
            "(not a diffusion model)",
            metadata={"kind": "test-upstream", "api": "stable-diffusion.cpp"},
            capabilities={"in": ["text"], "out": ["image"]},
        ),
        "fake-model": fake_model,
        "faulty": local(
            f"{py} {_q(UPSTREAMS_DIR / 'fast.py')} --port ${{PORT}} --tokens {fast_tokens} "
            f"--tps {fast_tps} --load {fast_load}",
            name="Fault-injecting chat test upstream",
            description="Deterministic lorem-ipsum chat test upstream with fault hooks "
            "(__die_now__, __die_midstream__, __upstream_500__); not a language model",
            metadata={"kind": "test-upstream"},
        ),
        "scripted": local(
            f"{py} {_q(UPSTREAMS_DIR / 'scripted.py')} --port ${{PORT}}",
            name="Scripted tool-calling test upstream",
            description="Answers by a fixed script (tool calls, echo, reasoning); "
            "not a language model",
            metadata={"kind": "test-upstream"},
            capabilities={"in": ["text"], "out": ["text"], "tools": True},
        ),
        "misbehaving": local(
            f"{py} {_q(UPSTREAMS_DIR / 'misbehaving.py')} --port ${{PORT}}",
            name="Misbehaving test upstream",
            description="Answers with broken bodies on purpose (bad-input tests); not a model",
            metadata={"kind": "test-upstream"},
        ),
        # audio test upstreams (issue 13): the tone code of upstreams/tones.py, not speech models
        "tts": local(
            f"{py} {_q(UPSTREAMS_DIR / 'tts.py')} --port ${{PORT}}",
            name="Speech test upstream",
            description="Deterministic tone-code WAV test upstream speaking an OpenAI-style "
            "speech API (not a text-to-speech model)",
            metadata={"kind": "test-upstream", "api": "openai-speech"},
            capabilities={"in": ["text"], "out": ["audio"]},
        ),
        "whisper": local(
            f"{py} {_q(UPSTREAMS_DIR / 'whisper.py')} --port ${{PORT}} "
            "--inference-path /v1/audio/transcriptions",
            name="Whisper test upstream",
            description="Reads the speech test upstream's tone code back, speaking whisper.cpp "
            "server's API (not a speech-to-text model)",
            metadata={"kind": "test-upstream", "api": "whisper.cpp"},
            capabilities={"in": ["audio"], "out": ["text"]},
        ),
        "rerank": local(
            f"{py} {_q(UPSTREAMS_DIR / 'rerank.py')} --port ${{PORT}}",
            name="Rerank test upstream",
            description="Deterministic BM25 word-overlap scores in llama-server's /v1/rerank "
            "API (not a reranker model)",
            metadata={"kind": "test-upstream", "api": "llama-server rerank"},
            capabilities={"in": ["text"], "reranker": True},
        ),
        # real audio models (issue 13): they speak and hear English, so tests assert on content
        "asr": local(
            f"{py} {_q(UPSTREAMS_DIR / 'asr.py')} --port ${{PORT}} "
            "--inference-path /v1/audio/transcriptions",
            name="PocketSphinx US English",
            description="CMU PocketSphinx 5 speech-to-text (US English acoustic and language "
            "model from its wheel), speaking whisper.cpp server's API",
            metadata={"kind": "real-model", "api": "whisper.cpp", "engine": "pocketsphinx"},
            capabilities={"in": ["audio"], "out": ["text"]},
        ),
        "espeak": local(
            f"{py} {_q(UPSTREAMS_DIR / 'espeak.py')} --port ${{PORT}}",
            name="eSpeak NG",
            description="eSpeak NG text-to-speech (formant synthesizer), 16 kHz WAV, speaking "
            "an OpenAI-style speech API",
            metadata={"kind": "real-model", "api": "openai-speech", "engine": "espeak-ng"},
            capabilities={"in": ["text"], "out": ["audio"]},
        ),
        "broken": {
            "cmd": "/bin/false",
            "proxy": "http://127.0.0.1:9",
            "unlisted": True,
            "env": list(env),
            "description": "fails to start on purpose (500 load error)",
        },
    }
    unknown = set(models) - set(all_models)
    if unknown:
        raise ValueError(f"unknown rig model IDs: {sorted(unknown)}")
    for mid, limit in (concurrency_limits or {}).items():
        if mid not in models:
            raise ValueError(f"concurrency_limits names a model not in this rig: {mid!r}")
        all_models[mid]["concurrencyLimit"] = int(limit)
    cfg: dict[str, Any] = {
        "healthCheckTimeout": health_check_timeout,
        "logLevel": "debug",
        "logToStdout": "both",
        "startPort": start_port,
        "unloadTimeout": 10,
        "performance": {"disabled": True},
        "models": {mid: all_models[mid] for mid in sorted(models)},
    }
    if api_keys:
        cfg["apiKeys"] = list(api_keys)
    if send_loading_state:
        cfg["sendLoadingState"] = True
    if peers:
        cfg["peers"] = {
            str(pid): {k: list(v) if k == "models" else v for k, v in spec.items()}
            for pid, spec in peers.items()
        }
    if groups:
        chat = [m for m in CHAT_MODELS if m in models]
        aux = [m for m in models if m not in CHAT_MODELS]
        cfg["groups"] = {}
        if chat:
            cfg["groups"]["chat"] = {"swap": True, "exclusive": False, "members": chat}
        if aux:
            cfg["groups"]["aux"] = {"swap": False, "exclusive": False, "members": aux}
    if management_extras:
        cfg.update(_management_extras(models))
    return cfg


def dump_config(config: dict[str, Any]) -> str:
    class _NoAliases(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:
            return True

    return yaml.dump(config, Dumper=_NoAliases, sort_keys=False, width=1000)


def write_config(path: Path, config: dict[str, Any] | None = None, **kwargs: Any) -> Path:
    """Write ``config`` (or ``build_config(**kwargs)``) as YAML to ``path``."""
    if config is None:
        config = build_config(**kwargs)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dump_config(config))
    return path


# -- profiles and the performance monitor (issue 13: management extras) --------------------

RIG_PROFILES: dict[str, dict[str, Any]] = {
    "coding": {
        "description": "pins 'assistant' to the Qwen coder",
        "pins": {"assistant": "qwen"},
    },
    "offline": {
        "description": "pins 'assistant' to llama-swap's fake-model test upstream",
        "pins": {"assistant": "fake-model"},
    },
}
"""llama-swap ``profiles:``: each pins the pseudo-model ``assistant`` to a rig model."""


def _management_extras(models: tuple[str, ...]) -> dict[str, Any]:
    """Profiles whose targets this rig runs, and ``performance`` on (``/metrics`` samples)."""
    profiles = {
        name: spec
        for name, spec in RIG_PROFILES.items()
        if all(target in models for target in spec["pins"].values())
    }
    extras: dict[str, Any] = {"performance": {"disabled": False}}
    if profiles:
        extras["profiles"] = profiles
    return extras
