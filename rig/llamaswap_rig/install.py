"""Install everything the rig needs: ``python rig/llamaswap_rig/install.py``.

Step 1 tries the pinned llama-swap (and cmd/fake-model) with ``go install``; a refusal is logged.
Step 2 builds llama-swap and cmd/fake-model from ``LLAMASWAP_SRC`` when it is set and no
``go install`` worked (cached by source content). Without either the rig falls back to the
Python double. Step 3 installs xllamacpp and the GGUF models. Each step prints one line; the
exit code is non-zero when a requested source build or the models step fails.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from llamaswap_rig import build_llama_swap, install_llama_swap


def main() -> int:
    started = time.monotonic()
    installed = install_llama_swap.install_llama_swap()
    src = build_llama_swap.source_from_env()
    fallback = (
        f"building from {build_llama_swap.SRC_ENV}={src} instead"
        if src
        else "the rig will use the Python double of llama-swap "
        f"(set {build_llama_swap.SRC_ENV} to a llama-swap checkout to build the real one)"
    )
    print(install_llama_swap.describe(installed, fallback), flush=True)
    if not installed.ok:
        if src is not None and build_llama_swap.main([]) != 0:
            return 1
    else:
        print(
            install_llama_swap.describe(
                install_llama_swap.install_fake_model(),
                "the rig uses upstreams/fast.py as fake-model",
            ),
            flush=True,
        )
    t0 = time.monotonic()
    try:
        from llamaswap_rig import install_models

        install_models.install_all()
    except Exception as exc:
        print(f"models: FAILED after {time.monotonic() - t0:.0f} s: {exc}", flush=True)
        return 1
    print(f"models: ok ({time.monotonic() - t0:.0f} s)", flush=True)
    print(f"install: done in {time.monotonic() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
