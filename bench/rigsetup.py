"""The rig the bench runs against: fast test upstreams, resident side by side.

The stock rig config is adjusted here, in this process only, in two ways the bench needs:

- ``concurrencyLimit`` is raised on the chat model, because llama-swap admits only 10
  requests per model by default and the concurrency case keeps 32 in flight;
- a third model, ``fake-long``, is the fast upstream answering 512 words unpaced, so the
  per-chunk cost of streaming (the stream guard's scanner, LangChain's chunk handling)
  shows. It listens on a fixed free port rather than ``${PORT}``, so the ports llama-swap
  hands the rig's own models (and the runner's bookkeeping of them) stay as they were.
"""

from __future__ import annotations

import copy
import shlex
from collections.abc import Callable
from typing import Any
from unittest import mock

from llamaswap_rig import config as rigconfig
from llamaswap_rig.runner import Rig, free_port_block

MODELS = ("fake-model", "sd")
CHAT_CONCURRENCY = 256
LONG_MODEL = "fake-long"
LONG_TOKENS = 512


def _long_model(fast: dict[str, Any], port: int) -> dict[str, Any]:
    """``fake-model``'s entry, answering ``LONG_TOKENS`` words unpaced on a fixed port."""
    entry = copy.deepcopy(fast)
    words = shlex.split(entry["cmd"])
    # the stdlib stand-in (--port, --tps 0 = unpaced) or Go's cmd/fake-model (-listen; its
    # -tps 0 means 1 token/s, so a rate far above what the client can take stands for unpaced)
    flags = {
        "--port": str(port),
        "--tokens": str(LONG_TOKENS),
        "--tps": "0",
        "-listen": f"127.0.0.1:{port}",
        "-tokens": str(LONG_TOKENS),
        "-tps": "1000000",
    }
    for i, word in enumerate(words[:-1]):
        if word in flags:
            words[i + 1] = flags[word]
    entry["cmd"] = shlex.join(words)
    entry["proxy"] = f"http://127.0.0.1:{port}"
    entry["name"] = "Fast test upstream, long answers"
    entry.pop("concurrencyLimit", None)
    return entry


def adjust(config: dict[str, Any], *, long_port: int | None = None) -> dict[str, Any]:
    """Apply the bench adjustments to a config ``build_config`` made."""
    models: dict[str, Any] = config.get("models", {})
    for model_id, entry in models.items():
        if model_id == "fake-model":
            entry["concurrencyLimit"] = CHAT_CONCURRENCY
    if long_port is not None and "fake-model" in models:
        models[LONG_MODEL] = _long_model(models["fake-model"], long_port)
        for group in config.get("groups", {}).values():
            if "fake-model" in group.get("members", []):
                group["members"].append(LONG_MODEL)
    return config


def start_rig(*, verbose: bool = False) -> Rig:
    """A started rig: ``fake-model`` (8 words at 100 000 words/s), ``fake-long``, ``sd``."""
    original: Callable[..., dict[str, Any]] = rigconfig.build_config
    long_port = free_port_block(1, low=32000, high=33000)  # outside the rig's range

    def build(**kwargs: Any) -> dict[str, Any]:
        return adjust(original(**kwargs), long_port=long_port)

    rig = Rig(
        models=MODELS,
        groups=True,
        fast_tokens=8,
        fast_tps=100000,
        name="bench",
        verbose=verbose,
    )
    with mock.patch.object(rigconfig, "build_config", build):
        rig.start()
    return rig
