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

The garbage collector is paused during the timed import and run once, timed apart, right
after it. Its passes fall where allocation counts cross a threshold, whoever allocates: a
full pass over what LangChain has loaded costs ~0.1 s, and ``langchain_openai`` alone stops
just short of one, so any import on top of it would pay the peer's pass (docs/bench.md).
Each side's row is its import's own work; the ``+ gc`` row adds one full collection of
everything the import left, the same single pass on both sides.
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
    "import gc, time\n"
    "gc.disable()\n"
    "w, c = time.perf_counter(), time.process_time()\n"
    "{statement}\n"
    "w1, c1 = time.perf_counter(), time.process_time()\n"
    "gc.enable()\n"
    "gc.collect()\n"
    "w2, c2 = time.perf_counter(), time.process_time()\n"
    "print(w1 - w, c1 - c, w2 - w1, c2 - c1)\n"
)


def child_env(pycache: str) -> dict[str, str]:
    """This checkout first on the path, bytecode written to and read from ``pycache``."""
    paths = [str(REPO_ROOT / "core"), str(REPO_ROOT)]
    if os.environ.get("PYTHONPATH"):
        paths.append(os.environ["PYTHONPATH"])
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(PYTHONPATH=os.pathsep.join(paths), PYTHONPYCACHEPREFIX=pycache)
    return env


def time_import(statement: str, env: dict[str, str]) -> tuple[Sample, Sample]:
    """Wall and CPU seconds of an import ``statement`` in a fresh interpreter (collector
    paused), and of the one full collection run right after it."""
    out = subprocess.run(
        [sys.executable, "-c", _CHILD.format(statement=statement)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=120,
    ).stdout.split()
    return (float(out[0]), float(out[1])), (float(out[2]), float(out[3]))


def compare_imports(
    name: str, ours: str, peer: str, rounds: int, env: dict[str, str]
) -> list[Result]:
    """Alternating fresh-process imports of ``ours`` and ``peer``: the import, and the
    import plus the full collection after it."""
    time_import(ours, env)  # writes both sides' bytecode, warms the OS file cache
    time_import(peer, env)
    a: list[tuple[Sample, Sample]] = []
    b: list[tuple[Sample, Sample]] = []
    for r in range(rounds):
        if r % 2 == 0:
            a.append(time_import(ours, env))
            b.append(time_import(peer, env))
        else:
            b.append(time_import(peer, env))
            a.append(time_import(ours, env))

    def settled(runs: list[tuple[Sample, Sample]]) -> list[Sample]:
        return [(i[0] + g[0], i[1] + g[1]) for i, g in runs]

    return [
        _result(
            name,
            (ours, peer),
            "import in a fresh process, collector paused",
            1,
            ([i for i, _ in a], [i for i, _ in b]),
            "",
        ),
        _result(
            f"{name} + gc",
            (ours, peer),
            "import, then one full gc.collect()",
            1,
            (settled(a), settled(b)),
            "",
        ),
    ]


def import_results(rounds: int) -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="bench-pycache-") as pycache:
        env = child_env(pycache)
        return [
            result
            for name, ours, peer, times in PAIRS
            for result in compare_imports(name, ours, peer, rounds * times, env)
        ]
