"""Import time: each package against its peer, every import in a fresh interpreter.

A user's first contact is ``import``; a module-level import of something heavy is paid on
every start of a script or a worker. Each round starts one fresh process per side (the
order flips every round) which times only its ``import`` statement, so interpreter start-up
and ``site`` do not dilute the ratio.
"""

from __future__ import annotations

import os
import subprocess
import sys

from bench.harness import Result, Sample, _result
from llamaswap_rig.paths import REPO_ROOT

# (table name, ours, peer): the statement a user writes first, against the peer's
PAIRS: tuple[tuple[str, str, str], ...] = (
    ("import llamaswap", "from llamaswap import LlamaSwapProvider", "import httpx"),
    (
        "import langchain_llamaswap",
        "from langchain_llamaswap import ChatLlamaSwap",
        "from langchain_openai import ChatOpenAI",
    ),
    (
        "import llama_index_llamaswap",
        "from llama_index_llamaswap import LlamaSwap",
        "from llama_index.llms.openai_like import OpenAILike",
    ),
)

_CHILD = (
    "import time\n"
    "w, c = time.perf_counter(), time.process_time()\n"
    "{statement}\n"
    "print(time.perf_counter() - w, time.process_time() - c)\n"
)


def _env() -> dict[str, str]:
    """This checkout first on the path, as for the bench process itself."""
    paths = [str(REPO_ROOT / "core"), str(REPO_ROOT)]
    if os.environ.get("PYTHONPATH"):
        paths.append(os.environ["PYTHONPATH"])
    return dict(os.environ, PYTHONPATH=os.pathsep.join(paths))


def time_import(statement: str, env: dict[str, str] | None = None) -> Sample:
    """Wall and CPU seconds of an import ``statement`` in a fresh interpreter."""
    out = subprocess.run(
        [sys.executable, "-c", _CHILD.format(statement=statement)],
        capture_output=True,
        text=True,
        env=env or _env(),
        check=True,
        timeout=120,
    ).stdout.split()
    return float(out[0]), float(out[1])


def compare_imports(name: str, ours: str, peer: str, rounds: int) -> Result:
    """Alternating fresh-process imports of ``ours`` and ``peer``."""
    env = _env()
    time_import(ours, env)  # warm the OS file cache for both sides
    time_import(peer, env)
    a: list[Sample] = []
    b: list[Sample] = []
    for r in range(rounds):
        if r % 2 == 0:
            a.append(time_import(ours, env))
            b.append(time_import(peer, env))
        else:
            b.append(time_import(peer, env))
            a.append(time_import(ours, env))
    return _result(
        name,
        (ours, peer),
        "import in a fresh process",
        1,
        (a, b),
        "",
    )


def import_results(rounds: int) -> list[Result]:
    return [compare_imports(name, ours, peer, rounds) for name, ours, peer in PAIRS]
