"""Shared pytest setup: the llama-swap rig fixtures come from ``llamaswap_rig.pytest_plugin``."""

import os

from hypothesis import settings

pytest_plugins = ["llamaswap_rig.pytest_plugin"]

# Property tests explore new examples locally; in CI they replay a fixed, derandomized set so
# a run is repeatable (a failure found locally is kept in .hypothesis/ and fixed, not flaked).
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
    settings.load_profile("ci")
