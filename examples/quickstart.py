"""Quickstart: list llama-swap's models, swap one in, ask it through LangChain, draw an image.

Run with ``make demo``. Without ``LLAMASWAP_DSN`` it starts the project's rig (llama-swap in
front of a real llama.cpp server running Qwen2.5-Coder-0.5B, plus an image *test upstream*)
and stops it afterwards. With ``LLAMASWAP_DSN=llama-swap://[key@]host:port`` it talks to
your own llama-swap instead; pick its models with ``LLAMASWAP_DEMO_MODEL`` and
``LLAMASWAP_DEMO_IMAGE_MODEL``.
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import ExitStack
from pathlib import Path

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from langchain_llamaswap import ChatLlamaSwap
from llamaswap import LlamaSwapProvider

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "out"


def main() -> int:
    """Run the quickstart; returns the process exit code."""
    chat_model = os.environ.get("LLAMASWAP_DEMO_MODEL", "qwen")
    image_model = os.environ.get("LLAMASWAP_DEMO_IMAGE_MODEL", "sd")
    with ExitStack() as stack:
        dsn = os.environ.get("LLAMASWAP_DSN")
        if not dsn:
            sys.path.insert(0, str(REPO / "rig"))
            from llamaswap_rig.runner import Rig

            rig = stack.enter_context(Rig(name="demo"))
            dsn = rig.dsn
            print(f"started the rig ({rig.flavour} llama-swap) at {rig.base_url}")
        provider = stack.enter_context(LlamaSwapProvider(dsn))

        print("\nmodels llama-swap serves:")
        for model in provider.list_models():
            print(f"  {model.id:<12} {model.state:<9} {model.name}")

        started = time.perf_counter()
        provider.load(chat_model)
        print(f"\nloaded {chat_model!r} in {time.perf_counter() - started:.1f}s; running:")
        for running in provider.running():
            print(f"  {running.model:<12} {running.state}")

        # A LangChain chain on ChatLlamaSwap: same address, same pooled provider.
        model = ChatLlamaSwap(dsn=dsn, model=chat_model, max_tokens=60, temperature=0)
        prompt = ChatPromptTemplate.from_messages(
            [("system", "Answer in one short sentence."), ("human", "{question}")]
        )
        chain = prompt | model | StrOutputParser()
        question = "What does a model-swapping proxy do?"
        print(f"\nQ: {question}\nA: {chain.invoke({'question': question})}")
        print("streamed: ", end="", flush=True)
        for piece in chain.stream({"question": "Name one benefit of running models locally."}):
            print(piece, end="", flush=True)
        print()
        print(
            f"running, seen through model.provider: {[r.model for r in model.provider.running()]}"
        )

        result = provider.generate_image(
            "a red fox in the snow", model=image_model, size="128x128", seed=7
        )
        OUT.mkdir(exist_ok=True)
        saved = result[0].save(OUT / f"fox{result[0].extension}")
        print(f"\nimage: {len(result[0].data)} bytes of {result[0].mime_type} saved to {saved}")

        provider.unload()
        print(f"unloaded everything; running now: {[r.model for r in provider.running()]}")
    print_next_steps()
    return 0


def print_next_steps() -> None:
    """Where to go after the demo: the stored notebooks and the command line."""
    print("\nnext:")
    print("  notebooks, stored with the outputs of a real run (`make notebooks` runs them again):")
    for notebook in sorted((REPO / "notebooks").glob("*.ipynb")):
        print(f"    {notebook.relative_to(REPO)}")
    print("  the command line, against a llama-swap that stays up (yours, or the rig):")
    print("    PYTHONPATH=rig .venv/bin/python -m llamaswap_rig.runner   # the rig; prints its DSN")
    print("    LLAMASWAP_DSN=<its DSN> .venv/bin/llamaswap models   # load, chat, image, ...")


if __name__ == "__main__":
    raise SystemExit(main())
