"""Micro-benchmarks: each module runs as ``python -m benchmarks.NAME`` and prints its ratios."""
