"""Shared pytest setup: the llama-swap rig fixtures come from ``llamaswap_rig.pytest_plugin``."""

pytest_plugins = ["llamaswap_rig.pytest_plugin"]
