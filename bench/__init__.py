"""Client overhead, measured as ratios against the nearest peer in the same run.

Run from the repository root: ``python -m bench`` (or ``make bench``). See ``docs/bench.md``.
"""
