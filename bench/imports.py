"""Import time: each package against its peer, every import in a fresh interpreter.

A user's first contact is ``import``; a module-level import of something heavy is paid on
every start of a script or a worker. Each round starts one fresh process per side (the
order flips every round) which times only its ``import`` statement, so interpreter start-up
and ``site`` do not dilute the ratio.

Both sides import from bytecode, as a user's would: a wheel install ships its ``.pyc`` and
an editable checkout writes ``__pycache__`` on its first import, while this checkout is
usually on ``PYTHONPATH`` (perhaps with ``PYTHONDONTWRITEBYTECODE`` set), which would
compile our modules from source in every process and the peers' not at all. So the children
run without ``PYTHONDONTWRITEBYTECODE`` and with ``PYTHONPYCACHEPREFIX`` pointing at a
temporary directory of the bench's own (removed afterwards, the source tree stays clean),
and one untimed import of each side writes the bytecode both then read. The cheap
``llamaswap``/``httpx`` pair gets more rounds: a few milliseconds of scheduling noise
weigh more against 150 ms than against 2 s.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

from bench.harness import Result, Sample, _result
from llamaswap_rig.paths import REPO_ROOT

# (table name, ours, peer, rounds multiplier): the statement a user writes first, against
# the peer's
PAIRS: tuple[tuple[str, str, str, int], ...] = (
    ("import llamaswap", "from llamaswap import LlamaSwapProvider", "import httpx", 3),
    (
        "import langchain_llamaswap",
        "from langchain_llamaswap import ChatLlamaSwap",
        "from langchain_openai import ChatOpenAI",
        1,
    ),
    (
        "import llama_index_llamaswap",
        "from llama_index_llamaswap import LlamaSwap",
        "from llama_index.llms.openai_like import OpenAILike",
        1,
    ),
)

_CHILD = (
    "import time\n"
    "w, c = time.perf_counter(), time.process_time()\n"
    "{statement}\n"
    "print(time.perf_counter() - w, time.process_time() - c)\n"
)


def child_env(pycache: str) -> dict[str, str]:
    """This checkout first on the path, bytecode written to and read from ``pycache``."""
    paths = [str(REPO_ROOT / "core"), str(REPO_ROOT)]
    if os.environ.get("PYTHONPATH"):
        paths.append(os.environ["PYTHONPATH"])
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(PYTHONPATH=os.pathsep.join(paths), PYTHONPYCACHEPREFIX=pycache)
    return env


def time_import(statement: str, env: dict[str, str]) -> Sample:
    """Wall and CPU seconds of an import ``statement`` in a fresh interpreter."""
    out = subprocess.run(
        [sys.executable, "-c", _CHILD.format(statement=statement)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=120,
    ).stdout.split()
    return float(out[0]), float(out[1])


def compare_imports(name: str, ours: str, peer: str, rounds: int, env: dict[str, str]) -> Result:
    """Alternating fresh-process imports of ``ours`` and ``peer``."""
    time_import(ours, env)  # writes both sides' bytecode, warms the OS file cache
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
    with tempfile.TemporaryDirectory(prefix="bench-pycache-") as pycache:
        env = child_env(pycache)
        return [
            compare_imports(name, ours, peer, rounds * times, env)
            for name, ours, peer, times in PAIRS
        ]
