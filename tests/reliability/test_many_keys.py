"""Thousands of tenant keys in one process (issue 15): the shared-provider cache is bounded.

A service that builds a ``ChatLlamaSwap`` per request with the tenant's key must not keep
a pool (and its sockets) per key forever: after thousands of keyed instances have come
and gone, this process's open fds and memory are where they were after the first few
hundred.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable

import pytest

from langchain_llamaswap import ChatLlamaSwap
from llamaswap import shared_provider
from llamaswap.shared import MAX_IDLE_PROVIDERS
from llamaswap_rig.runner import Rig

pytestmark = pytest.mark.integration

MODEL = "fake-model"
KEYS = 2000
WARM = 300


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def test_thousands_of_keyed_instances_keep_fds_and_memory_flat(
    rig_factory: Callable[..., Rig],
) -> None:
    rig = rig_factory(models=(MODEL,))

    def one_tenant(i: int) -> None:
        chat = ChatLlamaSwap(model=MODEL, dsn=rig.dsn, api_key=f"tenant-key-{i}")
        assert MODEL in [m.id for m in chat.provider.list_models()]  # opens a connection

    for i in range(WARM):
        one_tenant(i)
    gc.collect()
    fds, rss = open_fds(), rss_mb()
    for i in range(WARM, KEYS):
        one_tenant(i)
    gc.collect()
    # Before the cache was bounded: one socket and ~0.8 MB per key (1,700 fds, 1.4 GB here).
    assert open_fds() <= fds + 5
    assert rss_mb() - rss < 60


def test_a_provider_in_use_stays_shared_while_idle_ones_are_dropped() -> None:
    held = shared_provider("llama-swap://tenant.invalid:8080", api_key="kept")
    for i in range(MAX_IDLE_PROVIDERS * 3):
        shared_provider("llama-swap://tenant.invalid:8080", api_key=f"other-{i}")
    again = shared_provider("llama-swap://tenant.invalid:8080", api_key="kept")
    assert again is held  # something still used it, so it was never replaced
