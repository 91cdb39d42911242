"""The llamaswap test rig: llama-swap in front of real llama.cpp and test upstreams.

Tests, the demo, notebooks and benchmarks all start the same rig from here.
Nothing in this folder is shipped in the ``llamaswap`` wheel.
"""
